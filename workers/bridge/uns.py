"""The UNS side of the bridge: a persistent MQTT 5 subscriber that hands batches to Celery.

Delivery: QoS 1, a fixed client id, ``clean_start=False`` with a session expiry (the broker
keeps the subscription and queues messages while the bridge is away), and manual
acknowledgement — a message is acknowledged only after the batch holding it was accepted by
the Celery broker (the publish call returned). A crash before that leaves the messages
unacknowledged; the broker redelivers them on reconnect, and the idempotent store drops the
duplicates.

Threads: paho's network thread runs ``on_message``, which only appends to a deque; one
batcher thread closes batches at ``batch_max_messages`` messages, ``batch_max_bytes`` bytes or
``batch_max_wait_s`` after the batch's first message, publishes each batch (retrying with a
backoff while the Celery broker is down — nothing is acknowledged meanwhile, and the MQTT
receive maximum bounds what piles up), then acknowledges its messages in arrival order.
Acknowledgements are tied to the connection they arrived on: after a reconnect the broker
redelivers what the old connection did not acknowledge, so old packet ids are never acked on
the new connection.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from mes_site.metrics import BRIDGE_CONNECTED, BRIDGE_MESSAGES_RECEIVED
from workers.bridge.mqtt import client_create
from workers.mqtt.address import BrokerAddress

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UnsBatch:
    batch_id: str
    published_at_ms: int
    messages: list[list[Any]]  # [[topic, payload bytes], ...]
    oversize: list[list[int]]  # [[index, original size], ...] of payloads cut to an excerpt
    byte_count: int


PublishBatch = Callable[[UnsBatch], None]


@dataclass(frozen=True)
class UnsBridgeSettings:
    address: BrokerAddress
    client_id: str
    topic_filters: tuple[str, ...]
    shared_group: str | None = None
    session_expiry_s: int = 86400
    receive_maximum: int = 20000
    keepalive_s: int = 30
    batch_max_messages: int = 2000
    batch_max_wait_s: float = 0.1
    batch_max_bytes: int = 4 * 1024 * 1024
    max_payload_bytes: int = 256 * 1024
    excerpt_bytes: int = 512
    publish_retry_max_s: float = 10.0

    def subscriptions(self) -> list[str]:
        if self.shared_group:
            return [f"$share/{self.shared_group}/{topic}" for topic in self.topic_filters]
        return list(self.topic_filters)


@dataclass
class BridgeStats:
    received: int = 0
    batches: int = 0
    published: int = 0
    acknowledged: int = 0
    publish_failures: int = 0
    connects: int = 0
    started_at: float = field(default_factory=time.monotonic)


class UnsBridge:
    def __init__(self, settings: UnsBridgeSettings, publish: PublishBatch) -> None:
        if not settings.topic_filters:
            raise ValueError("the UNS bridge needs at least one topic filter")
        if not 1 <= settings.receive_maximum <= 65535:
            raise ValueError("receive_maximum must be in 1..65535")
        self.settings = settings
        self._publish = publish
        self.stats = BridgeStats()
        # (topic, payload, mid, qos, connection generation) in arrival order
        self._inbox: deque[tuple[str, bytes, int, int, int]] = deque()
        self._generation = 0
        self._ack_lock = threading.Lock()
        self._stopping = threading.Event()
        self._aborted = False
        self._stopped = threading.Event()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self._client = client_create(
            settings.address, client_id=settings.client_id, manual_ack=True
        )
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.message_sink = self._on_plain_message
        self._batcher = threading.Thread(target=self._run_batcher, name="uns-batcher", daemon=True)

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.settings.session_expiry_s
        properties.ReceiveMaximum = self.settings.receive_maximum
        self._client.connect_async(
            self.settings.address.host,
            self.settings.address.port,
            keepalive=self.settings.keepalive_s,
            clean_start=False,
            properties=properties,
        )
        self._client.loop_start()
        self._batcher.start()
        logger.info(
            "UNS bridge %s connecting to %s, subscriptions %s",
            self.settings.client_id,
            self.settings.address,
            ", ".join(self.settings.subscriptions()),
        )

    def stop(self, *, timeout_s: float = 30.0) -> bool:
        """Drain: publish and acknowledge what has arrived, then disconnect (the session and
        its subscription stay on the broker). True if everything received was handed on."""
        self._stopping.set()
        drained = self._stopped.wait(timeout_s)
        if self.connected.is_set():
            self._barrier()
        self._client.disconnect()
        self._client.loop_stop()
        logger.info(
            "UNS bridge stopped: %d received, %d batches, %d acknowledged",
            self.stats.received,
            self.stats.batches,
            self.stats.acknowledged,
        )
        return drained and not self._inbox

    def _barrier(self, timeout_s: float = 5.0) -> None:
        """Wait until the broker has processed every packet sent so far: it answers in order,
        so the reply to an UNSUBSCRIBE (of a topic never subscribed) comes after it handled our
        PUBACKs. Without it, PUBACKs sent just before the DISCONNECT can be lost."""
        answered = threading.Event()
        self._client.on_unsubscribe = lambda *args: answered.set()
        result, _mid = self._client.unsubscribe(f"mes/bridge/{self.settings.client_id}/barrier")
        if result == mqtt.MQTT_ERR_SUCCESS and not answered.wait(timeout_s):
            logger.warning("the broker did not confirm the last acknowledgements in time")

    def abort(self) -> None:
        """Drop the connection without acknowledging anything (tests: a crash)."""
        self._aborted = True
        self._stopping.set()
        self._client.loop_stop()
        sock = self._client.socket()
        if sock is not None:
            sock.close()

    @property
    def pending(self) -> int:
        return len(self._inbox)

    # --- paho callbacks (network thread) -------------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            logger.error("MQTT connect refused: %s", reason_code)
            return
        with self._ack_lock:
            self._generation += 1
        self.stats.connects += 1
        self.connected.set()
        BRIDGE_CONNECTED.labels(client="uns", client_id=self.settings.client_id).set(1)
        logger.info(
            "connected to %s (session present: %s)", self.settings.address, flags.session_present
        )
        # retainHandling=1: retained messages only for a new subscription, not on every
        # reconnect of the persistent session.
        options = SubscribeOptions(qos=1, retainHandling=1)
        client.subscribe([(topic, options) for topic in self.settings.subscriptions()])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        failures = [code for code in reason_codes if code.is_failure]
        if failures:
            logger.error("subscription refused: %s", failures)
        else:
            logger.info("subscribed to %s", ", ".join(self.settings.subscriptions()))
            self.subscribed.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        with self._ack_lock:
            self._generation += 1
        self.connected.clear()
        self.subscribed.clear()
        BRIDGE_CONNECTED.labels(client="uns", client_id=self.settings.client_id).set(0)
        if not self._stopping.is_set():
            logger.warning(
                "disconnected from %s: %s; reconnecting", self.settings.address, reason_code
            )

    def _on_message(self, client, userdata, message) -> None:
        self._on_plain_message(message.topic, message.payload, message.mid, message.qos)

    def _on_plain_message(self, topic: str, payload: bytes, mid: int, qos: int) -> None:
        self.stats.received += 1
        self._inbox.append((topic, payload, mid, qos, self._generation))

    # --- batcher thread ------------------------------------------------------------------------

    def _run_batcher(self) -> None:
        try:
            while True:
                stopping = self._stopping.is_set()
                batch = self._collect(drain=stopping)
                if batch:
                    self._hand_on(batch)
                elif stopping:
                    return
        finally:
            self._stopped.set()

    def _collect(self, *, drain: bool) -> list[tuple[str, bytes, int, int, int]]:
        settings = self.settings
        inbox = self._inbox
        collected: list[tuple[str, bytes, int, int, int]] = []
        size = 0
        deadline: float | None = None
        while True:
            while inbox and len(collected) < settings.batch_max_messages:
                item = inbox.popleft()
                collected.append(item)
                size += len(item[1]) + len(item[0])
                if size >= settings.batch_max_bytes:
                    return collected
            if len(collected) >= settings.batch_max_messages or drain or self._stopping.is_set():
                return collected
            now = time.monotonic()
            if collected:
                if deadline is None:
                    deadline = now + settings.batch_max_wait_s
                if now >= deadline:
                    return collected
            time.sleep(0.002)

    def _hand_on(self, items: list[tuple[str, bytes, int, int, int]]) -> None:
        batch = self._build(items)
        delay_s = 0.2
        while True:
            if self._aborted:
                return
            try:
                self._publish(batch)
                break
            except Exception:
                self.stats.publish_failures += 1
                logger.exception(
                    "handing batch %s (%d messages) to Celery failed; retrying in %.1f s",
                    batch.batch_id,
                    len(items),
                    delay_s,
                )
                time.sleep(delay_s)
                delay_s = min(delay_s * 2, self.settings.publish_retry_max_s)
        self.stats.batches += 1
        self.stats.published += len(items)
        BRIDGE_MESSAGES_RECEIVED.labels(client="uns").inc(len(items))  # per batch: cheap
        if not self._aborted:
            self._acknowledge(items)

    def _build(self, items: Sequence[tuple[str, bytes, int, int, int]]) -> UnsBatch:
        limit = self.settings.max_payload_bytes
        excerpt_bytes = self.settings.excerpt_bytes
        messages: list[list[Any]] = []
        oversize: list[list[int]] = []
        byte_count = 0
        for index, (topic, payload, _mid, _qos, _generation) in enumerate(items):
            if len(payload) > limit:
                oversize.append([index, len(payload)])
                payload = payload[:excerpt_bytes]
            messages.append([topic, payload])
            byte_count += len(payload)
        return UnsBatch(str(uuid.uuid4()), int(time.time() * 1000), messages, oversize, byte_count)

    def _acknowledge(self, items: Sequence[tuple[str, bytes, int, int, int]]) -> None:
        with self._ack_lock:
            generation = self._generation
            mids = [
                mid
                for _topic, _payload, mid, qos, item_generation in items
                if qos == 1 and item_generation == generation
            ]
            self._client.puback_many(mids)
            for _topic, _payload, mid, qos, item_generation in items:
                if qos == 2 and item_generation == generation:
                    self._client.ack(mid, qos)
                    mids.append(mid)
        self.stats.acknowledged += len(mids)
