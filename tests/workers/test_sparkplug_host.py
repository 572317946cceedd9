"""The Sparkplug B host application against the real Mosquitto: STATE birth and Will, rebirth
requests, readings / current values / stale marks handed on, undecodable messages."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest

from workers.bridge.sparkplug import SparkplugHost, SparkplugHostSettings, deferred_resolve
from workers.mqtt.address import BrokerAddress
from workers.mqtt.sparkplug.decode import decode_payload
from workers.mqtt.sparkplug.encode import encode_data, encode_dbirth, encode_nbirth, encode_ndeath
from workers.mqtt.sparkplug.model import DataType, MessageType, SparkplugMetric
from workers.mqtt.sparkplug.session_model import (
    DataQualityReason,
    RebirthRequest,
    SessionOutput,
)
from workers.mqtt.sparkplug.topics import build_topic, host_state_topic

pytestmark = pytest.mark.timeout(60)


class Recorder:
    def __init__(self) -> None:
        self.batches: list[dict] = []
        self.deferred_messages = 0
        self.lock = threading.Lock()

    def __call__(self, batch_id: str, published_at_ms: int, **parts) -> None:
        deferred = parts.pop("deferred", ())
        tables = parts.pop("tables", ())
        if deferred:  # decode as the ingest worker does, so both modes record the same
            self.deferred_messages += len(deferred)
            parts["readings"], parts["current_values"], parts["quality_events"] = deferred_resolve(
                deferred,
                tables,
                parts["readings"],
                parts["current_values"],
                parts["quality_events"],
            )
        with self.lock:
            self.batches.append(parts)

    def collect(self, part: str) -> list:
        with self.lock:
            return [item for batch in self.batches for item in batch[part]]

    def flat(self, part: str) -> list[tuple]:
        """Chunks [group, node, device, names, types, ts, values, qualities, historical] as
        rows (device, name, value, historical)."""
        rows = []
        for chunk in self.collect(part):
            for name, value, historical in zip(chunk[3], chunk[6], chunk[8], strict=True):
                rows.append((chunk[2], name, value, historical))
        return rows


class Watcher:
    """Subscribes to topics and records (topic, payload, retain)."""

    def __init__(self, address: BrokerAddress, *topics: str) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"test-watch-{uuid.uuid4().hex[:12]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.on_message = lambda c, u, m: self.messages.append(
            (m.topic, m.payload, bool(m.retain))
        )
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.connect(address.host, address.port)
        self.client.loop_start()
        self.client.subscribe([(topic, 1) for topic in topics])
        assert subscribed.wait(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _wait_for(condition, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture
def group() -> str:
    return f"g{uuid.uuid4().hex[:10]}"


@pytest.fixture
def host_id() -> str:
    return f"test-host-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def clear_retained(mqtt_publisher):
    topics: list[str] = []
    yield topics
    for topic in topics:
        mqtt_publisher.publish(topic, b"", retain=True)


@pytest.fixture(params=[True, False], ids=["decode-in-workers", "decode-in-host"])
def defer(request) -> bool:
    """Both places data messages can be decoded: the results must be the same."""
    return request.param


def _host(
    address: BrokerAddress, host_id: str, group: str, recorder: Recorder, defer: bool = True
) -> SparkplugHost:
    host = SparkplugHost(
        SparkplugHostSettings(
            address=address,
            host_id=host_id,
            group_ids=(group,),
            batch_max_wait_s=0.05,
            defer_data_decoding=defer,
        ),
        recorder,
    )
    host.start()
    assert host.online_published.wait(10)
    return host


def test_the_host_publishes_a_retained_online_state_and_its_will_on_a_crash(
    broker_address, host_id, group, clear_retained
):
    topic = host_state_topic(host_id)
    clear_retained.append(topic)
    host = _host(broker_address, host_id, group, Recorder())
    watcher = Watcher(broker_address, topic)
    assert _wait_for(lambda: len(watcher.messages) == 1)
    online_topic, online_payload, online_retained = watcher.messages[0]
    online = json.loads(online_payload)
    assert (online_topic, online["online"], online_retained) == (topic, True, True)
    host.abort()
    assert _wait_for(lambda: len(watcher.messages) == 2, timeout_s=20)
    offline = json.loads(watcher.messages[1][1])
    assert offline == {"online": False, "timestamp": online["timestamp"]}
    watcher.close()


def test_a_clean_stop_publishes_the_offline_state(broker_address, host_id, group, clear_retained):
    topic = host_state_topic(host_id)
    clear_retained.append(topic)
    host = _host(broker_address, host_id, group, Recorder())
    assert host.stop() is True
    watcher = Watcher(broker_address, topic)
    assert _wait_for(lambda: len(watcher.messages) == 1)
    assert json.loads(watcher.messages[0][1])["online"] is False
    assert watcher.messages[0][2] is True  # retained
    watcher.close()


def test_data_before_a_birth_gets_exactly_one_rebirth_request(
    broker_address, host_id, group, mqtt_publisher, defer
):
    recorder = Recorder()
    host = _host(broker_address, host_id, group, recorder, defer)
    command_topic = build_topic(group, MessageType.NCMD, "edge-1")
    watcher = Watcher(broker_address, command_topic)
    now = datetime.now(UTC)
    metric = SparkplugMetric("Temperature", None, DataType.DOUBLE, 20.0)
    for seq in (1, 2, 3):
        mqtt_publisher.publish(
            build_topic(group, MessageType.NDATA, "edge-1"),
            encode_data(timestamp=now, seq=seq, metrics=[metric]),
        )
    assert _wait_for(lambda: len(watcher.messages) >= 1)
    time.sleep(0.5)
    assert _wait_for(lambda: len(recorder.collect("quality_events")) >= 3)
    host.stop()
    watcher.close()
    assert len(watcher.messages) == 1
    command = decode_payload(watcher.messages[0][1])
    assert [(m.name, m.value) for m in command.metrics] == [("Node Control/Rebirth", True)]
    reasons = {event[3] for event in recorder.collect("quality_events")}
    assert reasons == {"data_before_birth"}
    assert recorder.collect("readings") == []


def test_births_data_and_death_become_readings_current_values_and_stale_marks(
    broker_address, host_id, group, mqtt_publisher, defer
):
    recorder = Recorder()
    host = _host(broker_address, host_id, group, recorder, defer)
    now = datetime.now(UTC).replace(microsecond=0)
    node = "edge-1"
    mqtt_publisher.publish(
        build_topic(group, MessageType.NBIRTH, node),
        encode_nbirth(
            timestamp=now,
            bd_seq=0,
            metrics=[
                SparkplugMetric("Temperature", 1, DataType.DOUBLE, 20.5, now),
                SparkplugMetric("Mode", 2, DataType.STRING, "auto", now),
            ],
        ),
    )
    mqtt_publisher.publish(
        build_topic(group, MessageType.DBIRTH, node, "press"),
        encode_dbirth(
            timestamp=now,
            seq=1,
            metrics=[SparkplugMetric("Motor/Speed", 10, DataType.DOUBLE, 1490.0, now)],
        ),
    )
    later = now + timedelta(seconds=1)
    mqtt_publisher.publish(
        build_topic(group, MessageType.DDATA, node, "press"),
        encode_data(
            timestamp=later,
            seq=2,
            metrics=[
                SparkplugMetric(None, 10, DataType.DOUBLE, 1500.0, later),
                SparkplugMetric(
                    None,
                    10,
                    DataType.DOUBLE,
                    1400.0,
                    now - timedelta(seconds=5),
                    is_historical=True,
                ),
            ],
        ),
    )
    mqtt_publisher.publish(build_topic(group, MessageType.NDEATH, node), encode_ndeath(bd_seq=0))
    assert _wait_for(lambda: len(recorder.collect("stale_marks")) >= 2)
    host.stop()
    assert recorder.flat("readings") == [
        (None, "Temperature", 20.5, False),
        (None, "Mode", "auto", False),
        ("press", "Motor/Speed", 1490.0, False),
        ("press", "Motor/Speed", 1500.0, False),
        ("press", "Motor/Speed", 1400.0, True),
    ]
    # Only the latest live value of a metric per batch is handed on; never the historical one.
    current = recorder.flat("current_values")
    assert (None, "Temperature", 20.5, False) in current
    assert (None, "Mode", "auto", False) in current
    speeds = [value for device, name, value, _ in current if name == "Motor/Speed"]
    assert speeds[-1] == 1500.0
    assert 1400.0 not in speeds
    assert all(not historical for *_, historical in current)
    assert recorder.deferred_messages == (1 if defer else 0)  # the DDATA
    marks = sorted((mark[2] or "", tuple(mark[3])) for mark in recorder.collect("stale_marks"))
    assert marks == [("", ("Temperature", "Mode")), ("press", ("Motor/Speed",))]
    assert host.rebirths_requested == 0


def test_an_undecodable_message_is_handed_on_as_a_dead_letter(
    broker_address, host_id, group, mqtt_publisher, defer
):
    recorder = Recorder()
    host = _host(broker_address, host_id, group, recorder, defer)
    topic = build_topic(group, MessageType.NDATA, "edge-9")
    garbage = b"\xff\xff\xff not protobuf"
    mqtt_publisher.publish(topic, garbage)
    assert _wait_for(lambda: len(recorder.collect("dead_letters")) == 1)
    host.stop()
    dead_topic, reason, message, excerpt, size = recorder.collect("dead_letters")[0]
    assert (dead_topic, reason, excerpt, size) == (topic, "bad_protobuf", garbage, len(garbage))
    assert "Sparkplug" in message


# --- groups this host owns, and other hosts -------------------------------------------------


def test_the_host_subscribes_to_its_groups_and_its_own_state_only() -> None:
    address = BrokerAddress("127.0.0.1", 1883)

    owning = SparkplugHostSettings(address=address, host_id="mes", group_ids=("g1", "g2"))
    owning_nothing = SparkplugHostSettings(address=address, host_id="mes")

    assert owning.subscriptions() == ["spBv1.0/g1/#", "spBv1.0/g2/#", "spBv1.0/STATE/mes"]
    assert owning_nothing.subscriptions() == ["spBv1.0/STATE/mes"]


@pytest.mark.parametrize("group", ["", "STATE", "a/b", "a+", "#"])
def test_a_group_id_that_is_no_group_is_refused(group: str) -> None:
    with pytest.raises(ValueError, match="Sparkplug group id"):
        SparkplugHostSettings(
            address=BrokerAddress("127.0.0.1", 1883), host_id="mes", group_ids=(group,)
        )


def test_a_message_of_a_foreign_group_is_dropped_inside_the_host_too() -> None:
    """Defence in depth: should a foreign group's message reach the host (a wider
    subscription of the same client id, a broker bug), it is neither handled nor answered."""
    recorder = Recorder()
    host = SparkplugHost(
        SparkplugHostSettings(
            address=BrokerAddress("127.0.0.1", 1883), host_id="mes", group_ids=("mine",)
        ),
        recorder,
    )
    now = datetime.now(UTC)
    metric = SparkplugMetric("Temperature", None, DataType.DOUBLE, 20.0)
    host._handle(
        build_topic("theirs", MessageType.NDATA, "edge-1"),
        encode_data(timestamp=now, seq=1, metrics=[metric]),
        now,
    )
    host._handle(host_state_topic("other-host"), b'{"online": false, "timestamp": 1}', now)
    host._absorb(
        SessionOutput(
            rebirth_requests=(
                RebirthRequest("theirs", "edge-1", now, DataQualityReason.DATA_BEFORE_BIRTH),
            )
        )
    )

    assert host.ignored == 2
    assert host.rebirths_requested == 0
    assert host._pending.is_empty() and host._pending.message_count == 0


def test_a_foreign_groups_births_and_data_are_not_ingested_and_get_no_rebirth_request(
    broker_address, host_id, group, mqtt_publisher
):
    recorder = Recorder()
    host = _host(broker_address, host_id, group, recorder)
    foreign = f"{group}-foreign"
    watcher = Watcher(broker_address, "spBv1.0/+/NCMD/+")
    now = datetime.now(UTC).replace(microsecond=0)
    metric = SparkplugMetric("Temperature", 1, DataType.DOUBLE, 20.0, now)
    mqtt_publisher.publish_many(
        [
            # data before any birth: in an owned group this asks for a rebirth
            (
                build_topic(foreign, MessageType.NDATA, "edge-1"),
                encode_data(timestamp=now, seq=4, metrics=[metric]),
            ),
            (
                build_topic(foreign, MessageType.NBIRTH, "edge-2"),
                encode_nbirth(timestamp=now, bd_seq=0, metrics=[metric]),
            ),
            (
                build_topic(foreign, MessageType.DDATA, "edge-2", "dev"),
                encode_data(timestamp=now, seq=1, metrics=[metric]),
            ),
            # then the same in the host's own group: the rebirth request for it is the sign
            # that everything published before has been through the broker
            (
                build_topic(group, MessageType.NDATA, "edge-1"),
                encode_data(timestamp=now, seq=4, metrics=[metric]),
            ),
        ]
    )
    assert _wait_for(lambda: len(watcher.messages) >= 1)
    assert _wait_for(lambda: len(recorder.collect("quality_events")) >= 1)
    host.stop()
    watcher.close()

    assert [topic for topic, _payload, _retain in watcher.messages] == [
        build_topic(group, MessageType.NCMD, "edge-1")
    ]
    assert host.rebirths_requested == 1
    scopes = {(event[0], event[1]) for event in recorder.collect("quality_events")}
    assert scopes == {(group, "edge-1")}
    assert recorder.collect("readings") == []
    assert recorder.collect("current_values") == []
    assert recorder.collect("dead_letters") == []
    assert host.ignored == 0  # the others never reached the host


def test_another_hosts_state_is_ignored(
    broker_address, host_id, group, mqtt_publisher, clear_retained
):
    other_state = host_state_topic(f"{host_id}-other")
    own_state = host_state_topic(host_id)
    clear_retained.extend([other_state, own_state])
    # retained before the host starts, and live while it runs
    mqtt_publisher.publish(other_state, b'{"online": true, "timestamp": 1}', retain=True)
    recorder = Recorder()
    host = _host(broker_address, host_id, group, recorder)
    watcher = Watcher(broker_address, own_state)
    assert _wait_for(lambda: len(watcher.messages) == 1)  # the retained online STATE
    mqtt_publisher.publish(other_state, b'{"online": false, "timestamp": 2}', retain=True)
    mqtt_publisher.publish(other_state, b"not json")
    # a barrier: the host's own group answers data before birth with a rebirth request
    commands = Watcher(broker_address, build_topic(group, MessageType.NCMD, "edge-1"))
    mqtt_publisher.publish(
        build_topic(group, MessageType.NDATA, "edge-1"),
        encode_data(
            timestamp=datetime.now(UTC),
            seq=1,
            metrics=[SparkplugMetric("Temperature", None, DataType.DOUBLE, 20.0)],
        ),
    )
    assert _wait_for(lambda: len(commands.messages) == 1)
    host.stop()
    watcher.close()
    commands.close()

    assert host.ignored == 0  # it was not even delivered
    assert recorder.collect("dead_letters") == []  # "not json" would be one
    # its own STATE: the retained online one, then offline at the stop — never re-published
    # because of the other host's offline STATE
    assert [json.loads(payload)["online"] for _topic, payload, _r in watcher.messages] == [
        True,
        False,
    ]
