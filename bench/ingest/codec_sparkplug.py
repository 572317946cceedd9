"""Decode + resolve throughput of Sparkplug B DDATA (readings per second, one core).

Run: .venv/bin/python -m bench.ingest.codec_sparkplug [--messages N] [--repeats R]

One edge node with one device born with 100 Double metrics (aliases 1..100). Each DDATA carries
all 100 metrics by alias with a per-metric timestamp and the datatype, as Eclipse Tahu edge nodes
send them. Payloads are encoded before timing. Timed separately:
- decode: ``decode_message`` (topic parse + protobuf parse + metric records);
- decode + session: the above and ``SparkplugHostSession.handle`` (sequence check, alias
  resolution, readings and current values).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from datetime import UTC, datetime, timedelta

from workers.mqtt.sparkplug.decode import decode_message
from workers.mqtt.sparkplug.encode import encode_data, encode_dbirth, encode_nbirth
from workers.mqtt.sparkplug.model import DataType, MessageType, SparkplugMetric
from workers.mqtt.sparkplug.session import SparkplugHostSession
from workers.mqtt.sparkplug.topics import build_topic

GROUP = "plant_1"
NODE = "edge-1"
DEVICE = "press_7"
METRICS_PER_MESSAGE = 100
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def _births() -> list[tuple[str, bytes]]:
    metrics = [
        SparkplugMetric(f"Signals/S{alias}", alias, DataType.DOUBLE, 0.0, T0)
        for alias in range(1, METRICS_PER_MESSAGE + 1)
    ]
    return [
        (
            build_topic(GROUP, MessageType.NBIRTH, NODE),
            encode_nbirth(timestamp=T0, bd_seq=0, metrics=[]),
        ),
        (
            build_topic(GROUP, MessageType.DBIRTH, NODE, DEVICE),
            encode_dbirth(timestamp=T0, seq=1, metrics=metrics),
        ),
    ]


def _data_messages(count: int) -> list[tuple[str, bytes]]:
    topic = build_topic(GROUP, MessageType.DDATA, NODE, DEVICE)
    messages = []
    for index in range(count):
        timestamp = T0 + timedelta(milliseconds=index * 10)
        metrics = [
            SparkplugMetric(None, alias, DataType.DOUBLE, alias * 0.5 + index, timestamp)
            for alias in range(1, METRICS_PER_MESSAGE + 1)
        ]
        payload = encode_data(timestamp=timestamp, seq=(index + 2) % 256, metrics=metrics)
        messages.append((topic, payload))
    return messages


def _run(messages: list[tuple[str, bytes]], *, with_session: bool) -> tuple[float, int]:
    session = SparkplugHostSession()
    for topic, payload in _births():
        session.handle(decode_message(topic, payload), received_at=T0)
    received_at = T0 + timedelta(seconds=1)
    readings = 0
    started = time.perf_counter()
    if with_session:
        for topic, payload in messages:
            output = session.handle(decode_message(topic, payload), received_at=received_at)
            readings += len(output.readings)
    else:
        for topic, payload in messages:
            readings += len(decode_message(topic, payload).payload.metrics)  # type: ignore[union-attr]
    elapsed = time.perf_counter() - started
    if with_session and session.node_status(GROUP, NODE).held_seqs:  # type: ignore[union-attr]
        raise RuntimeError("benchmark messages were held: the sequence is broken")
    return elapsed, readings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2_000, help="DDATA messages")
    parser.add_argument("--repeats", type=int, default=5)
    arguments = parser.parse_args()

    messages = _data_messages(arguments.messages)
    payload_bytes = statistics.mean(len(payload) for _, payload in messages)
    print(
        f"python {platform.python_version()}, {platform.machine()}, one core; "
        f"DDATA of {METRICS_PER_MESSAGE} metrics, {payload_bytes:.0f} bytes each"
    )
    print(f"{'workload':<20}{'messages':>10}{'readings/s median':>20}{'best':>12}{'us/msg':>10}")
    for name, with_session in (("decode", False), ("decode + session", True)):
        results = [_run(messages, with_session=with_session) for _ in range(arguments.repeats)]
        durations = [elapsed for elapsed, _ in results]
        readings = results[0][1]
        if readings != arguments.messages * METRICS_PER_MESSAGE:
            raise RuntimeError(f"{name}: expected every metric as a reading, got {readings}")
        median = readings / statistics.median(durations)
        best = readings / min(durations)
        per_message_us = statistics.median(durations) / len(messages) * 1e6
        print(f"{name:<20}{len(messages):>10}{median:>20,.0f}{best:>12,.0f}{per_message_us:>10.1f}")


if __name__ == "__main__":
    main()
