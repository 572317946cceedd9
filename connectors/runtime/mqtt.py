"""The connectors' MQTT client: paho 2 with its network thread, QoS 1, reconnecting by itself.

The broker may be away when the connectors start or later: paho keeps up to
``max_queued_messages`` unsent QoS 1 messages in memory and sends them once it is connected
again (the edge agent's disk buffer, ``connectors.runtime.edge.buffer``, survives a restart as
well)."""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from workers.mqtt.address import BrokerAddress

logger = logging.getLogger("connectors")


def mqtt_client(address: BrokerAddress, *, client_id: str, keepalive_s: int = 30) -> mqtt.Client:
    """A paho client for ``address`` (credentials and TLS set), not connected yet."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
    if address.username:
        client.username_pw_set(address.username, address.password)
    context = address.tls_context()
    if context is not None:
        client.tls_set_context(context)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client


class MqttPublisher:
    """Publishes QoS 1; ``start`` returns at once (the broker may come later)."""

    def __init__(
        self,
        address: BrokerAddress,
        *,
        client_id: str | None = None,
        max_queued_messages: int = 100_000,
        keepalive_s: int = 30,
    ) -> None:
        self.address = address
        self.client = mqtt_client(
            address, client_id=client_id or f"mes-connectors-{uuid.uuid4().hex[:8]}"
        )
        self.client.max_queued_messages_set(max_queued_messages)
        self.client.max_inflight_messages_set(1000)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self._keepalive_s = keepalive_s
        self.connected = threading.Event()

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags, reason_code, properties
    ) -> None:
        if reason_code.is_failure:
            logger.warning("MQTT broker %s refused the connection: %s", self.address, reason_code)
            return
        logger.info("connected to the MQTT broker %s", self.address)
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self.connected.is_set():
            logger.warning("lost the MQTT broker %s (%s)", self.address, reason_code)
        self.connected.clear()

    def start(self) -> MqttPublisher:
        self.client.connect_async(self.address.host, self.address.port, keepalive=self._keepalive_s)
        self.client.loop_start()
        return self

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain)

    def stop(self) -> None:
        self.connected.clear()  # a disconnect of our own is not a lost broker
        self.client.disconnect()
        self.client.loop_stop()
