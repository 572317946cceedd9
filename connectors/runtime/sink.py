"""Where the connectors' readings and connection states go: the Unified Namespace.

A reading of a tag is published on ``<root>/<equipment path>/<signal>`` as the one-reading UNS
JSON payload (``workers.mqtt.uns.encode_reading``: the device's timestamp and, when it is not
good, the quality), QoS 1 — the ingest needs no special case. A connection's state is a
retained JSON message on ``<state topic>/<connection>``; ``on_state`` also hands it to the
caller (``manage.py connect`` records it on the Connection)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from connectors.runtime.config import TagConfig
from workers.mqtt.uns import QUALITY_GOOD, Scalar, build_topic, encode_reading, timestamp_ms

logger = logging.getLogger("connectors")

QUALITY_UNCERTAIN = 64
QUALITY_BAD = 0


class ConnectionState(StrEnum):
    """As connectors.choices.ConnectionState."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    DEGRADED = "degraded"  # connected, some tags fail (a Modbus exception, a bad node)
    DISCONNECTED = "disconnected"
    STOPPED = "stopped"


class Publisher(Protocol):
    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None: ...


class ReadingSink(Protocol):
    def reading(
        self, tag: TagConfig, ts: datetime, value: Scalar | None, quality: int = QUALITY_GOOD
    ) -> None: ...

    def state(self, connection: str, state: ConnectionState, reason: str = "") -> None: ...


StateCallback = Callable[[str, ConnectionState, str, datetime], None]


@dataclass
class UnsSink:
    publisher: Publisher
    uns_root: str = ""
    state_topic: str = "_mes/connectors"
    on_state: StateCallback | None = None

    def __post_init__(self) -> None:
        self._topics: dict[tuple[str, str], str] = {}
        self._states: dict[str, tuple[ConnectionState, str]] = {}

    def topic(self, tag: TagConfig) -> str:
        key = (tag.equipment_path, tag.signal)
        topic = self._topics.get(key)
        if topic is None:
            topic = self._topics[key] = build_topic(self.uns_root, tag.equipment_path, tag.signal)
        return topic

    def reading(
        self, tag: TagConfig, ts: datetime, value: Scalar | None, quality: int = QUALITY_GOOD
    ) -> None:
        self.publisher.publish(self.topic(tag), encode_reading(ts, value, quality=quality))

    def state(self, connection: str, state: ConnectionState, reason: str = "") -> None:
        """Publish a changed state (repeats of the same state and reason are dropped)."""
        if self._states.get(connection) == (state, reason):
            return
        self._states[connection] = (state, reason)
        now = datetime.now(UTC)
        is_fault = state in (ConnectionState.DEGRADED, ConnectionState.DISCONNECTED)
        log = logger.warning if is_fault else logger.info
        log("connection %s: %s%s", connection, state, f" ({reason})" if reason else "")
        payload = {"ts": timestamp_ms(now), "state": str(state), "reason": reason}
        self.publisher.publish(
            f"{self.state_topic}/{connection}",
            json.dumps(payload, separators=(",", ":")).encode(),
            retain=True,
        )
        if self.on_state is not None:
            self.on_state(connection, state, reason, now)

    def last_state(self, connection: str) -> tuple[ConnectionState, str] | None:
        return self._states.get(connection)
