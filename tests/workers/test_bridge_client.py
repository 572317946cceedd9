"""The bridge's paho client (``BridgeClient``): buffered reads, the plain-message fast path and
acknowledgement of a whole batch in one write, against the real Mosquitto."""

from __future__ import annotations

import socket
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from workers.bridge.mqtt import READ_CHUNK_BYTES, _ReadBufferedSocket, client_create
from workers.mqtt.address import BrokerAddress

pytestmark = pytest.mark.timeout(60)


def _wait_for(condition, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


class Subscriber:
    """A ``BridgeClient`` with manual acks that records what arrives, and by which path."""

    def __init__(
        self,
        address: BrokerAddress,
        topic_filter: str,
        client_id: str,
        *,
        clean_start: bool = True,
        ack: bool = False,
    ) -> None:
        self.plain: list[tuple[str, bytes, int]] = []
        self.messages: list[mqtt.MQTTMessage] = []
        self.subscribed = threading.Event()
        self.ack = ack
        self.client = client_create(address, client_id=client_id, manual_ack=True)
        self.client.message_sink = self._on_plain
        self.client.on_message = lambda client, userdata, message: self.messages.append(message)
        self.client.on_connect = lambda client, *args: client.subscribe(topic_filter, qos=1)
        self.client.on_subscribe = lambda *args: self.subscribed.set()
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 0 if clean_start else 120
        self.client.connect(
            address.host, address.port, clean_start=clean_start, properties=properties
        )
        self.client.loop_start()
        assert self.subscribed.wait(10)

    def _on_plain(self, topic: str, payload: bytes, mid: int, qos: int) -> None:
        self.plain.append((topic, payload, mid))
        if self.ack:  # the broker holds only a few unacknowledged messages in flight
            self.client.puback_many([mid])

    def close(self, *, abrupt: bool = False) -> None:
        if abrupt:  # no DISCONNECT: as if the process died
            self.client.loop_stop()
            self.client.socket().close()
            return
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def root() -> str:
    return f"test-client-{uuid.uuid4().hex[:12]}"


def test_a_burst_of_mixed_sizes_arrives_whole_and_in_order(broker_address, root, mqtt_publisher):
    subscriber = Subscriber(broker_address, f"{root}/#", f"test-{uuid.uuid4().hex[:12]}", ack=True)
    # Small messages many to a read, and payloads that span several reads of the buffer.
    sizes = [1, 10, 200, READ_CHUNK_BYTES - 7, 3, READ_CHUNK_BYTES * 2 + 11, 0, 5000]
    payloads = [bytes([index % 251]) * size for index, size in enumerate(sizes * 40)]
    payloads += [f"{index}".encode() for index in range(3000)]
    messages = [(f"{root}/m/{index % 7}", p) for index, p in enumerate(payloads)]
    # In bursts of 500: the broker keeps at most 1,000 messages queued for a session
    # (Mosquitto's default) and drops the rest when a loaded machine slows the subscriber.
    for start in range(0, len(messages), 500):
        mqtt_publisher.publish_many(messages[start : start + 500])
        done = min(start + 500, len(messages))
        assert _wait_for(lambda done=done: len(subscriber.plain) == done)
    subscriber.close()
    assert [payload for _topic, payload, _mid in subscriber.plain] == payloads
    assert [topic for topic, _payload, _mid in subscriber.plain] == [
        f"{root}/m/{index % 7}" for index in range(len(payloads))
    ]
    assert subscriber.messages == []  # all plain: none needed paho's message object


def test_a_message_with_mqtt5_properties_goes_through_paho_with_its_properties(
    broker_address, root, mqtt_publisher
):
    subscriber = Subscriber(broker_address, f"{root}/#", f"test-{uuid.uuid4().hex[:12]}")
    properties = Properties(PacketTypes.PUBLISH)
    properties.ContentType = "application/json"
    properties.UserProperty = ("line", "L1")
    mqtt_publisher.client.publish(f"{root}/a", b"plain", qos=1).wait_for_publish(10)
    mqtt_publisher.client.publish(
        f"{root}/b", b"with properties", qos=1, properties=properties
    ).wait_for_publish(10)
    mqtt_publisher.client.publish(f"{root}/c", b"qos 0", qos=0).wait_for_publish(10)
    assert _wait_for(lambda: len(subscriber.plain) + len(subscriber.messages) == 3)
    subscriber.close()
    assert [(topic, payload) for topic, payload, _mid in subscriber.plain] == [
        (f"{root}/a", b"plain")
    ]
    by_topic = {message.topic: message for message in subscriber.messages}
    assert by_topic[f"{root}/b"].payload == b"with properties"
    assert by_topic[f"{root}/b"].properties.ContentType == "application/json"
    assert by_topic[f"{root}/b"].properties.UserProperty == [("line", "L1")]
    assert by_topic[f"{root}/c"].qos == 0


def test_puback_many_acknowledges_exactly_the_messages_it_names(
    broker_address, root, mqtt_publisher
):
    client_id = f"test-{uuid.uuid4().hex[:12]}"
    first = Subscriber(broker_address, f"{root}/#", client_id, clean_start=False)
    # Fewer than the broker keeps in flight unacknowledged (Mosquitto's default: 20).
    mqtt_publisher.publish_many([(f"{root}/m", f"m{index}".encode()) for index in range(16)])
    assert _wait_for(lambda: len(first.plain) == 16)
    acknowledged = first.plain[::2]
    first.client.puback_many([mid for _topic, _payload, mid in acknowledged])
    # The broker answers in order: once it confirms this UNSUBSCRIBE it has read the PUBACKs.
    answered = threading.Event()
    first.client.on_unsubscribe = lambda *args: answered.set()
    first.client.unsubscribe(f"{root}/never-subscribed")
    assert answered.wait(10)
    first.close(abrupt=True)

    second = Subscriber(broker_address, f"{root}/#", client_id, clean_start=False)
    expected = sorted(payload for _topic, payload, _mid in first.plain[1::2])
    assert _wait_for(lambda: len(second.plain) >= len(expected))
    time.sleep(0.3)  # nothing else may come back
    second.client.puback_many([mid for _topic, _payload, mid in second.plain])
    second.close()
    assert sorted(payload for _topic, payload, _mid in second.plain) == expected
    forget = client_create(broker_address, client_id=client_id)
    forget.connect(broker_address.host, broker_address.port, clean_start=True)
    forget.disconnect()


def test_puback_many_of_nothing_sends_nothing(broker_address):
    client = client_create(
        broker_address, client_id=f"test-{uuid.uuid4().hex[:12]}", manual_ack=True
    )
    assert client.puback_many([]) == mqtt.MQTT_ERR_SUCCESS
    assert client.puback_many([1]) == mqtt.MQTT_ERR_NO_CONN  # not connected: refused


def test_the_read_buffer_serves_partial_reads_reports_pending_bytes_and_end_of_stream():
    left, right = socket.socketpair()
    buffered = _ReadBufferedSocket(left)
    buffered.setblocking(False)
    with pytest.raises(BlockingIOError):
        buffered.recv(1)
    right.sendall(b"abcdefgh")
    assert _wait_for(lambda: _readable(left))
    assert buffered.recv(1) == b"a"
    assert buffered.pending() == 7
    assert buffered.recv(3) == b"bcd"
    assert buffered.recv(100) == b"efgh"  # what is buffered, not more
    assert buffered.pending() == 0
    right.close()
    assert _wait_for(lambda: _readable(left))
    assert buffered.recv(1) == b""
    buffered.close()


def _readable(sock: socket.socket) -> bool:
    import select

    return bool(select.select([sock], [], [], 0)[0])
