"""A minimal MQTT 3.1.1 client over a plain TCP socket — for load generation only.

Why not paho here: paho spends ~50–100 µs of Python per QoS 1 publish on a busy 2-core
machine, so a paho publisher caps at ~10 000 messages/s and cannot drive the ingest benchmark
(≥ 30 000 one-reading messages/s). This client pre-encodes PUBLISH packets and writes them in
large chunks, which reaches several times that rate. It does only what the load generator
needs: CONNECT (clean session, optional Will and user/password), PUBLISH QoS 0/1 with PUBACK
counting, SUBSCRIBE (for Sparkplug NCMD), received PUBLISH (acknowledged when QoS 1), PINGREQ,
DISCONNECT. No TLS, no reconnect, no MQTT 5: production code uses paho (the simulator, the
bridge).
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import time
from collections import deque
from typing import Final

__all__ = ["RawMqttClient", "RawMqttError"]

CONNACK_CODES: Final = {
    1: "unacceptable protocol version",
    2: "identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}
MAX_PACKET_ID: Final = 65_535


class RawMqttError(ConnectionError):
    """The broker refused, closed or broke the connection."""


def _remaining_length(length: int) -> bytes:
    out = bytearray()
    while True:
        digit, length = length % 128, length // 128
        out.append(digit | (0x80 if length else 0))
        if not length:
            return bytes(out)


def _string(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return struct.pack("!H", len(data)) + data


def _decode_length(buffer: bytearray, index: int) -> tuple[int, int] | None:
    """MQTT remaining length at ``index`` → (length, index after it); None if incomplete."""
    length, multiplier = 0, 1
    for offset in range(4):
        if index + offset >= len(buffer):
            return None
        digit = buffer[index + offset]
        length += (digit & 0x7F) * multiplier
        if not digit & 0x80:
            return length, index + offset + 1
        multiplier *= 128
    raise RawMqttError("malformed remaining length from the broker")


class RawMqttClient:
    """Publishes pre-encoded packets; counts PUBACKs; queues received messages."""

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        *,
        keepalive_s: int = 60,
        username: str | None = None,
        password: str | None = None,
        will: tuple[str, bytes, int] | None = None,
    ) -> None:
        self._address = (host, port)
        self._client_id = client_id
        self._keepalive_s = keepalive_s
        self._username = username
        self._password = password
        self._will = will
        self._socket: socket.socket | None = None
        self._inbound = bytearray()
        self._topic_fields: dict[str, bytes] = {}
        self._next_id = 0
        self._last_send = time.monotonic()
        self.sent_qos1 = 0
        self.acknowledged = 0
        self.received: deque[tuple[str, bytes]] = deque()

    @property
    def unacknowledged(self) -> int:
        return self.sent_qos1 - self.acknowledged

    # --- connection -----------------------------------------------------------------------------

    def connect(self, timeout_s: float = 10.0) -> None:
        try:
            sock = socket.create_connection(self._address, timeout=timeout_s)
        except OSError as error:
            raise RawMqttError(
                f"cannot reach the MQTT broker at mqtt://{self._address[0]}:{self._address[1]} "
                f"({error})"
            ) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        flags = 0x02  # clean session
        payload = _string(self._client_id)
        if self._will is not None:
            topic, message, qos = self._will
            flags |= 0x04 | (qos << 3)
            payload += _string(topic) + _string(message)
        if self._username is not None:
            flags |= 0x80
            payload += _string(self._username)
            if self._password is not None:
                flags |= 0x40
                payload += _string(self._password)
        variable = b"\x00\x04MQTT\x04" + bytes([flags]) + struct.pack("!H", self._keepalive_s)
        sock.sendall(b"\x10" + _remaining_length(len(variable) + len(payload)) + variable + payload)
        answer = b""
        while len(answer) < 4:
            chunk = sock.recv(4 - len(answer))
            if not chunk:
                raise RawMqttError("the broker closed the connection before CONNACK")
            answer += chunk
        if answer[0] != 0x20 or answer[3] != 0:
            reason = CONNACK_CODES.get(answer[3], f"code {answer[3]}")
            sock.close()
            raise RawMqttError(f"the broker refused the connection: {reason}")
        sock.setblocking(False)
        self._socket = sock
        self._last_send = time.monotonic()

    def disconnect(self) -> None:
        if self._socket is None:
            return
        with contextlib.suppress(OSError):
            self._send(b"\xe0\x00")
        self._socket.close()
        self._socket = None

    # --- packets --------------------------------------------------------------------------------

    def publish_packet(self, topic: str, payload: bytes, qos: int) -> bytes:
        """Encode one PUBLISH (QoS 0 or 1); QoS 1 takes the next packet id."""
        field = self._topic_fields.get(topic)
        if field is None:
            field = self._topic_fields[topic] = _string(topic)
        if qos == 0:
            return b"\x30" + _remaining_length(len(field) + len(payload)) + field + payload
        self._next_id = self._next_id % MAX_PACKET_ID + 1
        self.sent_qos1 += 1
        return (
            b"\x32"
            + _remaining_length(len(field) + 2 + len(payload))
            + field
            + struct.pack("!H", self._next_id)
            + payload
        )

    def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        self._next_id = self._next_id % MAX_PACKET_ID + 1
        body = struct.pack("!H", self._next_id) + _string(topic_filter) + bytes([qos])
        self._send(b"\x82" + _remaining_length(len(body)) + body)

    def send(self, packets: list[bytes]) -> None:
        """Write packets (blocking until written), reading the broker's answers meanwhile."""
        self._send(b"".join(packets))

    def _send(self, data: bytes) -> None:
        sock = self._require_socket()
        view = memoryview(data)
        while view:
            try:
                written = sock.send(view)
            except BlockingIOError:
                readable, _, _ = select.select([sock], [sock], [], 0.05)
                if readable:
                    self._read()
                continue
            except OSError as error:
                raise RawMqttError(f"lost the connection to the broker: {error}") from None
            view = view[written:]
        self._last_send = time.monotonic()

    def _require_socket(self) -> socket.socket:
        if self._socket is None:
            raise RawMqttError("not connected")
        return self._socket

    # --- inbound --------------------------------------------------------------------------------

    def poll(self, timeout_s: float = 0.0) -> None:
        """Read what the broker sent (up to ``timeout_s`` of waiting); ping when idle."""
        sock = self._require_socket()
        if time.monotonic() - self._last_send > self._keepalive_s / 2:
            self._send(b"\xc0\x00")
        readable, _, _ = select.select([sock], [], [], timeout_s)
        if readable:
            self._read()

    def _read(self) -> None:
        sock = self._require_socket()
        try:
            data = sock.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError as error:
            raise RawMqttError(f"lost the connection to the broker: {error}") from None
        if not data:
            raise RawMqttError("the broker closed the connection")
        self._inbound += data
        self._parse()

    def _parse(self) -> None:
        buffer = self._inbound
        position = 0
        acknowledgements: list[bytes] = []
        while len(buffer) - position >= 2:
            header = buffer[position]
            decoded = _decode_length(buffer, position + 1)
            if decoded is None:
                break  # remaining length not complete yet
            length, index = decoded
            end = index + length
            if end > len(buffer):
                break
            kind = header & 0xF0
            if kind == 0x40:  # PUBACK
                self.acknowledged += 1
            elif kind == 0x30:  # PUBLISH to us (Sparkplug NCMD)
                qos = (header >> 1) & 0x03
                topic_length = struct.unpack_from("!H", buffer, index)[0]
                topic = bytes(buffer[index + 2 : index + 2 + topic_length]).decode()
                start = index + 2 + topic_length
                if qos:
                    packet_id = bytes(buffer[start : start + 2])
                    acknowledgements.append(b"\x40\x02" + packet_id)
                    start += 2
                self.received.append((topic, bytes(buffer[start:end])))
            # CONNACK, SUBACK, PINGRESP: nothing to do.
            position = end
        del buffer[:position]
        for acknowledgement in acknowledgements:
            self._send(acknowledgement)
