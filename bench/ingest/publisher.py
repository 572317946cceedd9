"""MQTT load generator for the ingest benchmark: N readings/s in one of three payload modes.

Run: .venv/bin/python -m bench.ingest.publisher --mode batch --rate 50000 --duration-s 10

Modes (the UNS JSON of DESIGN §5 and Sparkplug B, what ``workers.mqtt`` decodes):

- ``single``: one reading per message, ``{root}/{equipment path}/{signal}``,
  ``{"ts": <epoch ms>, "value": <float>}``;
- ``batch``: ``--batch-size`` readings per message, ``{root}/{equipment path}``,
  ``{"ts": <epoch ms>, "values": {"s000": <float>, …}}``;
- ``sparkplug``: one edge node ``spBv1.0/{group}/…/{node}`` with one device per equipment and
  ``--signals`` Double metrics per device (100 by default): NBIRTH + DBIRTHs (names and
  aliases) on connect and on a rebirth command, then DDATA with every metric by alias.

The topology (:func:`load_topology`) is ``--equipment`` equipment
``{enterprise}/{site}/{area}/{line}/cell{i}/eq{i}`` with ``--signals`` signals ``s000``…
each; the ingest benchmark registers the same equipment and signals as its data contract.
Timestamps are the publication time in epoch milliseconds, strictly increasing per message
stream (so the store's (signal, ts) key never collapses two readings), which lets the
benchmark measure publish-to-row latency. ``--rate 0`` publishes as fast as it can.

The MQTT side is :mod:`bench.ingest.raw_mqtt`, a minimal MQTT 3.1.1 client that writes
pre-encoded packets in chunks (paho caps a Python publisher near 10 000 messages/s on this
machine; this one reaches ~60 000 one-reading QoS 1 messages/s, see docs/simulator.md). QoS 1
(``--qos``, UNS modes) keeps at most 20 000 messages unacknowledged (back-pressure, no drops);
Sparkplug births and data are QoS 0 as the specification requires, its NDEATH Will QoS 1.

Use :func:`publish_load` from Python; the CLI prints the achieved rates.
"""

from __future__ import annotations

import argparse
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from bench.ingest.raw_mqtt import RawMqttClient
from workers.mqtt import sparkplug_b_pb2
from workers.mqtt.address import parse_broker_url
from workers.mqtt.sparkplug.model import DataType, MessageType
from workers.mqtt.sparkplug.topics import build_topic
from workers.simulator.sparkplug_node import (
    SPARKPLUG_QOS,
    WILL_QOS,
    DeviceSpec,
    MetricSpec,
    SparkplugEdgeNode,
)

__all__ = [
    "MODES",
    "JsonLoad",
    "LoadReport",
    "LoadTopology",
    "SparkplugLoad",
    "load_topology",
    "publish_load",
]

MODES: Final = ("single", "batch", "sparkplug")
CHUNK_MESSAGES: Final = 200  # messages published between two looks at the clock
VALUE_VARIANTS: Final = 64  # distinct value sets cycled through (cheap, not constant)
DRAIN_TIMEOUT_S: Final = 10.0


@dataclass(frozen=True)
class LoadTopology:
    """Where the load goes: UNS equipment paths and signal names, and the Sparkplug ids."""

    root: str
    equipment_paths: tuple[str, ...]
    signal_names: tuple[str, ...]  # the same names on every equipment
    sparkplug_group: str = "bench"
    sparkplug_node: str = "bench_node"

    def topic(self, equipment_path: str, leaf: str | None = None) -> str:
        parts = [part for part in (self.root.strip("/"), equipment_path, leaf) if part]
        return "/".join(parts)

    @property
    def device_ids(self) -> tuple[str, ...]:
        return tuple(path.rsplit("/", 1)[1] for path in self.equipment_paths)


def load_topology(
    *,
    root: str = "bench",
    equipment_count: int = 10,
    signals_per_equipment: int = 100,
    enterprise: str = "bench",
    site: str = "site1",
    area: str = "area1",
    line: str = "line1",
    sparkplug_group: str = "bench",
    sparkplug_node: str = "bench_node",
) -> LoadTopology:
    if equipment_count < 1 or signals_per_equipment < 1:
        raise ValueError("the load needs at least one equipment and one signal")
    paths = tuple(
        f"{enterprise}/{site}/{area}/{line}/cell{index:03d}/eq{index:03d}"
        for index in range(equipment_count)
    )
    names = tuple(f"s{index:03d}" for index in range(signals_per_equipment))
    return LoadTopology(root, paths, names, sparkplug_group, sparkplug_node)


@dataclass
class LoadReport:
    mode: str
    target_readings_per_s: float
    messages: int = 0
    readings: int = 0
    dropped: int = 0
    acknowledged: int = 0
    elapsed_s: float = 0.0
    first_ts_ms: int | None = None
    last_ts_ms: int | None = None
    drop_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def messages_per_s(self) -> float:
        return self.messages / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def readings_per_s(self) -> float:
        return self.readings / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def summary(self) -> str:
        target = (
            "as fast as possible"
            if self.target_readings_per_s == 0
            else f"target {self.target_readings_per_s:,.0f} readings/s"
        )
        return (
            f"{self.mode}: {self.readings_per_s:,.0f} readings/s, "
            f"{self.messages_per_s:,.0f} messages/s over {self.elapsed_s:.1f} s ({target}); "
            f"{self.messages:,} messages, {self.readings:,} readings, {self.dropped} dropped, "
            f"{self.acknowledged:,} acknowledged/sent"
            + (f" (drops: {self.drop_reasons})" if self.drop_reasons else "")
        )


def _value_text(variant: int, slot: int) -> str:
    return f"{20.0 + (variant * 7 + slot) % 1000 * 0.01:.2f}"


class _Stream:
    """One message stream: a topic and a payload with a strictly increasing timestamp."""

    __slots__ = ("last_ms", "topic")

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.last_ms = 0

    def stamp(self, now_ms: int) -> int:
        ts_ms = now_ms if now_ms > self.last_ms else self.last_ms + 1
        self.last_ms = ts_ms
        return ts_ms


class JsonLoad:
    def __init__(self, topology: LoadTopology, mode: str, batch_size: int) -> None:
        self.streams: list[_Stream] = []
        self.bodies: list[list[bytes]] = []  # per stream: payload tails, one per value variant
        names = topology.signal_names
        if mode == "single":
            self.readings_per_message = 1
            for path in topology.equipment_paths:
                for name in names:
                    self.streams.append(_Stream(topology.topic(path, name)))
                    self.bodies.append(
                        [
                            f',"value":{_value_text(variant, 0)}}}'.encode()
                            for variant in range(VALUE_VARIANTS)
                        ]
                    )
        else:
            if not 1 <= batch_size <= len(names):
                raise ValueError(f"batch size must be 1…{len(names)} (the signals per equipment)")
            self.readings_per_message = batch_size
            chunks = [
                names[start : start + batch_size] for start in range(0, len(names), batch_size)
            ]
            if len(chunks[-1]) != batch_size:
                raise ValueError(
                    f"--signals {len(names)} is not a multiple of --batch-size {batch_size}"
                )
            for path in topology.equipment_paths:
                for chunk in chunks:
                    self.streams.append(_Stream(topology.topic(path)))
                    self.bodies.append(
                        [
                            (
                                ',"values":{'
                                + ",".join(
                                    f'"{name}":{_value_text(variant, slot)}'
                                    for slot, name in enumerate(chunk)
                                )
                                + "}}"
                            ).encode()
                            for variant in range(VALUE_VARIANTS)
                        ]
                    )
        self._index = 0
        self._variant = 0

    def next(self, now_ms: int) -> tuple[str, bytes, int]:
        index = self._index
        stream = self.streams[index]
        ts_ms = stream.stamp(now_ms)
        payload = b'{"ts":%d' % ts_ms + self.bodies[index][self._variant]
        index += 1
        if index == len(self.streams):
            index = 0
            self._variant = (self._variant + 1) % VALUE_VARIANTS
        self._index = index
        return stream.topic, payload, ts_ms


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


# Protobuf keys of the Sparkplug ``Payload`` fields set per message: timestamp (1, varint) and
# seq (3, varint). The metrics (field 2) are serialised once per value variant; protobuf allows
# the fields in any order, so a payload is key+ts, key+seq and the pre-serialised metrics.
_TIMESTAMP_KEY: Final = b"\x08"
_SEQ_KEY: Final = b"\x18"


class SparkplugLoad:
    """DDATA by alias: every metric a Double, metrics serialised once per value variant."""

    def __init__(self, topology: LoadTopology) -> None:
        devices = [
            DeviceSpec(
                device_id,
                path,
                tuple(MetricSpec(name) for name in topology.signal_names),
            )
            for device_id, path in zip(topology.device_ids, topology.equipment_paths, strict=True)
        ]
        self.node = SparkplugEdgeNode(
            topology.sparkplug_group,
            topology.sparkplug_node,
            devices,
            bd_seq=int(time.time()) % 256,
        )
        self.readings_per_message = len(topology.signal_names)
        self.streams: list[_Stream] = []
        self.metric_bytes: list[list[bytes]] = []  # per device, per value variant
        for device in devices:
            self.streams.append(
                _Stream(
                    build_topic(
                        topology.sparkplug_group,
                        MessageType.DDATA,
                        topology.sparkplug_node,
                        device.device_id,
                    )
                )
            )
            variants = []
            for variant in range(VALUE_VARIANTS):
                payload = sparkplug_b_pb2.Payload()
                for slot, metric in enumerate(device.metrics):
                    item = payload.metrics.add()
                    item.alias = self.node.alias_of(device.device_id, metric.name)
                    item.datatype = DataType.DOUBLE
                    item.double_value = 20.0 + variant * 0.01 + slot
                variants.append(payload.SerializeToString())
            self.metric_bytes.append(variants)
        self._index = 0
        self._variant = 0
        self._seq = 0

    def births(self, now_ms: int) -> list[tuple[str, bytes, int]]:
        messages = self.node.birth(now_ms)
        self._seq = len(messages) % 256  # NBIRTH is 0, each DBIRTH took the next
        return [(message.topic, message.payload, message.qos) for message in messages]

    def next(self, now_ms: int) -> tuple[str, bytes, int]:
        index = self._index
        stream = self.streams[index]
        ts_ms = stream.stamp(now_ms)
        payload = (
            _TIMESTAMP_KEY
            + _varint(ts_ms)
            + _SEQ_KEY
            + _varint(self._seq)
            + self.metric_bytes[index][self._variant]
        )
        self._seq = (self._seq + 1) % 256
        index += 1
        if index == len(self.streams):
            index = 0
            self._variant = (self._variant + 1) % VALUE_VARIANTS
        self._index = index
        return stream.topic, payload, ts_ms


def publish_load(
    *,
    mqtt_url: str,
    mode: str,
    readings_per_s: float,
    duration_s: float,
    topology: LoadTopology | None = None,
    batch_size: int = 100,
    qos: int = 1,
    client_id: str | None = None,
    max_outstanding: int = 20_000,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.time,
) -> LoadReport:
    """Publish ``readings_per_s`` (0: as fast as possible) for ``duration_s``; report.

    QoS 1 messages are counted as published when written; at most ``max_outstanding`` wait
    for their PUBACK at any time (back-pressure: the rate adapts, nothing is dropped), and
    the function returns once all are acknowledged (or after a 10 s drain timeout).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if not (math.isfinite(readings_per_s) and readings_per_s >= 0):
        raise ValueError("readings_per_s must be ≥ 0 (0: as fast as possible)")
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise ValueError("duration_s must be positive")
    if qos not in (0, 1):
        raise ValueError("qos must be 0 or 1")
    if not 1 <= max_outstanding < 65_535:
        raise ValueError("max_outstanding must lie in 1…65534 (MQTT packet ids are 16-bit)")
    topology = topology or load_topology()
    endpoint = parse_broker_url(mqtt_url)
    if endpoint.use_tls:
        raise ValueError("the load generator speaks plain MQTT only (mqtt://), not mqtts://")
    sparkplug = SparkplugLoad(topology) if mode == "sparkplug" else None
    load: JsonLoad | SparkplugLoad = sparkplug or JsonLoad(topology, mode, batch_size)
    message_qos = SPARKPLUG_QOS if sparkplug else qos
    per_message = load.readings_per_message
    client = RawMqttClient(
        endpoint.host,
        endpoint.port,
        client_id or f"mes-bench-publisher-{os.getpid()}",
        username=endpoint.username,
        password=endpoint.password,
        will=(*sparkplug.node.will(), WILL_QOS) if sparkplug is not None else None,
    )
    client.connect()
    births_due = sparkplug is not None
    if sparkplug is not None:
        client.subscribe(sparkplug.node.command_topic, qos=1)

    report = LoadReport(mode, readings_per_s)
    started = clock()
    try:
        while True:
            now = clock()
            elapsed_s = now - started
            if elapsed_s >= duration_s or (stop is not None and stop.is_set()):
                break
            now_ms = int(now * 1000)
            if sparkplug is not None:
                while client.received:
                    topic, payload = client.received.popleft()
                    if sparkplug.node.handle_command(topic, payload, now_ms):
                        births_due = True
                if births_due:
                    births_due = False
                    client.send(
                        [
                            client.publish_packet(topic, payload, birth_qos)
                            for topic, payload, birth_qos in sparkplug.births(now_ms)
                        ]
                    )
            if readings_per_s > 0:
                backlog = readings_per_s * elapsed_s - report.readings
                if backlog < per_message:
                    client.poll(min((per_message - backlog) / readings_per_s, 0.005))
                    continue
                count = min(CHUNK_MESSAGES, int(backlog // per_message))
            else:
                count = CHUNK_MESSAGES
            if message_qos > 0:
                while client.unacknowledged >= max_outstanding:
                    client.poll(0.001)
                count = min(count, max_outstanding - client.unacknowledged)
            packets = []
            for _ in range(count):
                topic, payload, ts_ms = load.next(now_ms)
                packets.append(client.publish_packet(topic, payload, message_qos))
                if report.first_ts_ms is None:
                    report.first_ts_ms = ts_ms
                report.last_ts_ms = ts_ms
            client.send(packets)
            report.messages += count
            report.readings += count * per_message
            client.poll()
        report.elapsed_s = clock() - started
        drain_deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while client.unacknowledged > 0 and time.monotonic() < drain_deadline:
            client.poll(0.01)
        report.acknowledged = client.acknowledged if message_qos > 0 else report.messages
        if sparkplug is not None:
            death = sparkplug.node.death()
            client.send([client.publish_packet(death.topic, death.payload, death.qos)])
            deadline = time.monotonic() + 5
            while client.unacknowledged > 0 and time.monotonic() < deadline:
                client.poll(0.01)
    finally:
        client.disconnect()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=MODES, default="batch")
    parser.add_argument("--rate", type=float, default=10_000, help="readings/s; 0 = max")
    parser.add_argument("--duration-s", type=float, default=10.0)
    parser.add_argument("--mqtt-url", default=os.environ.get("MQTT_URL", "mqtt://localhost:1883"))
    parser.add_argument("--root", default="bench", help="UNS topic root")
    parser.add_argument("--equipment", type=int, default=10)
    parser.add_argument("--signals", type=int, default=100, help="signals per equipment")
    parser.add_argument("--batch-size", type=int, default=100, help="readings per batch message")
    parser.add_argument("--qos", type=int, choices=(0, 1), default=1, help="UNS QoS")
    parser.add_argument("--sparkplug-group", default="bench")
    parser.add_argument("--sparkplug-node", default="bench_node")
    arguments = parser.parse_args()
    topology = load_topology(
        root=arguments.root,
        equipment_count=arguments.equipment,
        signals_per_equipment=arguments.signals,
        sparkplug_group=arguments.sparkplug_group,
        sparkplug_node=arguments.sparkplug_node,
    )
    print(f"{datetime.now(UTC).isoformat(timespec='seconds')} publishing to {arguments.mqtt_url}")
    report = publish_load(
        mqtt_url=arguments.mqtt_url,
        mode=arguments.mode,
        readings_per_s=arguments.rate,
        duration_s=arguments.duration_s,
        topology=topology,
        batch_size=arguments.batch_size,
        qos=arguments.qos,
    )
    print(report.summary())


if __name__ == "__main__":
    main()
