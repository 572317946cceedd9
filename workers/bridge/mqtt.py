"""Shared MQTT plumbing of the bridge: client creation for a broker address.

No Django imports: the bridge classes get plain settings objects, so tests and benchmarks can
run them without a configured project."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from typing import Any

import paho.mqtt.client as mqtt

from workers.mqtt.address import BrokerAddress

# Fills the read buffer with one recv(); large enough for a burst of small messages.
READ_CHUNK_BYTES = 256 * 1024
# Packets handled per network-loop pass before paho gets to write (acks) and run its timers.
PACKETS_PER_PASS = 2000
_PUBACK = struct.Struct("!BBH")


class _ReadBufferedSocket:
    """The client's socket with a read buffer: paho reads each packet with three ``recv``
    calls (command byte, length bytes, body), one system call each; here one ``recv`` of up to
    ``READ_CHUNK_BYTES`` serves them all. ``pending()`` tells paho's loop that buffered bytes
    wait, as it does for TLS, so it does not block in ``select`` while packets sit here."""

    __slots__ = ("_buffer", "_offset", "_sock")

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buffer = b""
        self._offset = 0

    def recv(self, size: int) -> bytes:
        buffer = self._buffer
        offset = self._offset
        if offset >= len(buffer):
            buffer = self._sock.recv(READ_CHUNK_BYTES)  # BlockingIOError when nothing waits
            if not buffer:
                return b""  # the broker closed the connection
            offset = 0
        end = offset + size
        chunk = buffer[offset:end]
        self._buffer = buffer
        self._offset = min(end, len(buffer))
        return chunk

    def pending(self) -> int:
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return len(self._buffer) - self._offset + inner

    def send(self, data: bytes | bytearray) -> int:
        return self._sock.send(data)

    def close(self) -> None:
        self._sock.close()

    def fileno(self) -> int:
        return self._sock.fileno()

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class BridgeClient(mqtt.Client):
    """paho's client with two changes for throughput, everything else (protocol, sessions,
    reconnects, callbacks) paho's own:

    - reads are buffered (``_ReadBufferedSocket``) and one loop pass handles up to
      ``PACKETS_PER_PASS`` buffered packets instead of one;
    - ``puback_many`` acknowledges a whole batch of QoS 1 messages with one queued write
      instead of one packet, one wake-up and one ``send`` per message.

    Both use paho internals (``_create_socket``, ``_packet_queue``); paho is pinned and
    ``tests/workers/test_bridge_client.py`` checks them against a real broker."""

    #: Called as ``message_sink(topic, payload, mid, qos)`` from the network thread for plain
    #: QoS 1 messages (manual acknowledgement, no MQTT 5 properties) instead of building an
    #: ``MQTTMessage`` and its ``Properties`` and calling ``on_message``; every other message
    #: still goes through paho's own path to ``on_message``.
    message_sink: Callable[[str, bytes, int, int], None] | None = None

    def _handle_publish(self) -> mqtt.MQTTErrorCode:
        sink = self.message_sink
        header = self._in_packet["command"]
        if sink is None or (header & 0x06) != 0x02 or not self._manual_ack:
            return super()._handle_publish()
        packet = self._in_packet["packet"]
        topic_end = 2 + ((packet[0] << 8) | packet[1]) if len(packet) >= 2 else 0
        # QoS 1 in MQTT 5: topic, packet id, properties length; 0 means none (no topic alias).
        if (
            self._protocol != mqtt.MQTTv5
            or topic_end <= 2
            or len(packet) < topic_end + 3
            or packet[topic_end + 2] != 0
        ):
            return super()._handle_publish()
        try:
            topic = packet[2:topic_end].decode()
        except UnicodeDecodeError:
            return super()._handle_publish()
        sink(
            topic,
            bytes(packet[topic_end + 3 :]),
            (packet[topic_end] << 8) | packet[topic_end + 1],
            1,
        )
        return mqtt.MQTT_ERR_SUCCESS

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        if self._transport == "websockets":
            return sock
        return _ReadBufferedSocket(sock)

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        result = super().loop_read(max_packets)
        passes = 1
        while (
            result == mqtt.MQTT_ERR_SUCCESS
            and passes < PACKETS_PER_PASS
            and isinstance(self._sock, _ReadBufferedSocket)
            and self._sock.pending()
        ):
            result = super().loop_read(max_packets)
            passes += 1
        return result

    def puback_many(self, mids: Iterable[int]) -> mqtt.MQTTErrorCode:
        """Acknowledge QoS 1 messages (``manual_ack``) by packet id, in one write."""
        pack = _PUBACK.pack
        packet = b"".join([pack(mqtt.PUBACK, 2, mid) for mid in mids])
        if not packet:
            return mqtt.MQTT_ERR_SUCCESS
        if self._sock is None:
            return mqtt.MQTT_ERR_NO_CONN
        return self._packet_queue(mqtt.PUBACK, packet, 0, 1)


def client_create(
    address: BrokerAddress, *, client_id: str, manual_ack: bool = False
) -> BridgeClient:
    """A paho 2 client (VERSION2 callbacks, MQTT 5) with credentials, TLS and a reconnect
    backoff of 1 s doubling to 30 s."""
    client = BridgeClient(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=manual_ack,
    )
    if address.username is not None:
        client.username_pw_set(address.username, address.password)
    context = address.tls_context()
    if context is not None:
        client.tls_set_context(context)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client
