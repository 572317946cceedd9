"""The baseline of the ingest benchmark: a bare paho subscriber that writes with COPY.

Run by ``bench.ingest.pipeline`` as a subprocess. It does the least work that still stores
every reading: QoS 1 with automatic acknowledgement, the same codecs (``UnsDecoder`` /
Sparkplug ``decode_message`` + ``SparkplugHostSession``, which resolves aliases), a dict from
(equipment path, signal) or metric name to the signal id, and a binary COPY straight into
``workers_reading`` in batches — no Celery, no contract checks, no idempotency, no rollups,
no dead letters. After each commit it adds the row count to a Redis key.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from collections import deque
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import psycopg
import redis

from workers.mqtt.errors import DecodeError
from workers.mqtt.sparkplug.decode import decode_message
from workers.mqtt.sparkplug.session import SparkplugHostSession
from workers.mqtt.uns import UnsDecoder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=["uns", "sparkplug"], required=True)
    parser.add_argument("--topic-filter", required=True)
    parser.add_argument("--root", default="")
    parser.add_argument("--signals", required=True, help="JSON file: [[path, name, id], ...]")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--counter-key", required=True)
    parser.add_argument("--batch-messages", type=int, default=2000)
    parser.add_argument("--batch-wait-s", type=float, default=0.1)
    args = parser.parse_args()

    with open(args.signals) as file:
        signal_ids = {(path, name): signal_id for path, name, signal_id in json.load(file)}
    by_name = {name: signal_id for (_path, name), signal_id in signal_ids.items()}
    counter = redis.Redis.from_url(args.redis_url)
    database = psycopg.connect(args.database_url)
    inbox: deque[tuple[str, bytes]] = deque()

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"bench-bare-{uuid.uuid4().hex[:8]}",
        protocol=mqtt.MQTTv5,
    )
    subscribed = threading.Event()
    client.on_connect = lambda c, u, f, r, p: c.subscribe(args.topic_filter, qos=1)
    client.on_subscribe = lambda *a: subscribed.set()
    client.on_message = lambda c, u, m: inbox.append((m.topic, m.payload))
    client.connect("127.0.0.1", args.port)
    client.loop_start()
    subscribed.wait(10)
    print("ready", flush=True)

    decoder = UnsDecoder(root=args.root)
    session = SparkplugHostSession()

    def rows_of(messages: list[tuple[str, bytes]]) -> list[tuple]:
        rows = []
        if args.mode == "uns":
            for topic, payload in messages:
                try:
                    decoded = decoder.decode(topic, payload)
                except DecodeError:
                    continue
                if type(decoded) is not tuple:
                    continue
                for reading in decoded:
                    signal_id = signal_ids.get((reading.equipment_path, reading.signal))
                    if signal_id is not None:
                        rows.append((signal_id, reading.ts, float(reading.value), 192))
        else:
            now = datetime.now(UTC)
            for topic, payload in messages:
                try:
                    message = decode_message(topic, payload)
                except DecodeError:
                    continue
                for reading in session.handle(message, received_at=now).readings:
                    signal_id = by_name.get(reading.metric_name)
                    if signal_id is not None:
                        rows.append((signal_id, reading.ts, float(reading.value), 192))
        return rows

    while True:
        if not inbox:
            time.sleep(0.002)
            continue
        deadline = time.monotonic() + args.batch_wait_s
        batch: list[tuple[str, bytes]] = []
        while len(batch) < args.batch_messages and time.monotonic() < deadline:
            while inbox and len(batch) < args.batch_messages:
                batch.append(inbox.popleft())
            if len(batch) < args.batch_messages:
                time.sleep(0.002)
        rows = rows_of(batch)
        with (
            database.cursor() as cursor,
            cursor.copy(
                "COPY workers_reading (signal_id, ts, value, quality) FROM STDIN (FORMAT BINARY)"
            ) as copy,
        ):
            copy.set_types(["int8", "timestamptz", "float8", "int2"])
            for row in rows:
                copy.write_row(row)
        database.commit()
        counter.incrby(args.counter_key, len(rows))


if __name__ == "__main__":
    main()
