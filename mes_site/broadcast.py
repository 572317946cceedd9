"""The one helper services use to push live updates after their transaction commits.

Groups are named ``site.<id>``, ``line.<id>`` and ``equipment.<id>``; a message is
``{"type": "mes.event", "event": <event type>, "payload": <serialized data>}``.
Consumers forward it to their websocket unchanged.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def group_name(kind: str, object_id: int | str) -> str:
    return f"{kind}.{object_id}"


def send_now(groups: list[str], event: str, payload: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "mes.event", "event": event, "payload": payload}
    for group in groups:
        try:
            async_to_sync(layer.group_send)(group, message)
        except Exception:  # a live screen must never break a write
            logger.warning("broadcast to %s failed", group, exc_info=True)


def broadcast(groups: list[str], event: str, payload: dict[str, Any]) -> None:
    """Send ``event`` to ``groups`` once the current transaction commits."""
    transaction.on_commit(lambda: send_now(groups, event, payload))
