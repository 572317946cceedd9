"""Webhook subscriptions: create one (its secret generated here) and rotate its secret."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from integration.choices import EventType
from integration.models import WebhookSubscription
from mes_site.errors import NotFound, ValidationFailed
from mes_site.scope import scope_get

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def secret_generate() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def event_types_clean(event_types: Iterable[str]) -> list[str]:
    """The event types, checked against the known ones, without repeats, in a stable order."""
    chosen = list(dict.fromkeys(event_types))
    unknown = [event_type for event_type in chosen if event_type not in EventType.values]
    if unknown:
        raise ValidationFailed(
            f"Unknown event types: {', '.join(map(str, unknown))}.",
            detail={"event_types": unknown, "known": list(EventType.values)},
        )
    if not chosen:
        raise ValidationFailed("A subscription needs at least one event type.")
    return chosen


def target_url_clean(target_url: str) -> str:
    parts = urlsplit(target_url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed(
            "The target URL must be an http:// or https:// address.",
            detail={"target_url": target_url},
        )
    return target_url


def site_in_scope_check(actor, site_id: int | None) -> None:
    """A user scoped to sites subscribes only to the events of a whole site of their scope:
    not to another site's, not to the plant-wide stream (it carries every site's events).
    ``actor`` None (the admin's and internal calls) is not checked."""
    if actor is None or scope_get(actor).covers_site(site_id):
        return
    message = (
        "Choose a site of your scope: you cannot subscribe to every site's events."
        if site_id is None
        else f"Site {site_id} is not a whole site of your scope."
    )
    raise ValidationFailed(message, detail={"site_id": [message]})


@transaction.atomic
def subscription_create(
    *,
    name: str,
    target_url: str,
    event_types: Iterable[str],
    site_id: int | None = None,
    is_active: bool = True,
    owner=None,
    actor=None,
) -> WebhookSubscription:
    """A new subscription with a freshly generated secret (read it once from the result).
    ``actor``, the API's caller, may subscribe only to a site of their scope."""
    if not name:
        raise ValidationFailed("A subscription needs a name.")
    site_in_scope_check(actor, site_id)
    return WebhookSubscription.objects.create(
        name=name[:200],
        target_url=target_url_clean(target_url),
        secret=secret_generate(),
        event_types=event_types_clean(event_types),
        site_id=site_id,
        is_active=is_active,
        owner=owner if owner is not None and owner.is_authenticated else None,
        created_at=timezone.now(),
    )


@transaction.atomic
def subscription_secret_rotate(*, subscription_id: int) -> WebhookSubscription:
    """Replace the secret: every attempt from now on, retries included, is signed with the
    new one."""
    subscription = (
        WebhookSubscription.objects.select_for_update().filter(pk=subscription_id).first()
    )
    if subscription is None:
        raise NotFound(f"No webhook subscription {subscription_id}.")
    subscription.secret = secret_generate()
    subscription.secret_rotated_at = timezone.now()
    subscription.save(update_fields=["secret", "secret_rotated_at"])
    return subscription


@transaction.atomic
def subscription_update(
    *,
    subscription_id: int,
    name: str,
    target_url: str,
    event_types: Iterable[str],
    site_id: int | None,
    is_active: bool,
    actor=None,
) -> WebhookSubscription:
    """Change what a subscription receives and where (the secret changes only by rotation).
    Deliveries already emitted keep going to the subscription's current URL. ``actor``, the
    API's caller, may move it only to a site of their scope."""
    site_in_scope_check(actor, site_id)
    subscription = (
        WebhookSubscription.objects.select_for_update().filter(pk=subscription_id).first()
    )
    if subscription is None:
        raise NotFound(f"No webhook subscription {subscription_id}.")
    if not name:
        raise ValidationFailed("A subscription needs a name.")
    subscription.name = name[:200]
    subscription.target_url = target_url_clean(target_url)
    subscription.event_types = event_types_clean(event_types)
    subscription.site_id = site_id
    subscription.is_active = is_active
    subscription.save(update_fields=["name", "target_url", "event_types", "site_id", "is_active"])
    return subscription
