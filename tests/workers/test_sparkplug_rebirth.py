"""Interoperability defects of the Sparkplug host found with clients the project did not
write (issue 19): an edge node's rebirth must leave fresh current values, and a DDEATH without
a sequence number must still mark its device stale. Published with plain paho and payloads
built straight from the Sparkplug B protobuf (as Node-RED's and Kepware users' flows do),
through the session's broker, the host, and the ingest service in this process."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from production.models import Signal
from tests.workers.test_sparkplug_host import Recorder
from workers import store
from workers.bridge.sparkplug import SparkplugHost, SparkplugHostSettings
from workers.ingest.sparkplug import ingest_sparkplug_batch
from workers.models import DeadLetter, SparkplugDeviceMapping, SparkplugNodeMapping
from workers.mqtt import sparkplug_b_pb2

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]

DOUBLE = 10
UINT64 = 8
BOOLEAN = 11


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _payload(*, ts: datetime, seq: int | None, metrics=()) -> bytes:
    """A Sparkplug B payload as a third-party client builds it: (name, alias, datatype,
    value) metrics, no help from the project's encoder."""
    message = sparkplug_b_pb2.Payload()
    message.timestamp = _ms(ts)
    if seq is not None:
        message.seq = seq
    for name, alias, datatype, value in metrics:
        metric = message.metrics.add()
        if name is not None:
            metric.name = name
        if alias is not None:
            metric.alias = alias
        metric.datatype = datatype
        metric.timestamp = _ms(ts)
        if datatype == DOUBLE:
            metric.double_value = value
        elif datatype == BOOLEAN:
            metric.boolean_value = value
        else:
            metric.long_value = value
    return message.SerializeToString()


class EdgeNode:
    """A Sparkplug edge node on a plain paho connection of its own."""

    def __init__(self, publisher, group: str, node: str) -> None:
        self.publisher = publisher
        self.group = group
        self.node = node

    def topic(self, message_type: str, device: str | None = None) -> str:
        topic = f"spBv1.0/{self.group}/{message_type}/{self.node}"
        return f"{topic}/{device}" if device else topic

    def births(self, *, bd_seq: int, ts: datetime, temperature: float, speed: float) -> None:
        """NBIRTH (seq 0) and the DBIRTH of the device "press" (seq 1), back to back."""
        self.publisher.publish_many(
            [
                (
                    self.topic("NBIRTH"),
                    _payload(
                        ts=ts,
                        seq=0,
                        metrics=[
                            ("bdSeq", None, UINT64, bd_seq),
                            ("Node Control/Rebirth", None, BOOLEAN, False),
                            ("Temperature", 1, DOUBLE, temperature),
                        ],
                    ),
                ),
                (
                    self.topic("DBIRTH", "press"),
                    _payload(ts=ts, seq=1, metrics=[("Motor/Speed", 10, DOUBLE, speed)]),
                ),
            ]
        )

    def ndeath(self, *, bd_seq: int) -> None:
        message = sparkplug_b_pb2.Payload()
        metric = message.metrics.add()
        metric.name, metric.datatype, metric.long_value = "bdSeq", UINT64, bd_seq
        self.publisher.publish(self.topic("NDEATH"), message.SerializeToString())


@pytest.fixture
def group() -> str:
    return f"g{uuid.uuid4().hex[:10]}"


@pytest.fixture
def mapped(telemetry, plant, group):
    node = SparkplugNodeMapping.objects.create(
        group_id=group, edge_node_id="edge-1", equipment=telemetry.equipment
    )
    SparkplugDeviceMapping.objects.create(
        node=node, device_id="press", equipment=plant.other_equipment
    )
    Signal.objects.create(equipment=telemetry.equipment, name="Temperature")
    Signal.objects.create(equipment=plant.other_equipment, name="Motor.Speed")
    return telemetry.equipment, plant.other_equipment


@pytest.fixture
def host(broker_address, group):
    """The host with batches that stay open for a second: messages published back to back
    land in one batch, as they do on a busy bridge."""
    recorder = Recorder()
    host = SparkplugHost(
        SparkplugHostSettings(
            address=broker_address,
            host_id=f"test-host-{uuid.uuid4().hex[:10]}",
            group_ids=(group,),
            batch_max_wait_s=1.0,
        ),
        recorder,
    )
    host.start()
    assert host.online_published.wait(10)
    yield host, recorder
    host.stop()


def _ingest_recorded(recorder: Recorder, done: int, captured) -> int:
    """Run the ingest service on the batches recorded since ``done``, in order, with their
    after-commit work (the current-value cache); returns the new count."""
    with recorder.lock:
        batches = recorder.batches[done:]
    for parts in batches:
        with captured(execute=True):
            ingest_sparkplug_batch(
                batch_id=str(uuid.uuid4()), published_at=datetime.now(UTC), **parts
            )
    return done + len(batches)


def _wait_for(condition, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _messages_in_batches(recorder: Recorder) -> int:
    """Sparkplug messages the host handled and handed on (its own NCMDs included)."""
    with recorder.lock:
        return sum(batch["message_count"] for batch in recorder.batches)


def _births() -> tuple[float, float]:
    """mes_sparkplug_births_total of NBIRTH and DBIRTH in this process."""
    return tuple(
        REGISTRY.get_sample_value("mes_sparkplug_births_total", {"message_type": kind}) or 0.0
        for kind in ("NBIRTH", "DBIRTH")
    )


def _current(equipment, name: str) -> dict:
    return store.current_values_get(equipment.id)[name]


@pytest.mark.parametrize("how", ["same connection", "reconnect without NDEATH", "after NDEATH"])
def test_a_rebirth_leaves_fresh_current_values(
    how, host, mapped, group, mqtt_publisher, make_mqtt_publisher, mosquitto,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    sparkplug_host, recorder = host
    node_equipment, press = mapped
    births_before = _births()
    edge = EdgeNode(mqtt_publisher, group, "edge-1")
    first = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    edge.births(bd_seq=0, ts=first, temperature=20.0, speed=1490.0)
    assert _wait_for(lambda: _messages_in_batches(recorder) >= 2)
    done = _ingest_recorded(recorder, 0, django_capture_on_commit_callbacks)
    assert _current(press, "Motor.Speed")["stale_at"] is None

    # The births of the new session carry a time the host has already passed when they
    # arrive (the edge's clock is behind, or it stamps births with the last change).
    second = first + timedelta(seconds=1)
    if how == "same connection":  # the node's answer to the host's rebirth request
        edge.births(bd_seq=0, ts=second, temperature=21.0, speed=1500.0)
        expected = 4
    elif how == "reconnect without NDEATH":
        reconnected = EdgeNode(make_mqtt_publisher(mosquitto.port), group, "edge-1")
        reconnected.births(bd_seq=1, ts=second, temperature=21.0, speed=1500.0)
        expected = 4
    else:
        edge.ndeath(bd_seq=0)
        edge.births(bd_seq=1, ts=second, temperature=21.0, speed=1500.0)
        expected = 5
    assert _wait_for(lambda: _messages_in_batches(recorder) >= expected)
    _ingest_recorded(recorder, done, django_capture_on_commit_callbacks)

    speed = _current(press, "Motor.Speed")
    temperature = _current(node_equipment, "Temperature")
    assert (speed["value"], speed["stale_at"]) == (1500.0, None)
    assert (temperature["value"], temperature["stale_at"]) == (21.0, None)
    assert sparkplug_host.rebirths_requested == 0
    # The rebirth shows in the metrics (mes_sparkplug_births_total).
    nbirths, dbirths = (now - then for now, then in zip(_births(), births_before, strict=True))
    assert (nbirths, dbirths) == (2, 2)


def test_a_device_that_is_not_reborn_stays_stale_after_a_rebirth(
    host, mapped, group, mqtt_publisher, django_capture_on_commit_callbacks
):
    """The other side of the fix: only what the new session sends again is fresh."""
    _sparkplug_host, recorder = host
    node_equipment, press = mapped
    edge = EdgeNode(mqtt_publisher, group, "edge-1")
    first = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    edge.births(bd_seq=0, ts=first, temperature=20.0, speed=1490.0)
    assert _wait_for(lambda: _messages_in_batches(recorder) >= 2)
    done = _ingest_recorded(recorder, 0, django_capture_on_commit_callbacks)

    nbirth_only = _payload(
        ts=first + timedelta(seconds=1),
        seq=0,
        metrics=[
            ("bdSeq", None, UINT64, 0),
            ("Node Control/Rebirth", None, BOOLEAN, False),
            ("Temperature", 1, DOUBLE, 21.0),
        ],
    )
    mqtt_publisher.publish(edge.topic("NBIRTH"), nbirth_only)
    # No DBIRTH follows: once the reorder timeout has passed, the host marks the device.
    assert _wait_for(lambda: any(mark[2] == "press" for mark in recorder.collect("stale_marks")))
    _ingest_recorded(recorder, done, django_capture_on_commit_callbacks)

    assert _current(press, "Motor.Speed")["stale_at"] is not None
    assert _current(node_equipment, "Temperature")["stale_at"] is None


def test_a_ddeath_without_a_sequence_number_marks_the_device_stale_and_is_reported(
    host, mapped, group, mqtt_publisher, django_capture_on_commit_callbacks
):
    sparkplug_host, recorder = host
    _node_equipment, press = mapped
    edge = EdgeNode(mqtt_publisher, group, "edge-1")
    ts = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    edge.births(bd_seq=0, ts=ts, temperature=20.0, speed=1490.0)
    died = ts + timedelta(seconds=2)
    mqtt_publisher.publish(edge.topic("DDEATH", "press"), _payload(ts=died, seq=None))
    assert _wait_for(lambda: _messages_in_batches(recorder) >= 3)
    _ingest_recorded(recorder, 0, django_capture_on_commit_callbacks)

    speed = _current(press, "Motor.Speed")
    assert (speed["value"], speed["stale_at"]) == (1490.0, died)
    violation = DeadLetter.objects.get(reason_code="missing_sequence")
    assert violation.topic == f"spBv1.0/{group}/edge-1/press"
    assert "DDEATH" in violation.message
    # The node's stream is not declared broken for it: no rebirth request.
    assert sparkplug_host.rebirths_requested == 0
    status = sparkplug_host.session.node_status(group, "edge-1")
    assert status is not None and status.is_in_sync and status.device_ids == ()
