"""The live websocket: authenticate, authorise per site/line, subscribe and forward.

Protocol (JSON text frames; see docs/live.md):

client → server
    {"type": "subscribe", "targets": ["line.3", "equipment.7"], "snapshot": true}
    {"type": "unsubscribe", "targets": ["line.3"]}
    {"type": "ping"}

server → client
    {"type": "welcome", "user": ..., "heartbeat_s": ...}
    {"type": "subscribed", "target": "line.3", "snapshot": {...}, "latest": [...]}
    {"type": "unsubscribed", "target": "line.3"}
    {"type": "event", "event": ..., "group": ..., "id": ..., "sent_at_ms": ..., "payload": ...}
    {"type": "error", "code": ..., "message": ..., "target": ...}
    {"type": "heartbeat", "server_time_ms": ...} / {"type": "pong", ...}

A subscription's snapshot is read after the consumer has joined the group, and channel-layer
messages are only handled once the subscribe handler has returned: a client always gets the
current state first and every later delta after it. Services broadcast through
``live.broadcast``; this consumer never reads or writes domain data beyond the snapshot.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from importlib import import_module
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.utils.crypto import constant_time_compare

from live.broadcast import group_name, latest_get
from live.payloads import live_snapshot
from live.selectors.targets import (
    LiveTarget,
    TargetRefused,
    TargetUnknown,
    live_target_authorize,
    live_user_get,
)
from mes_site.metrics import WEBSOCKET_CLIENTS
from mes_site.scope import scope_narrow_to_station
from mes_site.session_timeout import session_end_reason
from traceability.selectors import api_token_is_active

logger = logging.getLogger(__name__)

CLOSE_NOT_AUTHENTICATED = 4401
CLOSE_SESSION_ENDED = 4403
CLOSE_TOO_MANY_BAD_FRAMES = 4400
MAX_FRAME_BYTES = 16_384
MAX_TARGETS_PER_FRAME = 100
MAX_SUBSCRIPTIONS = 500
MAX_BAD_FRAMES = 20


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def _authorize_all(user, targets: list[str]) -> dict[str, LiveTarget | Exception]:
    outcomes: dict[str, LiveTarget | Exception] = {}
    for target in targets:
        try:
            outcomes[target] = live_target_authorize(user=user, target=target)
        except (TargetUnknown, TargetRefused) as error:
            outcomes[target] = error
    return outcomes


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """One browser tab or integration: a set of subscribed groups, forwarded as they come."""

    client_handlers = {
        "subscribe": "client_subscribe",
        "unsubscribe": "client_unsubscribe",
        "ping": "client_ping",
    }

    async def connect(self) -> None:
        self.subscriptions: set[str] = set()
        self.bad_frames = 0
        self.keepalive_task: asyncio.Task | None = None
        self.user_group: str | None = None
        user = self.scope.get("user")
        await self.accept()
        if user is None or not user.is_authenticated or not user.is_active:
            await self._close_with_reason(
                CLOSE_NOT_AUTHENTICATED, "not_authenticated", "Log in to receive live updates."
            )
            return
        self.user_id = user.pk
        self.is_counted = True
        WEBSOCKET_CLIENTS.inc()
        self.user_group = group_name("user", user.pk)
        await self.channel_layer.group_add(self.user_group, self.channel_name)
        self.heartbeat_s = _setting("LIVE_HEARTBEAT_S", 15.0)
        self.keepalive_task = asyncio.create_task(self._keepalive())
        await self.send_json(
            {
                "type": "welcome",
                "user": user.get_username(),
                "heartbeat_s": self.heartbeat_s,
                "server_time_ms": time.time() * 1000.0,
            }
        )

    async def disconnect(self, code: int) -> None:
        if getattr(self, "is_counted", False):
            self.is_counted = False
            WEBSOCKET_CLIENTS.dec()
        if self.keepalive_task is not None:
            self.keepalive_task.cancel()
        for group in list(getattr(self, "subscriptions", ())):
            await self.channel_layer.group_discard(group, self.channel_name)
        if self.user_group is not None:
            await self.channel_layer.group_discard(self.user_group, self.channel_name)

    # --- frames from the client --------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not hasattr(self, "user_id"):
            return  # refused at connect; nothing is handled
        if text_data is None:
            await self._bad_frame("Binary frames are not accepted; send JSON text.")
            return
        if len(text_data) > MAX_FRAME_BYTES:
            await self._bad_frame(f"Frames are at most {MAX_FRAME_BYTES} characters.")
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self._bad_frame("The frame is not JSON.")
            return
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            await self._bad_frame('A frame is a JSON object with a "type".')
            return
        handler_name = self.client_handlers.get(content["type"])
        if handler_name is None:
            await self._bad_frame(
                f"Unknown frame type {content['type'][:40]!r}; "
                f"use one of {', '.join(sorted(self.client_handlers))}."
            )
            return
        await getattr(self, handler_name)(content)

    async def client_subscribe(self, content: dict[str, Any]) -> None:
        targets = self._targets_of(content)
        if targets is None:
            await self._bad_frame('"targets" is a list of strings such as "line.3".')
            return
        user = await database_sync_to_async(self._user_with_scope)()
        if user is None:
            await self._session_end("Your account was deactivated.")
            return
        with_snapshot = content.get("snapshot", True) is not False
        fresh = [target for target in targets if target not in self.subscriptions]
        room = max(0, MAX_SUBSCRIPTIONS - len(self.subscriptions))
        # One trip to the database thread for the whole frame, not one per target.
        outcomes = await database_sync_to_async(_authorize_all)(user, fresh[:room])
        for target in targets:
            if target in self.subscriptions:
                await self.send_json({"type": "subscribed", "target": target, "repeat": True})
                continue
            outcome = outcomes.get(target)
            if outcome is None:
                await self._error("too_many_subscriptions", "Too many subscriptions.", target)
                continue
            if isinstance(outcome, Exception):
                code = "unknown_target" if isinstance(outcome, TargetUnknown) else "forbidden"
                await self._error(code, str(outcome), target)
                continue
            await self.channel_layer.group_add(outcome.group, self.channel_name)
            self.subscriptions.add(outcome.group)
            frame: dict[str, Any] = {"type": "subscribed", "target": outcome.group}
            if with_snapshot:
                frame["snapshot"] = await database_sync_to_async(live_snapshot)(
                    target=outcome, user=user
                )
                frame["latest"] = await database_sync_to_async(latest_get)(outcome.group)
            await self.send(text_data=json.dumps(frame, default=str))

    async def client_unsubscribe(self, content: dict[str, Any]) -> None:
        targets = self._targets_of(content)
        if targets is None:
            await self._bad_frame('"targets" is a list of strings such as "line.3".')
            return
        for target in targets:
            if target not in self.subscriptions:
                await self._error("not_subscribed", f"You are not subscribed to {target}.", target)
                continue
            await self.channel_layer.group_discard(target, self.channel_name)
            self.subscriptions.discard(target)
            await self.send_json({"type": "unsubscribed", "target": target})

    async def client_ping(self, content: dict[str, Any]) -> None:
        await self.send_json({"type": "pong", "server_time_ms": time.time() * 1000.0})

    # --- messages from the channel layer (one handler per message type) ----------------

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Forwarding touches no database: skip channels' per-message close_old_connections,
        # a thread-pool round trip that would otherwise dominate the cost of a fan-out.
        if message["type"] == "mes.event":
            await self.mes_event(message)
            return
        await super().dispatch(message)

    async def mes_event(self, message: dict[str, Any]) -> None:
        """Forward a broadcast to the client unchanged (only for groups still subscribed)."""
        if message.get("group") not in self.subscriptions:
            return
        text = message.get("text")
        if text is None:  # sent by something other than live.broadcast
            text = json.dumps(
                {
                    "type": "event",
                    "event": message["event"],
                    "group": message["group"],
                    "id": message.get("id"),
                    "sent_at_ms": message.get("sent_at_ms"),
                    "payload": message.get("payload"),
                },
                default=str,
            )
        await self.send(text_data=text)

    async def mes_session_closed(self, message: dict[str, Any]) -> None:
        await self._session_end(message.get("reason") or "Your session has ended.")

    # --- helpers -----------------------------------------------------------------------

    def _targets_of(self, content: dict[str, Any]) -> list[str] | None:
        targets = content.get("targets")
        if isinstance(content.get("target"), str) and targets is None:
            targets = [content["target"]]
        if (
            not isinstance(targets, list)
            or not targets
            or len(targets) > MAX_TARGETS_PER_FRAME
            or not all(isinstance(target, str) for target in targets)
        ):
            return None
        return targets

    async def _error(self, code: str, message: str, target: str | None = None) -> None:
        frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if target is not None:
            frame["target"] = target[:80]
        await self.send_json(frame)

    async def _bad_frame(self, message: str) -> None:
        self.bad_frames += 1
        if self.bad_frames > MAX_BAD_FRAMES:
            await self._close_with_reason(
                CLOSE_TOO_MANY_BAD_FRAMES, "too_many_bad_frames", "Too many malformed frames."
            )
            return
        await self._error("bad_frame", message)

    async def _close_with_reason(self, code: int, error_code: str, message: str) -> None:
        await self._error(error_code, message)
        await self.close(code=code, reason=message[:120])

    async def _session_end(self, reason: str) -> None:
        for group in list(self.subscriptions):
            await self.channel_layer.group_discard(group, self.channel_name)
        self.subscriptions.clear()
        await self._close_with_reason(CLOSE_SESSION_ENDED, "session_ended", reason)

    async def _keepalive(self) -> None:
        """Heartbeats for the client's stale indicator; re-checks the session now and then."""
        recheck_s = _setting("LIVE_AUTH_RECHECK_S", 30.0)
        tick_s = min(self.heartbeat_s, recheck_s)
        # A random phase, so that the sockets opened together do not all re-check together.
        await asyncio.sleep(random.uniform(0, tick_s))
        next_heartbeat = next_check = time.monotonic()
        while True:
            await asyncio.sleep(tick_s)
            now = time.monotonic()
            try:
                if now - next_check >= recheck_s - 1e-3:
                    next_check = now
                    problem = await database_sync_to_async(self._session_problem)()
                    if problem is not None:
                        await self._session_end(problem)
                        return
                if now - next_heartbeat >= self.heartbeat_s - 1e-3:
                    next_heartbeat = now
                    await self.send_json(
                        {"type": "heartbeat", "server_time_ms": time.time() * 1000.0}
                    )
            except Exception:  # e.g. the database is away: try again at the next tick
                logger.warning("keepalive of %s failed", self.channel_name, exc_info=True)

    def _user_with_scope(self):
        """The fresh user, its scope narrowed to the station of a badge/PIN session."""
        user = live_user_get(self.user_id)
        if user is not None:
            scope_narrow_to_station(user, self.scope.get("session"))
        return user

    def _session_problem(self) -> str | None:
        """Why the connection may no longer stay open (None while all is well)."""
        user = live_user_get(self.user_id)
        if user is None:
            return "Your account was deactivated."
        session = self.scope.get("session")
        session_key = getattr(session, "session_key", None)
        if session_key is None:
            token_id = self.scope.get("api_token_id")
            if token_id is not None and not api_token_is_active(token_id=token_id):
                return "Your API token expired or was revoked."
            return None
        data = import_module(settings.SESSION_ENGINE).SessionStore(session_key).load()
        if str(data.get(SESSION_KEY)) != str(self.user_id) or not data.get(BACKEND_SESSION_KEY):
            return "You were logged out."
        session_hash = data.get(HASH_SESSION_KEY) or ""
        if not constant_time_compare(session_hash, user.get_session_auth_hash()):
            return "Your password changed; log in again."
        return session_end_reason(data, now_ts=time.time())
