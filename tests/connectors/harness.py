"""What the connector tests share: a subscriber that collects what the connectors publish on
the session's Mosquitto, the state sink, and the ingest of the collected messages."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from connectors.runtime.mqtt import MqttPublisher
from connectors.runtime.sink import ConnectionState, UnsSink
from workers.mqtt.address import parse_broker_url


@dataclass
class Collector:
    """Subscribes to ``<root>/#`` and the connectors' state topic; keeps every message."""

    url: str
    root: str
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Collector:
        address = parse_broker_url(self.url)
        subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"collector-{uuid.uuid4().hex[:8]}"
        )

        def on_connect(client, userdata, flags, reason_code, properties):
            client.subscribe([(f"{self.root}/#", 1)])

        def on_subscribe(client, userdata, mid, reason_codes, properties):
            subscribed.set()

        def on_message(client, userdata, message):
            with self.lock:
                self.messages.append((message.topic, message.payload))

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        self.client.on_message = on_message
        self.client.connect(address.host, address.port)
        self.client.loop_start()
        if not subscribed.wait(10):
            raise AssertionError("the collector did not subscribe")
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def readings(self, signal: str) -> list[dict]:
        with self.lock:
            return [
                json.loads(payload)
                for topic, payload in self.messages
                if topic.endswith(f"/{signal}")
            ]

    def uns_messages(self) -> list[list]:
        with self.lock:
            return [[topic, payload] for topic, payload in self.messages]


@dataclass
class States:
    """The connection states the sink reported, in order."""

    history: list[tuple[str, ConnectionState, str]] = field(default_factory=list)

    def __call__(self, name: str, state: ConnectionState, reason: str, at: datetime) -> None:
        self.history.append((name, state, reason))

    def last(self, name: str) -> tuple[ConnectionState, str] | None:
        entries = [
            (state, reason) for entry_name, state, reason in self.history if entry_name == name
        ]
        return entries[-1] if entries else None


def uns_sink(url: str, root: str, states: States) -> tuple[UnsSink, MqttPublisher]:
    publisher = MqttPublisher(parse_broker_url(url)).start()
    if not publisher.connected.wait(10):
        raise AssertionError("the publisher did not connect")
    return UnsSink(publisher, root, f"{root}/_state", states), publisher


async def until(condition, timeout_s: float = 20.0) -> None:
    """Wait in the event loop until ``condition()`` holds."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition}")
        await asyncio.sleep(0.02)


def ms_now(offset_s: float = 0.0) -> datetime:
    """Now (plus ``offset_s``) at millisecond precision: what survives the UNS payload."""
    now = datetime.now(UTC).timestamp() + offset_s
    return datetime.fromtimestamp(round(now * 1000) / 1000, UTC)


def root_topic() -> str:
    return f"test-connectors-{uuid.uuid4().hex[:10]}"
