"""Store and forward: every message goes to the disk buffer first, and leaves it only when
the broker acknowledged it.

``publish`` appends and ``pump`` sends: while the broker is reachable, the buffer's head goes
out in order with at most ``max_inflight`` unacknowledged QoS 1 messages; a PUBACK removes its
message. When the broker goes away, the messages keep piling up on disk (bounded, see
``DiskBuffer``); once paho has reconnected, the backlog leaves oldest first, and what is
appended meanwhile simply queues behind it — new data keeps flowing, in order. A message sent
but not acknowledged before a disconnect is sent again: delivery is at least once, and the
MES's store keeps each reading once (its key is signal and timestamp).

paho runs its network thread; its callbacks only record events (connected, acknowledged
message ids) that ``pump`` — always called from the agent's own thread — applies."""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from typing import Any

from paho.mqtt.enums import MQTTErrorCode

from connectors.runtime.edge.buffer import DiskBuffer
from connectors.runtime.mqtt import mqtt_client
from workers.mqtt.address import BrokerAddress

logger = logging.getLogger("connectors.edge")


class StoreAndForward:
    def __init__(
        self,
        address: BrokerAddress,
        buffer: DiskBuffer,
        *,
        client_id: str | None = None,
        max_inflight: int = 100,
        keepalive_s: int = 10,
    ) -> None:
        self.address = address
        self.buffer = buffer
        self.max_inflight = max_inflight
        self.client = mqtt_client(
            address, client_id=client_id or f"mes-edge-{uuid.uuid4().hex[:8]}"
        )
        self.client.max_inflight_messages_set(max_inflight)
        self.client.reconnect_delay_set(min_delay=1, max_delay=10)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self._keepalive_s = keepalive_s
        self.connected = threading.Event()
        self._connection_number = 0  # bumped by every (re)connect, read by pump
        self._pumped_connection = 0
        self._acknowledged: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._early_acks: set[int] = set()
        self._inflight: dict[int, int] = {}  # paho message id → buffer id
        self._last_sent_id = 0
        self.sent = 0

    # --- paho's thread ----------------------------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            logger.warning("broker %s refused the connection: %s", self.address, reason_code)
            return
        self._connection_number += 1
        self.connected.set()
        logger.info("connected to %s; %d message(s) buffered", self.address, len(self.buffer))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self.connected.is_set():
            logger.warning("lost the broker %s (%s): buffering on disk", self.address, reason_code)
        self.connected.clear()

    def _on_publish(self, client, userdata, mid: int, reason_code: Any, properties) -> None:
        self._acknowledged.put(mid)

    # --- the agent's thread -----------------------------------------------------------------

    def start(self) -> StoreAndForward:
        self.client.connect_async(self.address.host, self.address.port, keepalive=self._keepalive_s)
        self.client.loop_start()
        return self

    def stop(self) -> None:
        self.connected.clear()  # a disconnect of our own is not a lost broker
        self.client.disconnect()
        self.client.loop_stop()
        self.buffer.close()

    def publish(self, topic: str, payload: bytes) -> None:
        self.buffer.append(topic, payload)
        self.pump()

    def pump(self) -> None:
        acknowledged = set(self._early_acks)
        while True:
            try:
                acknowledged.add(self._acknowledged.get_nowait())
            except queue.Empty:
                break
        done = [self._inflight.pop(mid) for mid in list(acknowledged) if mid in self._inflight]
        self._early_acks = acknowledged - set(self._inflight) - set(done)
        self.buffer.remove(done)
        self.sent += len(done)
        if self._pumped_connection != self._connection_number:
            # A new connection: what was in flight on the old one is sent again, in order.
            self._pumped_connection = self._connection_number
            self._inflight.clear()
            self._early_acks.clear()
            self._last_sent_id = 0
        if not self.connected.is_set():
            return
        room = self.max_inflight - len(self._inflight)
        if room <= 0:
            return
        for message in self.buffer.head(room, after_id=self._last_sent_id):
            info = self.client.publish(message.topic, message.payload, qos=1)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break  # disconnected meanwhile: it stays in the buffer
            self._inflight[info.mid] = message.id
            self._last_sent_id = message.id
            if info.mid in self._early_acks:  # acknowledged before it was recorded
                self._early_acks.discard(info.mid)
                self.buffer.remove([self._inflight.pop(info.mid)])
                self.sent += 1

    def drain(self, timeout_s: float) -> bool:
        """Pump until the buffer is empty or ``timeout_s`` passed; True if empty."""
        deadline = threading.Event()
        timer = threading.Timer(timeout_s, deadline.set)
        timer.start()
        try:
            while len(self.buffer) and not deadline.is_set():
                self.pump()
                deadline.wait(0.01)
        finally:
            timer.cancel()
        return not len(self.buffer)
