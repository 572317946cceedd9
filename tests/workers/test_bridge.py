"""The UNS bridge against the real Mosquitto: batching, acknowledgement only after the batch
was handed on, redelivery after a crash, persistent sessions, shared subscriptions,
reconnects. The Celery hand-off is replaced by a recording callable."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from workers.bridge.uns import UnsBatch, UnsBridge, UnsBridgeSettings
from workers.mqtt.address import BrokerAddress

pytestmark = pytest.mark.timeout(60)


class Recorder:
    def __init__(self, *, failures: int = 0) -> None:
        self.batches: list[UnsBatch] = []
        self.attempts: list[str] = []
        self.failures = failures
        self.lock = threading.Lock()

    def __call__(self, batch: UnsBatch) -> None:
        with self.lock:
            self.attempts.append(batch.batch_id)
            if self.failures:
                self.failures -= 1
                raise ConnectionError("Celery broker unavailable")
            self.batches.append(batch)

    def payloads(self) -> list[bytes]:
        return [payload for batch in self.batches for _topic, payload in batch.messages]


def _settings(address: BrokerAddress, root: str, client_id: str, **overrides) -> UnsBridgeSettings:
    values = {
        "address": address,
        "client_id": client_id,
        "topic_filters": (f"{root}/#",),
        "session_expiry_s": 120,
        "batch_max_messages": 1000,
        "batch_max_wait_s": 0.2,
    }
    values.update(overrides)
    return UnsBridgeSettings(**values)


def _started(settings: UnsBridgeSettings, publish) -> UnsBridge:
    bridge = UnsBridge(settings, publish)
    bridge.start()
    assert bridge.subscribed.wait(10), "the bridge did not subscribe"
    return bridge


def _wait_for(condition, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture
def root() -> str:
    return f"test-{uuid.uuid4().hex}"


@pytest.fixture
def client_id() -> str:
    return f"test-bridge-{uuid.uuid4().hex[:12]}"


def _messages(root: str, count: int, start: int = 0) -> list[tuple[str, bytes]]:
    return [
        (f"{root}/e/s/a/l/c/m/v", f"m{index}".encode()) for index in range(start, start + count)
    ]


def _forget_session(settings: UnsBridgeSettings) -> None:
    """End the test's persistent session on the broker (clean start, expiry 0)."""
    from workers.bridge.mqtt import client_create

    client = client_create(settings.address, client_id=settings.client_id)
    client.connect(settings.address.host, settings.address.port, clean_start=True)
    client.disconnect()


def test_batches_close_at_the_message_limit_and_everything_is_acknowledged(
    broker_address, root, client_id, mqtt_publisher
):
    settings = _settings(
        broker_address, root, client_id, batch_max_messages=50, batch_max_wait_s=30.0
    )
    recorder = Recorder()
    bridge = _started(settings, recorder)
    mqtt_publisher.publish_many(_messages(root, 120))
    assert _wait_for(lambda: len(recorder.batches) == 2 and bridge.stats.received == 120)
    assert bridge.stop() is True  # the drain hands on the open batch of 20
    assert [len(batch.messages) for batch in recorder.batches] == [50, 50, 20]
    assert recorder.payloads() == [f"m{index}".encode() for index in range(120)]
    assert bridge.stats.acknowledged == 120
    # Everything was acknowledged: the persistent session has nothing to redeliver.
    again = Recorder()
    second = _started(settings, again)
    time.sleep(1.0)
    second.stop()
    assert again.batches == []
    _forget_session(settings)


def test_a_batch_closes_after_the_wait_time(broker_address, root, client_id, mqtt_publisher):
    settings = _settings(
        broker_address, root, client_id, batch_max_messages=1000, batch_max_wait_s=0.3
    )
    recorder = Recorder()
    bridge = _started(settings, recorder)
    started = time.monotonic()
    mqtt_publisher.publish_many(_messages(root, 5))
    assert _wait_for(lambda: len(recorder.batches) == 1)
    waited_s = time.monotonic() - started
    bridge.stop()
    assert [len(batch.messages) for batch in recorder.batches] == [5]
    assert waited_s >= 0.3
    _forget_session(settings)


def test_a_failed_hand_off_is_retried_with_the_same_batch_and_acknowledged_after(
    broker_address, root, client_id, mqtt_publisher
):
    settings = _settings(broker_address, root, client_id)
    recorder = Recorder(failures=2)
    bridge = _started(settings, recorder)
    mqtt_publisher.publish_many(_messages(root, 10))
    assert _wait_for(lambda: len(recorder.batches) == 1)
    bridge.stop()
    assert len(recorder.attempts) == 3
    assert len(set(recorder.attempts)) == 1  # the same batch id every time
    assert recorder.payloads() == [f"m{index}".encode() for index in range(10)]
    assert bridge.stats.publish_failures == 2
    assert bridge.stats.acknowledged == 10
    _forget_session(settings)


def test_messages_not_handed_on_before_a_crash_are_redelivered(
    broker_address, root, client_id, mqtt_publisher
):
    settings = _settings(broker_address, root, client_id)
    failing = Recorder(failures=10**6)
    crashed = _started(settings, failing)
    mqtt_publisher.publish_many(_messages(root, 10))
    assert _wait_for(lambda: len(failing.attempts) >= 1)
    crashed.abort()
    assert crashed.stats.acknowledged == 0
    recorder = Recorder()
    restarted = _started(settings, recorder)
    assert _wait_for(lambda: len(recorder.payloads()) >= 10)
    restarted.stop()
    assert sorted(recorder.payloads()) == sorted(f"m{index}".encode() for index in range(10))
    _forget_session(settings)


def test_messages_published_while_the_bridge_is_stopped_wait_in_its_session(
    broker_address, root, client_id, mqtt_publisher
):
    settings = _settings(broker_address, root, client_id)
    first = _started(settings, Recorder())
    first.stop()
    mqtt_publisher.publish_many(_messages(root, 25))
    recorder = Recorder()
    second = _started(settings, recorder)
    assert _wait_for(lambda: len(recorder.payloads()) == 25)
    second.stop()
    assert recorder.payloads() == [f"m{index}".encode() for index in range(25)]
    _forget_session(settings)


def test_bridges_on_a_shared_subscription_split_the_messages(broker_address, root, mqtt_publisher):
    group = f"g{uuid.uuid4().hex[:8]}"
    recorders = [Recorder(), Recorder()]
    settings = [
        _settings(broker_address, root, f"test-bridge-{uuid.uuid4().hex[:12]}", shared_group=group)
        for _ in recorders
    ]
    bridges = [_started(item, recorder) for item, recorder in zip(settings, recorders, strict=True)]
    assert settings[0].subscriptions() == [f"$share/{group}/{root}/#"]
    mqtt_publisher.publish_many(_messages(root, 200))
    assert _wait_for(lambda: sum(len(r.payloads()) for r in recorders) == 200)
    for bridge in bridges:
        bridge.stop()
    first, second = (set(recorder.payloads()) for recorder in recorders)
    assert first.isdisjoint(second)
    assert first | second == {f"m{index}".encode() for index in range(200)}
    assert first and second
    for item in settings:
        _forget_session(item)


def test_payloads_over_the_limit_travel_as_an_excerpt_with_their_size(
    broker_address, root, client_id, mqtt_publisher
):
    settings = _settings(broker_address, root, client_id, max_payload_bytes=1000, excerpt_bytes=100)
    recorder = Recorder()
    bridge = _started(settings, recorder)
    big = b"{" + b"x" * (1024 * 1024)
    mqtt_publisher.publish_many([(f"{root}/e/s/a/l/c/m/v", big), (f"{root}/e/s/a/l/c/m/v", b"ok")])
    assert _wait_for(lambda: len(recorder.payloads()) == 2)
    bridge.stop()
    batch = recorder.batches[0]
    assert batch.messages[0][1] == big[:100]
    assert batch.oversize == [[0, len(big)]]
    assert batch.messages[1][1] == b"ok"
    _forget_session(settings)


def test_the_bridge_reconnects_after_a_broker_restart(
    own_broker, root, client_id, make_mqtt_publisher
):
    settings = _settings(BrokerAddress(own_broker.host, own_broker.port), root, client_id)
    recorder = Recorder()
    bridge = _started(settings, recorder)
    publisher = make_mqtt_publisher(own_broker.port)
    publisher.publish_many(_messages(root, 5))
    assert _wait_for(lambda: len(recorder.payloads()) == 5)
    own_broker.kill()
    assert _wait_for(lambda: not bridge.connected.is_set())
    own_broker.start()  # no persistence: the bridge must subscribe again on its own
    assert _wait_for(lambda: bridge.subscribed.is_set(), timeout_s=40)
    publisher = make_mqtt_publisher(own_broker.port)
    publisher.publish_many(_messages(root, 5, start=5))
    assert _wait_for(lambda: len(recorder.payloads()) == 10)
    bridge.stop()
    assert recorder.payloads() == [f"m{index}".encode() for index in range(10)]
    assert bridge.stats.connects == 2
