"""live.broadcast: after commit only, event envelopes, aggregate rate limit, latest values."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction

from live import broadcast as live_broadcast
from live.broadcast import broadcast, latest_get
from production.models import Enterprise

pytestmark = pytest.mark.django_db(transaction=True)


def _group() -> str:
    return f"line.test{uuid.uuid4().hex[:12]}"


def _closing_connection(action) -> None:
    try:
        action()
    finally:
        connection.close()


async def _collect(group: str, action, *, wait_s: float) -> list[dict]:
    """Join ``group``, run the sync ``action`` in a thread, gather messages for ``wait_s``."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    try:
        await asyncio.to_thread(_closing_connection, action)
        messages = []
        deadline = time.monotonic() + wait_s
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                messages.append(await asyncio.wait_for(layer.receive(channel), remaining))
            except TimeoutError:
                break
        return messages
    finally:
        await layer.group_discard(group, channel)


def test_an_event_is_sent_after_commit_with_its_envelope():
    group = _group()

    def action():
        with transaction.atomic():
            broadcast([group], "equipment_state", {"equipment": 7, "state": "down"})

    messages = async_to_sync(_collect)(group, action, wait_s=0.5)
    assert len(messages) == 1
    [message] = messages
    assert message["type"] == "mes.event"
    assert message["event"] == "equipment_state"
    assert message["group"] == group
    assert message["payload"] == {"equipment": 7, "state": "down"}
    assert len(message["id"]) == 32
    assert json.loads(message["text"]) == {
        "type": "event",
        "event": "equipment_state",
        "group": group,
        "id": message["id"],
        "sent_at_ms": message["sent_at_ms"],
        "payload": {"equipment": 7, "state": "down"},
    }


def test_a_rolled_back_transaction_broadcasts_nothing():
    group = _group()

    def action():
        try:
            with transaction.atomic():
                broadcast([group], "equipment_state", {"equipment": 7})
                raise RuntimeError("the write failed")
        except RuntimeError:
            pass

    assert async_to_sync(_collect)(group, action, wait_s=0.4) == []


def test_state_events_are_not_rate_limited():
    group = _group()

    def action():
        for number in range(5):
            broadcast([group], "equipment_state", {"equipment": 7, "n": number})

    messages = async_to_sync(_collect)(group, action, wait_s=0.5)
    assert [message["payload"]["n"] for message in messages] == [0, 1, 2, 3, 4]


def test_aggregates_are_coalesced_to_one_per_interval_and_the_latest_wins(settings):
    settings.LIVE_AGGREGATE_MIN_INTERVAL_S = 0.5
    group = _group()

    def action():
        for number in range(10):
            broadcast([group], "oee", {"scope_id": 3, "oee": number / 10})

    messages = async_to_sync(_collect)(group, action, wait_s=1.5)
    # The first at once, then the last one when the interval ends; nothing in between.
    assert [message["payload"]["oee"] for message in messages] == [0.0, 0.9]
    assert latest_get(group)[-1]["payload"] == {"scope_id": 3, "oee": 0.9}


def test_aggregates_of_different_subjects_are_limited_separately(settings):
    settings.LIVE_AGGREGATE_MIN_INTERVAL_S = 0.5
    group = _group()

    def action():
        broadcast([group], "oee", {"scope_id": 1, "oee": 0.5})
        broadcast([group], "oee", {"scope_id": 2, "oee": 0.6})
        broadcast([group], "counts", {"good": 1}, subject="M1")

    messages = async_to_sync(_collect)(group, action, wait_s=0.4)
    assert sorted((message["event"], str(message["payload"])) for message in messages) == [
        ("counts", "{'good': 1}"),
        ("oee", "{'scope_id': 1, 'oee': 0.5}"),
        ("oee", "{'scope_id': 2, 'oee': 0.6}"),
    ]
    latest = {(item["event"], item["subject"]): item["payload"] for item in latest_get(group)}
    assert latest == {
        ("oee", "1"): {"scope_id": 1, "oee": 0.5},
        ("oee", "2"): {"scope_id": 2, "oee": 0.6},
        ("counts", "M1"): {"good": 1},
    }


def test_an_explicit_aggregate_flag_limits_any_event(settings):
    settings.LIVE_AGGREGATE_MIN_INTERVAL_S = 0.5
    group = _group()

    def action():
        for number in range(3):
            broadcast([group], "queue_length", {"n": number}, aggregate=True)

    messages = async_to_sync(_collect)(group, action, wait_s=1.2)
    assert [message["payload"]["n"] for message in messages] == [0, 2]


def test_a_layer_failure_is_logged_and_never_breaks_the_write(monkeypatch, caplog):
    monkeypatch.setattr(live_broadcast, "get_channel_layer", lambda: _BrokenLayer())
    with caplog.at_level(logging.WARNING, logger="live.broadcast"), transaction.atomic():
        Enterprise.objects.create(code="live-test", name="Written despite Redis")
        broadcast(["line.1", "site.1"], "equipment_state", {"equipment": 1})
    assert Enterprise.objects.filter(code="live-test").count() == 1
    assert [record.getMessage() for record in caplog.records] == [
        "broadcast of equipment_state to line.1 failed",
        "broadcast of equipment_state to site.1 failed",
    ]


class _BrokenLayer:
    async def group_send(self, group, message):
        raise ConnectionError("redis is down")


def test_sends_share_one_event_loop_per_process_and_a_fork_gets_its_own(monkeypatch):
    first = live_broadcast._sender.get()
    live_broadcast.send_now(["line.nobody"], "equipment_state", {"equipment": 1})
    live_broadcast.send_now(["line.nobody"], "equipment_state", {"equipment": 2})
    assert live_broadcast._sender.get() is first
    assert first.is_running()
    monkeypatch.setattr(live_broadcast.os, "getpid", lambda: -1)  # as in a forked child
    assert live_broadcast._sender.get() is not first
