"""The load of the end-to-end ingest benchmark (``bench.ingest.pipeline``): the JSON streams fed
to ``mosquitto_pub`` with a bounded backlog of uncommitted messages, and the Sparkplug edge
nodes publishing pre-encoded DDATA through the minimal client of ``raw_mqtt.py``."""

from __future__ import annotations

import subprocess
import threading
import time
from datetime import UTC, datetime

from bench.ingest.raw_mqtt import RawMqttClient
from workers.mqtt.sparkplug.encode import encode_data, encode_dbirth, encode_nbirth
from workers.mqtt.sparkplug.model import DataType, MessageType, SparkplugMetric
from workers.mqtt.sparkplug.topics import build_topic

UNS_ROOT = "bench"
SIGNAL_COUNT = 100
SPARKPLUG_GROUP = "bench"


def json_streams(
    workload: str, equipment_path: str, messages: int, streams: int, base_ms: int
) -> list[tuple[str, list[bytes]]]:
    """(topic, lines) per publisher stream; every reading has its own (signal, ts)."""
    result = []
    per_stream = messages // streams
    for stream in range(streams):
        if workload == "single":
            topic = f"{UNS_ROOT}/{equipment_path}/v{stream:03d}"
            lines = [
                b'{"ts":%d,"value":%d.5}' % (base_ms + index, index % 1000)
                for index in range(per_stream)
            ]
        else:
            topic = f"{UNS_ROOT}/{equipment_path}"
            offset = base_ms + stream * (per_stream + 1)
            values = ",".join(f'"v{slot:03d}":{slot}.25' for slot in range(SIGNAL_COUNT))
            lines = [
                b'{"ts":%d,"values":{%s}}' % (offset + index, values.encode())
                for index in range(per_stream)
            ]
        result.append((topic, lines))
    return result


# Mosquitto numbers the QoS 1 messages it queues for one session with the 16-bit packet id
# even before they are sent; past 65,535 queued messages two share an id and the session
# stalls (eclipse-mosquitto/mosquitto#2431). The JSON publishers therefore hold back while
# more than this many of their messages are not yet committed, like an edge device whose
# store-and-forward buffer waits for the broker.
MAX_BACKLOG_MESSAGES = 40_000
FEED_CHUNK_LINES = 500


class Backlog:
    """Messages handed to the publishers minus messages committed (polled every 20 ms)."""

    def __init__(self, stored, readings_per_message: int) -> None:
        self._stored = stored
        self._per_message = readings_per_message
        self._lock = threading.Lock()
        self.fed = 0
        self.committed = 0
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        from django.db import connection

        try:
            while not self._stop.is_set():
                self.committed = self._stored() // self._per_message
                self._stop.wait(0.02)
        finally:
            connection.close()

    def feed(self, count: int) -> None:
        while self.fed - self.committed > MAX_BACKLOG_MESSAGES:
            time.sleep(0.005)
        with self._lock:
            self.fed += count

    def close(self) -> None:
        self._stop.set()
        self._poller.join()


def mosquitto_pub(port: int, topic: str, lines: list[bytes], backlog: Backlog) -> None:
    publisher = subprocess.Popen(
        ["mosquitto_pub", "-p", str(port), "-t", topic, "-l", "-q", "1", "-M", "1000"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert publisher.stdin is not None
    for index in range(0, len(lines), FEED_CHUNK_LINES):
        chunk = lines[index : index + FEED_CHUNK_LINES]
        backlog.feed(len(chunk))
        publisher.stdin.write(b"\n".join(chunk) + b"\n")
        publisher.stdin.flush()
    publisher.stdin.close()
    publisher.wait()


def sparkplug_publisher(port: int, node: str, messages: int, base_ms: int, ready, go) -> None:
    """One edge node: NBIRTH, DBIRTH (100 Double metrics), then DDATA by alias (pre-encoded)."""

    def at(offset_ms: int) -> datetime:
        return datetime.fromtimestamp((base_ms + offset_ms) / 1000, UTC)

    names = [f"v{slot:03d}" for slot in range(SIGNAL_COUNT)]
    payloads = []
    for index in range(messages):
        ts = at(index + 1)
        metrics = [
            SparkplugMetric(None, slot, DataType.DOUBLE, slot + 0.25, ts)
            for slot in range(SIGNAL_COUNT)
        ]
        payloads.append(encode_data(timestamp=ts, seq=(index + 2) % 256, metrics=metrics))
    # The minimal client of bench/ingest/raw_mqtt.py: pre-encoded packets, QoS 1, at most
    # 1,000 unacknowledged — a load generator that leaves the CPU to what is measured.
    client = RawMqttClient("127.0.0.1", port, f"bench-{node}")
    client.connect()
    birth = at(0)

    def settle(timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while client.unacknowledged > 0 and time.monotonic() < deadline:
            client.poll(0.01)

    client.send(
        [
            client.publish_packet(
                build_topic(SPARKPLUG_GROUP, MessageType.NBIRTH, node),
                encode_nbirth(timestamp=birth, bd_seq=0, metrics=[]),
                1,
            ),
            client.publish_packet(
                build_topic(SPARKPLUG_GROUP, MessageType.DBIRTH, node, "dev"),
                encode_dbirth(
                    timestamp=birth,
                    seq=1,
                    metrics=[
                        SparkplugMetric(name, slot, DataType.DOUBLE, None, birth)
                        for slot, name in enumerate(names)
                    ],
                ),
                1,
            ),
        ]
    )
    settle(30)
    ready.set()
    go.wait()
    topic = build_topic(SPARKPLUG_GROUP, MessageType.DDATA, node, "dev")
    for start in range(0, len(payloads), 100):
        while client.unacknowledged >= 1000:
            client.poll(0.001)
        client.send(
            [client.publish_packet(topic, payload, 1) for payload in payloads[start : start + 100]]
        )
        client.poll()
    settle(120)
    client.disconnect()
