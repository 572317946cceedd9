"""The transactional outbox: ``emit`` writes an event and its deliveries in the caller's
transaction.

A service that changes something an ERP cares about calls ``emit`` inside its own atomic
block. The event and one delivery per matching active subscription are rows of that same
transaction: if it rolls back, there is no event and nothing is sent; if it commits, the
deliveries are in the database before anyone is told, and a sender is kicked after the commit
(the beat sweep picks them up should the kick be lost).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from integration.choices import EventType
from integration.models import OutboxEvent, WebhookDelivery, WebhookSubscription
from integration.tasks import deliveries_kick


def new_webhook_id() -> str:
    """A Standard Webhooks message id: unique, URL-safe, the same on every attempt."""
    return f"msg_{uuid.uuid4().hex}"


def subscriptions_for(*, event_type: str, site_id: int | None) -> list[WebhookSubscription]:
    """The active subscriptions that want ``event_type`` of ``site_id`` (a subscription scoped
    to a site gets only that site's events; plant-wide events go to unscoped ones only)."""
    site_condition = Q(site_id__isnull=True)
    if site_id is not None:
        site_condition |= Q(site_id=site_id)
    candidates = WebhookSubscription.objects.filter(site_condition, is_active=True)
    return [
        subscription
        for subscription in candidates.only("id", "event_types", "site_id")
        if event_type in (subscription.event_types or [])
    ]


def emit(event_type: str, payload: Mapping[str, Any], *, site=None) -> OutboxEvent:
    """Record ``event_type`` with its JSON ``payload`` (``site``: a Site, its id, or None for a
    plant-wide event) in the current transaction, with a delivery per matching subscription."""
    if event_type not in EventType.values:
        raise ValueError(f"Unknown webhook event type {event_type!r}.")
    site_id = getattr(site, "pk", site)
    now = timezone.now()
    # No savepoint of its own: an error here breaks the caller's transaction anyway.
    with transaction.atomic(savepoint=False):
        event = OutboxEvent.objects.create(
            event_type=event_type, payload=dict(payload), occurred_at=now, site_id=site_id
        )
        deadline_at = now + timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW_S)
        deliveries = [
            WebhookDelivery(
                webhook_id=new_webhook_id(),
                subscription_id=subscription.pk,
                event=event,
                created_at=now,
                next_attempt_at=now,
                deadline_at=deadline_at,
            )
            for subscription in subscriptions_for(event_type=event_type, site_id=site_id)
        ]
        WebhookDelivery.objects.bulk_create(deliveries)
    if deliveries:
        transaction.on_commit(deliveries_kick, robust=True)
    return event
