"""Reads of the integration app: the webhook backlog (ERP outage visibility) and the delivery
log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from integration.choices import OPEN_DELIVERY_STATUSES, DeliveryStatus
from integration.models import WebhookDelivery


def webhook_backlog(*, now: datetime | None = None) -> dict[str, Any]:
    """Deliveries not yet accepted by their receivers: how many, how old the oldest is, how
    many are failing (retrying) and how many were given up (parked, waiting for a replay)."""
    now = now or timezone.now()
    figures = WebhookDelivery.objects.aggregate(
        open_count=Count("id", filter=Q(status__in=OPEN_DELIVERY_STATUSES)),
        retrying_count=Count("id", filter=Q(status=DeliveryStatus.RETRYING)),
        parked_count=Count("id", filter=Q(status=DeliveryStatus.PARKED)),
        oldest_open_at=Min("created_at", filter=Q(status__in=OPEN_DELIVERY_STATUSES)),
    )
    oldest = figures["oldest_open_at"]
    return {
        "pending_count": figures["open_count"],
        "retrying_count": figures["retrying_count"],
        "parked_count": figures["parked_count"],
        "oldest_pending_at": oldest,
        "oldest_pending_age_s": (now - oldest).total_seconds() if oldest else None,
    }


def webhook_delivery_list() -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.select_related("subscription", "event")
