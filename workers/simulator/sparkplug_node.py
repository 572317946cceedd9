"""A Sparkplug B edge node for part of the simulated plant (pure, Django-free, no I/O).

One node (``spBv1.0/{group}/…/{node}``) carries one or more equipment as devices
(``device_id`` = equipment code). It follows Sparkplug 3.0:

- every MQTT connection has a birth/death sequence number ``bdSeq`` (0–255, +1 per new
  connection): the connection's Will is an NDEATH with it (QoS 1, not retained), the NBIRTH
  carries the same value;
- NBIRTH (seq 0) with ``bdSeq`` and ``Node Control/Rebirth`` = false, then one DBIRTH per device
  with every metric: name, alias, datatype and the current value (null before the first sample);
- DDATA carries only aliases; ``seq`` counts every NBIRTH/DBIRTH/DDATA/DDEATH of the node
  (0–255, 255 → 0); births and data are QoS 0, never retained;
- an NCMD with ``Node Control/Rebirth`` = true re-sends NBIRTH and all DBIRTHs (same bdSeq, seq
  from 0) — this is how a host that missed something resynchronises;
- data is only produced while born; before a clean disconnect the node publishes its NDEATH
  itself (the broker sends the Will only when the connection is lost).

Aliases are unique across the node and its devices, numbered in device then metric order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from workers.mqtt.errors import DecodeError
from workers.mqtt.sparkplug.decode import decode_payload
from workers.mqtt.sparkplug.encode import encode_data, encode_dbirth, encode_nbirth, encode_ndeath
from workers.mqtt.sparkplug.model import (
    MAX_SEQUENCE,
    REBIRTH_METRIC,
    DataType,
    MessageType,
    SparkplugMetric,
)
from workers.mqtt.sparkplug.topics import build_topic, parse_topic
from workers.mqtt.uns import Scalar
from workers.simulator.model import OutboundMessage

__all__ = ["SPARKPLUG_QOS", "WILL_QOS", "DeviceSpec", "MetricSpec", "SparkplugEdgeNode"]

SPARKPLUG_QOS: Final = 0  # Sparkplug 3.0: births and data are published with QoS 0
WILL_QOS: Final = 1  # ... and the NDEATH Will with QoS 1

_DATATYPES: Final = {
    "number": DataType.DOUBLE,
    "boolean": DataType.BOOLEAN,
    "string": DataType.STRING,
}


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    data_type: str = "number"  # "number" | "boolean" | "string"

    def __post_init__(self) -> None:
        if self.data_type not in _DATATYPES:
            raise ValueError(f"metric {self.name}: unsupported data_type {self.data_type!r}")


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    device_id: str
    equipment_path: str
    metrics: tuple[MetricSpec, ...]


def _ms_datetime(ts_ms: int) -> datetime:
    return datetime.fromtimestamp(ts_ms / 1000, UTC)


class SparkplugEdgeNode:
    """State of one edge node: bdSeq, seq, aliases, the last value of every metric."""

    def __init__(
        self, group_id: str, node_id: str, devices: Sequence[DeviceSpec], *, bd_seq: int = 0
    ) -> None:
        if not devices:
            raise ValueError(f"edge node {node_id} needs at least one device")
        if not 0 <= bd_seq <= MAX_SEQUENCE:
            raise ValueError(f"bdSeq {bd_seq} outside 0..255")
        build_topic(group_id, MessageType.NBIRTH, node_id)  # validates the ids
        self.group_id = group_id
        self.node_id = node_id
        self.bd_seq = bd_seq
        self.is_born = False
        self._seq = 0
        self._devices = {device.device_id: device for device in devices}
        if len(self._devices) != len(devices):
            raise ValueError(f"edge node {node_id}: device ids must be unique")
        self._by_path = {device.equipment_path: device for device in devices}
        self._aliases: dict[tuple[str, str], int] = {}
        self._datatypes: dict[tuple[str, str], DataType] = {}
        alias = 1
        for device in devices:
            build_topic(group_id, MessageType.DBIRTH, node_id, device.device_id)
            for metric in device.metrics:
                key = (device.device_id, metric.name)
                if key in self._aliases:
                    raise ValueError(f"device {device.device_id}: metric {metric.name} twice")
                self._aliases[key] = alias
                self._datatypes[key] = _DATATYPES[metric.data_type]
                alias += 1
        self._values: dict[tuple[str, str], Scalar] = {}

    # --- topics ------------------------------------------------------------------------------

    @property
    def command_topic(self) -> str:
        """NCMD topic the node subscribes to."""
        return build_topic(self.group_id, MessageType.NCMD, self.node_id)

    @property
    def channel(self) -> str:
        return self.node_id

    def device_for(self, equipment_path: str) -> DeviceSpec | None:
        return self._by_path.get(equipment_path)

    def alias_of(self, device_id: str, metric: str) -> int:
        return self._aliases[(device_id, metric)]

    # --- session -----------------------------------------------------------------------------

    def will(self) -> tuple[str, bytes]:
        """Topic and payload of the NDEATH to register as the connection's Will."""
        return (
            build_topic(self.group_id, MessageType.NDEATH, self.node_id),
            encode_ndeath(bd_seq=self.bd_seq),
        )

    def death(self) -> OutboundMessage:
        """The NDEATH a node publishes itself before a clean disconnect."""
        topic, payload = self.will()
        self.is_born = False
        return OutboundMessage(topic, payload, WILL_QOS, self.channel)

    def connection_lost(self) -> None:
        """The MQTT connection dropped: the next connection uses the next bdSeq."""
        self.is_born = False
        self.bd_seq = (self.bd_seq + 1) % (MAX_SEQUENCE + 1)

    def _next_seq(self) -> int:
        seq = self._seq
        self._seq = (self._seq + 1) % (MAX_SEQUENCE + 1)
        return seq

    def birth(self, ts_ms: int) -> list[OutboundMessage]:
        """NBIRTH and every DBIRTH, with the current values (null before the first sample)."""
        timestamp = _ms_datetime(ts_ms)
        self._seq = 0
        messages = [
            OutboundMessage(
                build_topic(self.group_id, MessageType.NBIRTH, self.node_id),
                encode_nbirth(
                    timestamp=timestamp, bd_seq=self.bd_seq, metrics=(), seq=self._next_seq()
                ),
                SPARKPLUG_QOS,
                self.channel,
            )
        ]
        for device in self._devices.values():
            metrics = []
            for metric in device.metrics:
                key = (device.device_id, metric.name)
                metrics.append(
                    SparkplugMetric(
                        metric.name,
                        self._aliases[key],
                        self._datatypes[key],
                        self._values.get(key),
                        timestamp,
                        is_null=key not in self._values,
                    )
                )
            messages.append(
                OutboundMessage(
                    build_topic(self.group_id, MessageType.DBIRTH, self.node_id, device.device_id),
                    encode_dbirth(timestamp=timestamp, seq=self._next_seq(), metrics=metrics),
                    SPARKPLUG_QOS,
                    self.channel,
                    reading_count=len(metrics),
                )
            )
        self.is_born = True
        return messages

    def data(
        self, ts_ms: int, equipment_path: str, values: Mapping[str, Scalar]
    ) -> OutboundMessage | None:
        """DDATA of the metrics in ``values`` (aliases only). None while not born.

        The values are remembered either way: the next birth carries them.
        """
        device = self._by_path[equipment_path]
        metrics = []
        timestamp = _ms_datetime(ts_ms)
        for name, value in values.items():
            key = (device.device_id, name)
            alias = self._aliases.get(key)
            if alias is None:
                continue  # not a metric of the device's birth: never sent unannounced
            self._values[key] = value
            metrics.append(SparkplugMetric(None, alias, self._datatypes[key], value))
        if not self.is_born or not metrics:
            return None
        return OutboundMessage(
            build_topic(self.group_id, MessageType.DDATA, self.node_id, device.device_id),
            encode_data(timestamp=timestamp, seq=self._next_seq(), metrics=metrics),
            SPARKPLUG_QOS,
            self.channel,
            reading_count=len(metrics),
        )

    def handle_command(self, topic: str, payload: bytes, ts_ms: int) -> list[OutboundMessage]:
        """An NCMD for this node: ``Node Control/Rebirth`` = true → births. Else nothing."""
        try:
            parsed = parse_topic(topic)
            if (
                parsed.message_type is not MessageType.NCMD
                or parsed.group_id != self.group_id
                or parsed.edge_node_id != self.node_id
            ):
                return []
            command = decode_payload(payload)
        except DecodeError:
            return []
        metric = command.metric_named(REBIRTH_METRIC)
        if metric is None or metric.value is not True:
            return []
        return self.birth(ts_ms)
