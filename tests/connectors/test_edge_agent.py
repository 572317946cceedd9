"""The deployable edge agent: features from a sample stream, the bounded disk buffer, and
store-and-forward across a broker outage — every reading stored once, in order, with its
original timestamp."""

from __future__ import annotations

import io
import json
import time
import uuid
from datetime import UTC, datetime

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from connectors.runtime.edge.agent import EdgeAgent, FeatureAccumulator, read_samples
from connectors.runtime.edge.buffer import DiskBuffer
from connectors.runtime.edge.forwarder import StoreAndForward
from maintenance.algorithms.signal import FeatureSettings
from tests.mosquitto import Mosquitto
from workers.ingest.uns import ingest_uns_batch
from workers.models import Reading
from workers.mqtt.address import parse_broker_url

SETTINGS = FeatureSettings(sample_rate_hz=10_000.0, window_length=1024)
START_MS = round(datetime.now(UTC).timestamp() * 1000) - 120_000  # two minutes ago


def _seconds(count: int, seed: int = 1) -> np.ndarray:
    """``count`` seconds of a 10 kHz vibration: a 50 Hz shaft line and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(count * 10_000) / 10_000
    return np.sin(2 * np.pi * 50 * t) + 0.2 * rng.standard_normal(len(t))


# --- features ----------------------------------------------------------------------------


def test_each_second_of_samples_is_one_report_stamped_at_its_end() -> None:
    accumulator = FeatureAccumulator(SETTINGS, start_ms=START_MS)
    samples = _seconds(3)

    reports = accumulator.add(samples[:15_000]) + accumulator.add(samples[15_000:])

    assert [report.ts_ms for report in reports] == [
        START_MS + 1000,
        START_MS + 2000,
        START_MS + 3000,
    ]
    assert {report.window_count for report in reports} == {9}
    assert set(reports[0].features) == set(SETTINGS.feature_names)
    assert 0.7 < reports[0].features["rms"] < 0.8  # sine 1/√2 and the noise


def test_a_constant_period_is_skipped_not_published() -> None:
    accumulator = FeatureAccumulator(SETTINGS, start_ms=START_MS)

    reports = accumulator.add(np.concatenate([np.zeros(10_000), _seconds(1)]))

    assert [report.ts_ms for report in reports] == [START_MS + 2000]
    assert accumulator.skipped == 1


def test_samples_are_read_as_text_and_as_raw_little_endian() -> None:
    text = io.BytesIO(b"0.5 1.5\n# a comment\n2.5\n")
    assert np.concatenate(list(read_samples(text, "text"))).tolist() == [0.5, 1.5, 2.5]
    raw = io.BytesIO(np.asarray([0.25, -1.0], dtype="<f4").tobytes())
    assert np.concatenate(list(read_samples(raw, "f32le", chunk_samples=1))).tolist() == [
        0.25,
        -1.0,
    ]
    pcm = io.BytesIO(np.asarray([16384, -32768], dtype="<i2").tobytes())
    assert np.concatenate(list(read_samples(pcm, "s16le"))).tolist() == [0.5, -1.0]


# --- the disk buffer ---------------------------------------------------------------------


def test_the_buffer_keeps_order_across_a_restart_and_drops_the_oldest_when_full(tmp_path):
    path = tmp_path / "buffer.sqlite"
    buffer = DiskBuffer(path, max_messages=3)
    for index in range(5):
        buffer.append("t", f"m{index}".encode(), now_ms=1000 + index)
    buffer.close()

    reopened = DiskBuffer(path, max_messages=3)

    assert [message.payload for message in reopened.head(10)] == [b"m2", b"m3", b"m4"]
    assert len(reopened) == 3
    assert reopened.oldest_age_s(now_ms=3002) == 2.0
    reopened.remove([reopened.head(1)[0].id])
    assert [message.payload for message in reopened.head(10)] == [b"m3", b"m4"]
    assert buffer.dropped == 2


def test_the_buffer_drops_what_is_older_than_its_age_limit(tmp_path):
    buffer = DiskBuffer(tmp_path / "buffer.sqlite", max_age_s=10)
    buffer.append("t", b"old", now_ms=0)
    buffer.append("t", b"new", now_ms=20_000)

    assert [message.payload for message in buffer.head(10)] == [b"new"]
    assert buffer.dropped == 1


# --- store and forward across a broker outage --------------------------------------------


class PersistentMosquitto(Mosquitto):
    """A private broker that keeps its sessions across a restart (the collector's session
    queues what arrives while the collector reconnects)."""

    def _write_config(self) -> None:
        super()._write_config()
        text = self.config_path.read_text().replace(
            "persistence false", f"persistence true\npersistence_location {self.directory}/"
        )
        self.config_path.write_text(text)


class SessionCollector:
    """A subscriber with a persistent session: nothing is lost while it reconnects."""

    def __init__(self, url: str, root: str) -> None:
        address = parse_broker_url(url)
        self.messages: list[tuple[str, bytes]] = []
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"edge-collector-{uuid.uuid4().hex[:8]}",
            clean_session=False,
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.on_connect = lambda client, *_: client.subscribe(f"{root}/#", qos=1)
        self.client.on_message = lambda _c, _u, message: self.messages.append(
            (message.topic, message.payload)
        )
        self.client.connect(address.host, address.port)
        self.client.loop_start()

    def features(self) -> list[int]:
        return [
            json.loads(payload)["ts"]
            for topic, payload in list(self.messages)
            if topic.endswith("/_features")
        ]

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _wait(condition, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {condition}"
        time.sleep(0.02)


@pytest.fixture
def vibration_signals(telemetry):
    from production.models import Signal

    for name in (*(f"vibration_{n}" for n in SETTINGS.feature_names),):
        Signal.objects.create(equipment=telemetry.equipment, name=name)
    for name in ("edge_buffer_messages", "edge_buffer_age_s", "edge_buffer_dropped"):
        Signal.objects.create(equipment=telemetry.equipment, name=name)
    return telemetry


@pytest.mark.django_db
@pytest.mark.timeout(180)
def test_a_broker_outage_loses_nothing_and_the_backlog_arrives_in_order(
    vibration_signals, tmp_path, settings
):
    root = f"edge-{uuid.uuid4().hex[:8]}"
    broker = PersistentMosquitto(tmp_path / "broker").start()
    collector = SessionCollector(broker.url, root)
    outbox = StoreAndForward(parse_broker_url(broker.url), DiskBuffer(tmp_path / "buffer.sqlite"))
    outbox.start()
    agent = EdgeAgent(
        outbox, FeatureAccumulator(SETTINGS, start_ms=START_MS), vibration_signals.path, root
    )
    samples = _seconds(40)
    second = 10_000
    try:
        _wait(outbox.connected.is_set)
        agent.process(samples[: 5 * second])  # 5 reports while the broker is there
        _wait(lambda: len(collector.features()) == 5)

        broker.stop()
        _wait(lambda: not outbox.connected.is_set())
        for index in range(5, 30):  # 25 s of data during the outage
            agent.process(samples[index * second : (index + 1) * second])
        waiting = len(outbox.buffer)
        assert waiting >= 2 * 25  # features and buffer state of every report, on disk

        broker.start()
        for index in range(30, 40):  # new data keeps coming while the backlog leaves
            agent.process(samples[index * second : (index + 1) * second])
            time.sleep(0.05)
        _wait(lambda: (agent.outbox.pump() or True) and len(set(collector.features())) == 40)
        outbox.drain(10)
    finally:
        outbox.stop()
        collector.stop()
        broker.stop()

    expected = [START_MS + 1000 * n for n in range(1, 41)]
    arrived = collector.features()
    assert list(dict.fromkeys(arrived)) == expected  # in order (a resend may repeat one)
    settings.MQTT_UNS_ROOT = root
    ingest_uns_batch(
        batch_id=str(uuid.uuid4()),
        published_at=datetime.now(UTC),
        messages=[[topic, payload] for topic, payload in collector.messages],
    )
    stored = list(
        Reading.objects.filter(signal__name="vibration_rms")
        .order_by("ts")
        .values_list("ts", flat=True)
    )
    assert [round(ts.timestamp() * 1000) for ts in stored] == expected  # once each, original ts
    buffered = Reading.objects.filter(signal__name="edge_buffer_messages").values_list(
        "value", flat=True
    )
    assert max(buffered) >= 25  # the buffer's size was published, and it grew in the outage


def test_the_agent_process_publishes_a_recorded_file_and_exits(mosquitto, tmp_path):
    import os
    import subprocess
    import sys

    from tests.connectors.harness import Collector, root_topic

    root = root_topic()
    collector = Collector(mosquitto.url, root).start()
    recording = tmp_path / "recording.f32"
    recording.write_bytes(_seconds(3).astype("<f4").tobytes())
    environment = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "connectors.edge",
                "--equipment-path",
                "acme/plant1/area/line/cell/spindle",
                "--source",
                str(recording),
                "--format",
                "f32le",
                "--start",
                "2026-01-05T08:00:00Z",
                "--buffer",
                str(tmp_path / "buffer.sqlite"),
                "--mqtt-url",
                mosquitto.url,
                "--uns-root",
                root,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=environment,
            check=False,
        )
        _wait(lambda: len(collector.readings("_features")) == 3)
    finally:
        collector.stop()

    assert result.returncode == 0, result.stderr
    assert [reading["ts"] for reading in collector.readings("_features")] == [
        1767600001000,
        1767600002000,
        1767600003000,
    ]
