"""Decode throughput of the UNS JSON codec (readings per second, one core).

Run: .venv/bin/python -m bench.ingest.codec_uns [--messages N] [--repeats R]

Workloads (payloads built before timing; only ``UnsDecoder.decode`` is timed):
- single: one reading per message on ``root/.../{equipment}/{signal}``, epoch-ms ``ts``, a unit;
- single-rfc3339: the same with an RFC 3339 string ``ts``;
- batch-100: 100 values per message on ``root/.../{equipment}``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable

from workers.mqtt.uns import UnsDecoder

ROOT = "acme/v1"
EQUIPMENT = "acme_corp/plant_1/machining/line_{line}/cell_a/press_{press}"
BASE_MS = 1_714_550_400_000


def _single_messages(count: int, *, is_rfc3339: bool) -> list[tuple[str, bytes]]:
    messages = []
    for index in range(count):
        equipment = EQUIPMENT.format(line=index % 4, press=index % 25)
        ts: object = BASE_MS + index
        if is_rfc3339:
            minute, second, millisecond = (index // 60000) % 60, (index // 1000) % 60, index % 1000
            ts = f"2024-05-01T08:{minute:02d}:{second:02d}.{millisecond:03d}Z"
        payload = json.dumps({"ts": ts, "value": 20.0 + (index % 1000) * 0.01, "unit": "degC"})
        messages.append((f"{ROOT}/{equipment}/signal_{index % 40}", payload.encode()))
    return messages


def _batch_messages(count: int, values_per_message: int) -> list[tuple[str, bytes]]:
    messages = []
    for index in range(count):
        equipment = EQUIPMENT.format(line=index % 4, press=index % 25)
        values = {f"signal_{slot}": slot * 0.5 + index for slot in range(values_per_message)}
        payload = json.dumps({"ts": BASE_MS + index, "values": values})
        messages.append((f"{ROOT}/{equipment}", payload.encode()))
    return messages


def _measure(decode: Callable[[str, bytes], object], messages: list[tuple[str, bytes]]) -> float:
    started = time.perf_counter()
    for topic, payload in messages:
        decode(topic, payload)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000, help="single-reading messages")
    parser.add_argument("--repeats", type=int, default=5)
    arguments = parser.parse_args()

    decoder = UnsDecoder(root=ROOT)
    batch_count = max(1, arguments.messages // 50)
    workloads = {
        "single": (_single_messages(arguments.messages, is_rfc3339=False), 1),
        "single-rfc3339": (_single_messages(arguments.messages, is_rfc3339=True), 1),
        "batch-100": (_batch_messages(batch_count, 100), 100),
    }
    for messages, _ in workloads.values():  # every payload is valid
        for topic, payload in messages[:10]:
            decoder.decode(topic, payload)

    print(f"python {platform.python_version()}, {platform.machine()}, one core")
    print(f"{'workload':<16}{'messages':>10}{'readings/s median':>20}{'best':>12}{'us/msg':>10}")
    for name, (messages, readings_per_message) in workloads.items():
        durations = [_measure(decoder.decode, messages) for _ in range(arguments.repeats)]
        readings = len(messages) * readings_per_message
        median = readings / statistics.median(durations)
        best = readings / min(durations)
        per_message_us = statistics.median(durations) / len(messages) * 1e6
        print(f"{name:<16}{len(messages):>10}{median:>20,.0f}{best:>12,.0f}{per_message_us:>10.2f}")


if __name__ == "__main__":
    main()
