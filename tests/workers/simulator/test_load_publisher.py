"""bench/ingest/publisher.py, the ingest benchmark's load generator: it speaks the contract."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from bench.ingest.publisher import JsonLoad, SparkplugLoad, load_topology, publish_load
from workers.mqtt.address import parse_broker_url
from workers.mqtt.sparkplug.decode import decode_message
from workers.mqtt.sparkplug.encode import encode_rebirth_command
from workers.mqtt.sparkplug.session import SparkplugHostSession
from workers.mqtt.uns import UnsDecoder

NOW_MS = 1_735_718_400_000


def test_single_reading_messages_decode_with_strictly_increasing_timestamps_per_signal() -> None:
    topology = load_topology(root="bench/x", equipment_count=2, signals_per_equipment=3)
    load = JsonLoad(topology, "single", batch_size=1)
    decoder = UnsDecoder(root="bench/x")

    messages = [load.next(NOW_MS) for _ in range(60)]  # the clock does not move

    last: dict[tuple[str, str], datetime] = {}
    for topic, payload, ts_ms in messages:
        (reading,) = decoder.decode(topic, payload)
        key = (reading.equipment_path, reading.signal)
        assert key not in last or reading.ts > last[key]
        last[key] = reading.ts
        assert round(reading.ts.timestamp() * 1000) == ts_ms
        assert isinstance(reading.value, float)
    assert sorted(last) == [
        (path, name) for path in topology.equipment_paths for name in ("s000", "s001", "s002")
    ]
    assert load.readings_per_message == 1


def test_batches_carry_batch_size_readings_of_the_declared_signals() -> None:
    topology = load_topology(root="bench", equipment_count=2, signals_per_equipment=100)
    load = JsonLoad(topology, "batch", batch_size=50)
    decoder = UnsDecoder(root="bench")

    decoded = [decoder.decode(*load.next(NOW_MS)[:2]) for _ in range(4)]

    assert [len(readings) for readings in decoded] == [50, 50, 50, 50]
    assert [readings[0].signal for readings in decoded] == ["s000", "s050", "s000", "s050"]
    assert decoded[0][0].equipment_path == "bench/site1/area1/line1/cell000/eq000"
    assert decoded[2][0].equipment_path == "bench/site1/area1/line1/cell001/eq001"
    with pytest.raises(ValueError, match="not a multiple"):
        JsonLoad(topology, "batch", batch_size=30)


def test_sparkplug_ddata_resolve_in_the_host_session() -> None:
    topology = load_topology(equipment_count=3, signals_per_equipment=100)
    load = SparkplugLoad(topology)
    session = SparkplugHostSession()
    received = datetime.fromtimestamp(NOW_MS / 1000, UTC)

    messages = load.births(NOW_MS) + [load.next(NOW_MS) for _ in range(600)]

    readings = 0
    for topic, payload, _ in messages:
        output = session.handle(decode_message(topic, payload), received_at=received)
        assert not output.data_quality_events and not output.rebirth_requests
        readings += len(output.readings)
    assert readings == 600 * 100  # the births carry nulls (no value yet): nothing stored
    assert load.readings_per_message == 100


@pytest.mark.integration
def test_publish_load_delivers_every_message_it_counts(mosquitto) -> None:
    root = f"benchtest-{uuid.uuid4().hex}"
    endpoint = parse_broker_url(mosquitto.url)
    received: list[bytes] = []
    subscribed = threading.Event()
    subscriber = mqtt.Client(CallbackAPIVersion.VERSION2)
    subscriber.on_connect = lambda client, *_: client.subscribe(f"{root}/#", qos=1)
    subscriber.on_subscribe = lambda *_: subscribed.set()
    subscriber.on_message = lambda client, userdata, message: received.append(message.payload)
    subscriber.connect(endpoint.host, endpoint.port)
    subscriber.loop_start()
    try:
        assert subscribed.wait(10)
        report = publish_load(
            mqtt_url=mosquitto.url,
            mode="batch",
            readings_per_s=20_000,
            duration_s=1.0,
            topology=load_topology(root=root, equipment_count=4, signals_per_equipment=100),
        )
        deadline = time.monotonic() + 20
        while len(received) < report.messages and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        subscriber.disconnect()
        subscriber.loop_stop()

    assert report.dropped == 0
    assert report.messages > 0
    assert report.readings == report.messages * 100
    assert report.acknowledged == report.messages
    assert len(received) == report.messages


@pytest.mark.integration
def test_the_sparkplug_load_answers_a_rebirth_command_and_dies_cleanly(mosquitto) -> None:
    group = f"benchtest-{uuid.uuid4().hex[:12]}"
    endpoint = parse_broker_url(mosquitto.url)
    received: list[str] = []
    subscribed = threading.Event()
    helper = mqtt.Client(CallbackAPIVersion.VERSION2)
    helper.on_connect = lambda client, *_: client.subscribe(f"spBv1.0/{group}/#", qos=1)
    helper.on_subscribe = lambda *_: subscribed.set()
    helper.on_message = lambda client, userdata, message: received.append(message.topic)
    helper.connect(endpoint.host, endpoint.port)
    helper.loop_start()
    topology = load_topology(
        equipment_count=2, signals_per_equipment=10, sparkplug_group=group, sparkplug_node="n1"
    )
    nbirth = f"spBv1.0/{group}/NBIRTH/n1"

    def rebirth_when_born() -> None:
        deadline = time.monotonic() + 20
        while nbirth not in received and time.monotonic() < deadline:
            time.sleep(0.02)
        command = encode_rebirth_command(timestamp=datetime.now(UTC))
        helper.publish(f"spBv1.0/{group}/NCMD/n1", command, qos=1)

    try:
        assert subscribed.wait(10)
        requester = threading.Thread(target=rebirth_when_born)
        requester.start()
        report = publish_load(
            mqtt_url=mosquitto.url,
            mode="sparkplug",
            readings_per_s=2_000,
            duration_s=3.0,
            topology=topology,
        )
        requester.join()
        deadline = time.monotonic() + 20
        while f"spBv1.0/{group}/NDEATH/n1" not in received and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        helper.disconnect()
        helper.loop_stop()

    assert received.count(nbirth) == 2  # the first birth and the answer to the NCMD
    assert received.count(f"spBv1.0/{group}/DBIRTH/n1/eq000") == 2
    assert (
        received.count(f"spBv1.0/{group}/DDATA/n1/eq000")
        + received.count(f"spBv1.0/{group}/DDATA/n1/eq001")
        == report.messages
    )
    assert received[-1] == f"spBv1.0/{group}/NDEATH/n1"
