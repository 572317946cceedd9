"""Replay: send a delivered or parked webhook delivery again (the admin's action)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from integration.choices import OPEN_DELIVERY_STATUSES, DeliveryStatus
from integration.models import WebhookDelivery
from integration.tasks import deliveries_kick
from mes_site.errors import Conflict, NotFound


def delivery_replay(*, delivery_id: int, now: datetime | None = None) -> WebhookDelivery:
    """Send a delivered or parked delivery again: the same ``webhook-id`` and body, a fresh
    retry window. It goes out in event order with its subscription's open deliveries."""
    now = now or timezone.now()
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None:
            raise NotFound(f"No webhook delivery {delivery_id}.")
        if delivery.status in OPEN_DELIVERY_STATUSES:
            raise Conflict(
                f"Delivery {delivery.webhook_id} is still being delivered ({delivery.status}).",
                detail={"status": delivery.status},
            )
        delivery.status = DeliveryStatus.PENDING
        delivery.next_attempt_at = now
        delivery.deadline_at = now + timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW_S)
        delivery.replay_count += 1
        delivery.parked_at = None
        delivery.claimed_until = None
        delivery.claim_token = None
        delivery.save(
            update_fields=[
                "status",
                "next_attempt_at",
                "deadline_at",
                "replay_count",
                "parked_at",
                "claimed_until",
                "claim_token",
            ]
        )
        transaction.on_commit(deliveries_kick, robust=True)
    return delivery
