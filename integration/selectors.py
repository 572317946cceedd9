"""Reads of the integration app: the webhook backlog (ERP outage visibility) and the delivery
log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from integration.choices import OPEN_DELIVERY_STATUSES, DeliveryStatus
from integration.models import WebhookDelivery, WebhookSubscription
from mes_site.scope import scope_filter


def webhook_backlog(
    *, now: datetime | None = None, deliveries: QuerySet[WebhookDelivery] | None = None
) -> dict[str, Any]:
    """Deliveries not yet accepted by their receivers: how many, how old the oldest is, how
    many are failing (retrying) and how many were given up (parked, waiting for a replay).
    ``deliveries`` narrows it (to a user's scope); by default every delivery counts."""
    now = now or timezone.now()
    deliveries = WebhookDelivery.objects.all() if deliveries is None else deliveries
    figures = deliveries.aggregate(
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


def webhook_subscription_list() -> QuerySet[WebhookSubscription]:
    return WebhookSubscription.objects.select_related("owner")


def webhook_subscription_list_scoped(*, user) -> QuerySet[WebhookSubscription]:
    """The subscriptions a user sees: every one for the unrestricted roles; for a user scoped
    to sites, those of the whole sites in the scope (a plant-wide subscription, whose events
    include every site's, and a line-scoped user see none)."""
    return scope_filter(webhook_subscription_list(), user, line=None, site="site_id")


def webhook_delivery_list_scoped(*, user) -> QuerySet[WebhookDelivery]:
    """The delivery log of the subscriptions the user sees."""
    return scope_filter(webhook_delivery_list(), user, line=None, site="subscription__site_id")
