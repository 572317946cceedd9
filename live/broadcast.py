"""The one helper services use to push live updates after their transaction commits.

Groups are named ``site.<id>``, ``line.<id>`` and ``equipment.<id>`` (and ``user.<id>`` for
messages to one user's open sockets). A channel-layer message is::

    {"type": "mes.event", "event": <event type>, "payload": <serialized data>,
     "group": <group it was sent to>, "id": <unique event id>, "sent_at_ms": <epoch ms>,
     "text": <the websocket frame as JSON text>}

Consumers forward ``text`` to their websocket unchanged (``live.consumers``); a client
subscribed to several groups may receive one event once per group and drops repeats by ``id``.

Aggregates (OEE, counts, current values, health: ``AGGREGATE_EVENTS`` or ``aggregate=True``)
are rate-limited across all processes through Redis: at most one message per
``LIVE_AGGREGATE_MIN_INTERVAL_S`` (1 s) per group, event and subject. The first one goes out
at once; later ones within the interval are coalesced and the latest is sent when the
interval ends, so nothing newer than one interval is lost. The latest aggregate of each group
is also kept in Redis (``latest_get``) so that a (re)subscribing client gets it with the
current state before any delta.

Payloads must be plain JSON-able data (the API serializers' output): the channel layer
packs them with msgpack.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from mes_site.publish import group_name
from mes_site.redis import redis_client

logger = logging.getLogger(__name__)

AGGREGATE_EVENTS = frozenset({"oee", "counts", "current_values", "line_summary", "health"})
# Payload keys that name what an aggregate is about, in the order they are looked for.
SUBJECT_KEYS = ("subject", "equipment_id", "equipment", "line_id", "line", "scope_id", "id")
REDIS_PREFIX = "mes:live"
LATEST_TTL_S = 6 * 3600
SESSION_CLOSED = "mes.session.closed"


def _message(group: str, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    envelope = {
        "event": event,
        "group": group,
        "id": uuid.uuid4().hex,
        "sent_at_ms": time.time() * 1000.0,
        "payload": payload,
    }
    # The websocket frame, serialised once here rather than once per connected client.
    text = json.dumps({"type": "event", **envelope}, cls=DjangoJSONEncoder)
    return {"type": "mes.event", **envelope, "text": text}


async def send_now_async(groups: Iterable[str], event: str, payload: dict[str, Any]) -> int:
    """Send ``event`` to every group from async code; returns how many groups were sent to."""
    layer = get_channel_layer()
    if layer is None:
        return 0
    sent = 0
    for group in groups:
        try:
            await layer.group_send(group, _message(group, event, payload))
            sent += 1
        except Exception:  # a live screen must never break a write
            logger.warning("broadcast of %s to %s failed", event, group, exc_info=True)
    return sent


class _SenderLoop:
    """One event loop per process, in a daemon thread, that all synchronous sends use.

    ``async_to_sync`` would start an event loop (and so a new Redis connection) for every
    broadcast; this loop keeps the channel layer's connection pool alive between them. A
    forked child (a Celery worker) starts its own.
    """

    def __init__(self) -> None:
        self.pid: int | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.lock = threading.Lock()

    def get(self) -> asyncio.AbstractEventLoop:
        with self.lock:
            if self.loop is None or self.pid != os.getpid() or not self.loop.is_running():
                loop = asyncio.new_event_loop()
                started = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(started.set)
                    loop.run_forever()

                threading.Thread(target=run, name="mes-broadcast", daemon=True).start()
                started.wait(5)
                self.loop, self.pid = loop, os.getpid()
            return self.loop


_sender = _SenderLoop()
SEND_TIMEOUT_S = 5.0


def send_now(groups: list[str], event: str, payload: dict[str, Any]) -> None:
    """Send at once (no transaction, no rate limit), waiting until the layer has it."""
    if not groups or get_channel_layer() is None:
        return
    try:
        future = asyncio.run_coroutine_threadsafe(
            send_now_async(list(groups), event, payload), _sender.get()
        )
        future.result(timeout=SEND_TIMEOUT_S)
    except Exception:
        logger.warning("broadcast of %s failed", event, exc_info=True)


def broadcast(
    groups: list[str],
    event: str,
    payload: dict[str, Any],
    *,
    aggregate: bool | None = None,
    subject: str | int | None = None,
) -> None:
    """Send ``event`` to ``groups`` once the current transaction commits.

    ``aggregate`` (default: ``event in AGGREGATE_EVENTS``) rate-limits the event per group and
    ``subject`` (default: taken from the payload, see ``SUBJECT_KEYS``).
    """
    is_aggregate = event in AGGREGATE_EVENTS if aggregate is None else aggregate
    if not is_aggregate:
        transaction.on_commit(lambda: send_now(groups, event, payload))
        return
    subject_key = str(subject) if subject is not None else _subject_of(payload)
    transaction.on_commit(lambda: aggregate_send(groups, event, payload, subject=subject_key))


def user_sessions_close(user_id: int, reason: str) -> None:
    """Close every live socket of one user (deactivated, logged out elsewhere) after commit."""
    message = {"type": SESSION_CLOSED, "reason": reason}

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            future = asyncio.run_coroutine_threadsafe(
                layer.group_send(group_name("user", user_id), message), _sender.get()
            )
            future.result(timeout=SEND_TIMEOUT_S)
        except Exception:
            logger.warning("closing the sockets of user %s failed", user_id, exc_info=True)

    transaction.on_commit(send)


# --- aggregates: rate limit and latest value --------------------------------------------

_flush_timers_lock = threading.Lock()
_flush_timers: dict[str, threading.Timer] = {}


def _interval_ms() -> int:
    return max(1, int(float(getattr(settings, "LIVE_AGGREGATE_MIN_INTERVAL_S", 1.0)) * 1000))


def _subject_of(payload: dict[str, Any]) -> str:
    for key in SUBJECT_KEYS:
        value = payload.get(key)
        if isinstance(value, str | int):
            return str(value)
    return ""


def _latest_remember(group: str, event: str, subject: str, payload: dict[str, Any]) -> None:
    key = f"{REDIS_PREFIX}:latest:{group}"
    value = json.dumps(
        {"event": event, "subject": subject, "payload": payload, "at_ms": time.time() * 1000.0},
        cls=DjangoJSONEncoder,
    )
    client = redis_client()
    pipe = client.pipeline()
    pipe.hset(key, f"{event}|{subject}", value)
    pipe.expire(key, LATEST_TTL_S)
    pipe.execute()


def latest_get(group: str) -> list[dict[str, Any]]:
    """The latest aggregate of each event and subject sent to ``group`` (oldest first)."""
    try:
        raw = redis_client().hgetall(f"{REDIS_PREFIX}:latest:{group}")
    except Exception:
        logger.warning("reading the latest aggregates of %s failed", group, exc_info=True)
        return []
    items = [json.loads(value) for value in raw.values()]
    return sorted(items, key=lambda item: item["at_ms"])


def aggregate_send(
    groups: Iterable[str], event: str, payload: dict[str, Any], *, subject: str = ""
) -> None:
    """Send an aggregate now if its group's interval allows it, else coalesce it."""
    for group in groups:
        try:
            _aggregate_send_one(group, event, payload, subject)
        except Exception:
            logger.warning("aggregate %s to %s failed", event, group, exc_info=True)


def _aggregate_send_one(group: str, event: str, payload: dict[str, Any], subject: str) -> None:
    client = redis_client()
    base = f"{REDIS_PREFIX}:rate:{group}:{event}:{subject}"
    _latest_remember(group, event, subject, payload)
    interval_ms = _interval_ms()
    if client.set(f"{base}:gate", b"1", nx=True, px=interval_ms):
        send_now([group], event, payload)
        return
    client.set(f"{base}:pending", json.dumps(payload, cls=DjangoJSONEncoder), px=interval_ms * 10)
    _flush_schedule(base, group, event, client.pttl(f"{base}:gate"))


def _flush_schedule(base: str, group: str, event: str, delay_ms: int) -> None:
    with _flush_timers_lock:
        if base in _flush_timers:
            return
        timer = threading.Timer(
            max(delay_ms, 1) / 1000.0, _flush, kwargs={"base": base, "group": group, "event": event}
        )
        timer.daemon = True
        _flush_timers[base] = timer
    timer.start()


def _flush(*, base: str, group: str, event: str) -> None:
    """Trailing edge: send the coalesced latest payload once the interval has passed."""
    with _flush_timers_lock:
        _flush_timers.pop(base, None)
    try:
        client = redis_client()
        if not client.exists(f"{base}:pending"):
            return
        if not client.set(f"{base}:gate", b"1", nx=True, px=_interval_ms()):
            # Another process sent within the interval; try again when it ends.
            _flush_schedule(base, group, event, client.pttl(f"{base}:gate"))
            return
        raw = client.getdel(f"{base}:pending")
        if raw is not None:
            send_now([group], event, json.loads(raw))
    except Exception:
        logger.warning("flushing aggregate %s to %s failed", event, group, exc_info=True)


__all__ = [
    "AGGREGATE_EVENTS",
    "SESSION_CLOSED",
    "aggregate_send",
    "broadcast",
    "group_name",
    "latest_get",
    "send_now",
    "send_now_async",
    "user_sessions_close",
]
