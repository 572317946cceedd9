"""The sender: brings open deliveries to their receivers, in event order per subscription.

One pass (``deliveries_send_due``) goes over the subscriptions with open deliveries. For each
it *claims* a run of deliveries in a short transaction: the subscription row is locked with
``SELECT … FOR NO KEY UPDATE SKIP LOCKED`` (a second sender skips it rather than waits), and
the run is the open deliveries in event order up to the first one that is not due yet or is
held by another sender's unexpired claim. The run gets a claim token and a lease
(``claimed_until``); then, outside any transaction, the deliveries are POSTed one after the
other on a kept-alive connection, signed as Standard Webhooks. The first failure ends the
run: that delivery is rescheduled with exponential backoff and full jitter (or parked once the
next attempt would fall after its deadline) and the rest of the run is released, so a later
event of a subscription never overtakes an earlier one that is still being retried.

Results are written only if the claim token still matches (compare and set): a sender that
stalled past its lease cannot overwrite what another sender did since. A sender killed in the
middle leaves its claims to expire; the deliveries are then claimed and sent again with the
same ``webhook-id`` — at least once on the wire, recorded as delivered exactly once.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from integration.choices import OPEN_DELIVERY_STATUSES, DeliveryStatus
from integration.models import OutboxEvent, WebhookDelivery, WebhookSubscription

logger = logging.getLogger(__name__)

USER_AGENT = "mes-webhooks/1"


@dataclass
class SendReport:
    """What one pass did (counts of deliveries)."""

    claimed: int = 0
    delivered: int = 0
    retrying: int = 0
    parked: int = 0
    released: int = 0

    def add(self, other: SendReport) -> None:
        for name in ("claimed", "delivered", "retrying", "parked", "released"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class _Claim:
    subscription_id: int
    target_url: str
    secret: str
    token: uuid.UUID
    deliveries: list[WebhookDelivery]
    lease_ends_monotonic_s: float


@dataclass
class _Outcome:
    delivery: WebhookDelivery
    attempted_at: datetime
    duration_s: float
    status_code: int | None = None
    error: str = ""

    @property
    def is_success(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass
class _HttpClient:
    pid: int
    client: httpx.Client = field(repr=False)


_http: _HttpClient | None = None


def http_client() -> httpx.Client:
    """The process's client (kept-alive connections; a new one after a fork)."""
    global _http
    if _http is None or _http.pid != os.getpid():
        _http = _HttpClient(
            os.getpid(),
            httpx.Client(
                timeout=httpx.Timeout(
                    settings.WEBHOOK_TIMEOUT_S, connect=settings.WEBHOOK_CONNECT_TIMEOUT_S
                ),
                follow_redirects=False,
                headers={"user-agent": USER_AGENT},
            ),
        )
    return _http.client


def event_body(event: OutboxEvent) -> bytes:
    """The JSON body of every delivery of ``event`` (the same bytes on every attempt)."""
    document = {
        "type": event.event_type,
        "timestamp": event.occurred_at,
        "sequence": event.pk,
        "data": event.payload,
    }
    return json.dumps(document, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def signed_headers(
    webhook: Webhook, *, webhook_id: str, body: bytes, at: datetime
) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt (``at``: the attempt's wall-clock time)."""
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": webhook.sign(webhook_id, at, body),
    }


def retry_delay_s(*, attempt_count: int, rng: random.Random | None = None) -> float:
    """Full jitter: uniform in [0, min(cap, base · 2^(attempts − 1))]."""
    ceiling_s = min(
        settings.WEBHOOK_RETRY_MAX_DELAY_S,
        settings.WEBHOOK_RETRY_BASE_DELAY_S * 2 ** max(0, attempt_count - 1),
    )
    return (rng or random).uniform(0.0, ceiling_s)


# --- claiming -------------------------------------------------------------------------------


def _subscriptions_with_open_deliveries() -> list[int]:
    return list(
        WebhookDelivery.objects.filter(
            status__in=OPEN_DELIVERY_STATUSES, subscription__is_active=True
        )
        .values_list("subscription_id", flat=True)
        .distinct()
        .order_by("subscription_id")
    )


def _claim(*, subscription_id: int, now: datetime, limit: int) -> _Claim | None:
    claim_s = settings.WEBHOOK_CLAIM_S
    with transaction.atomic():
        subscription = (
            WebhookSubscription.objects.select_for_update(skip_locked=True, no_key=True)
            .filter(pk=subscription_id, is_active=True)
            .only("id", "target_url", "secret")
            .first()
        )
        if subscription is None:
            return None  # inactive, or another sender is claiming for it right now
        heads = WebhookDelivery.objects.filter(
            subscription_id=subscription_id, status__in=OPEN_DELIVERY_STATUSES
        ).order_by("event_id")
        run: list[int] = []
        for delivery_id, next_attempt_at, claimed_until in heads.values_list(
            "id", "next_attempt_at", "claimed_until"
        )[:limit]:
            if claimed_until is not None and claimed_until > now:
                break  # another sender owns it (or its lease has not run out yet)
            if next_attempt_at > now:
                break  # waiting for its retry: the later ones wait behind it
            run.append(delivery_id)
        if not run:
            return None
        token = uuid.uuid4()
        WebhookDelivery.objects.filter(pk__in=run).update(
            claimed_until=now + timedelta(seconds=claim_s), claim_token=token
        )
        deliveries = list(
            WebhookDelivery.objects.filter(pk__in=run).select_related("event").order_by("event_id")
        )
    return _Claim(
        subscription_id=subscription_id,
        target_url=subscription.target_url,
        secret=subscription.secret,
        token=token,
        deliveries=deliveries,
        # Stop starting new requests while one could still end inside the lease.
        lease_ends_monotonic_s=time.monotonic() + claim_s - settings.WEBHOOK_TIMEOUT_S - 1.0,
    )


# --- sending --------------------------------------------------------------------------------


def _post(claim: _Claim, webhook: Webhook, delivery: WebhookDelivery) -> _Outcome:
    body = event_body(delivery.event)
    attempted_at = timezone.now()
    headers = signed_headers(webhook, webhook_id=delivery.webhook_id, body=body, at=attempted_at)
    started_s = time.perf_counter()
    try:
        response = http_client().post(claim.target_url, content=body, headers=headers)
    except httpx.HTTPError as error:
        return _Outcome(
            delivery,
            attempted_at,
            time.perf_counter() - started_s,
            error=f"{type(error).__name__}: {error}"[:500],
        )
    outcome = _Outcome(
        delivery, attempted_at, time.perf_counter() - started_s, response.status_code
    )
    if not outcome.is_success:
        outcome.error = f"HTTP {response.status_code}: {response.text[:200]}"[:500]
    return outcome


_DELIVERED_SQL = """
UPDATE {table} AS delivery
SET status = %s, attempt_count = delivery.attempt_count + 1, last_error = '',
    last_attempt_at = result.attempted_at, delivered_at = result.attempted_at,
    last_status_code = result.status_code, last_duration_s = result.duration_s,
    claimed_until = NULL, claim_token = NULL
FROM (VALUES {rows}) AS result (id, attempted_at, status_code, duration_s)
WHERE delivery.id = result.id AND delivery.claim_token = %s
"""


def _record_delivered(claim: _Claim, outcomes: list[_Outcome]) -> int:
    """Mark the deliveries delivered in one statement, where the claim is still ours."""
    if not outcomes:
        return 0
    if connection.vendor == "postgresql":
        rows = ", ".join(["(%s::bigint, %s::timestamptz, %s::integer, %s::float8)"] * len(outcomes))
        parameters: list = [DeliveryStatus.DELIVERED]
        for outcome in outcomes:
            parameters += [
                outcome.delivery.pk,
                outcome.attempted_at,
                outcome.status_code,
                outcome.duration_s,
            ]
        parameters.append(claim.token)
        sql = _DELIVERED_SQL.format(table=WebhookDelivery._meta.db_table, rows=rows)
        with connection.cursor() as cursor:
            cursor.execute(sql, parameters)
            recorded = cursor.rowcount
    else:  # SQLite (the demo): a statement per delivery
        recorded = sum(
            WebhookDelivery.objects.filter(pk=outcome.delivery.pk, claim_token=claim.token).update(
                status=DeliveryStatus.DELIVERED,
                attempt_count=F("attempt_count") + 1,
                last_attempt_at=outcome.attempted_at,
                last_status_code=outcome.status_code,
                last_error="",
                last_duration_s=outcome.duration_s,
                delivered_at=outcome.attempted_at,
                claimed_until=None,
                claim_token=None,
            )
            for outcome in outcomes
        )
    if recorded < len(outcomes):
        logger.warning(
            "webhooks: %d results of subscription %s dropped (claim lost to another sender)",
            len(outcomes) - recorded,
            claim.subscription_id,
        )
    return recorded


def _record_failure(claim: _Claim, outcome: _Outcome, *, now: datetime) -> str | None:
    delivery = outcome.delivery
    next_attempt_at = now + timedelta(
        seconds=retry_delay_s(attempt_count=delivery.attempt_count + 1)
    )
    is_parked = next_attempt_at > delivery.deadline_at
    status = DeliveryStatus.PARKED if is_parked else DeliveryStatus.RETRYING
    updated = WebhookDelivery.objects.filter(pk=delivery.pk, claim_token=claim.token).update(
        status=status,
        attempt_count=F("attempt_count") + 1,
        next_attempt_at=next_attempt_at,
        last_attempt_at=outcome.attempted_at,
        last_status_code=outcome.status_code,
        last_error=outcome.error,
        last_duration_s=outcome.duration_s,
        parked_at=now if is_parked else None,
        claimed_until=None,
        claim_token=None,
    )
    if is_parked and updated:
        logger.warning(
            "webhooks: delivery %s parked after %d attempts (%s)",
            delivery.webhook_id,
            delivery.attempt_count + 1,
            outcome.error,
        )
    return status if updated else None


def _release(claim: _Claim, deliveries: list[WebhookDelivery]) -> int:
    if not deliveries:
        return 0
    return WebhookDelivery.objects.filter(
        pk__in=[delivery.pk for delivery in deliveries], claim_token=claim.token
    ).update(claimed_until=None, claim_token=None)


def _send_claim(claim: _Claim, *, now: datetime) -> SendReport:
    report = SendReport(claimed=len(claim.deliveries))
    webhook = Webhook(claim.secret)
    record_every = settings.WEBHOOK_RECORD_BATCH
    successes: list[_Outcome] = []
    for index, delivery in enumerate(claim.deliveries):
        if time.monotonic() > claim.lease_ends_monotonic_s:
            report.released += _release(claim, claim.deliveries[index:])
            break
        outcome = _post(claim, webhook, delivery)
        if outcome.is_success:
            successes.append(outcome)
            if len(successes) >= record_every:
                report.delivered += _record_delivered(claim, successes)
                successes = []
            continue
        report.delivered += _record_delivered(claim, successes)
        successes = []
        status = _record_failure(claim, outcome, now=now)
        if status == DeliveryStatus.PARKED:
            report.parked += 1
        elif status == DeliveryStatus.RETRYING:
            report.retrying += 1
        report.released += _release(claim, claim.deliveries[index + 1 :])
        break
    report.delivered += _record_delivered(claim, successes)
    return report


def deliveries_send_due(*, now: datetime | None = None, limit: int | None = None) -> SendReport:
    """One pass: per subscription with open deliveries, claim the due run (at most ``limit``,
    default ``WEBHOOK_SEND_BATCH``) and send it in order. ``now`` decides what is due."""
    limit = limit or settings.WEBHOOK_SEND_BATCH
    report = SendReport()
    for subscription_id in _subscriptions_with_open_deliveries():
        moment = now or timezone.now()
        claim = _claim(subscription_id=subscription_id, now=moment, limit=limit)
        if claim is not None:
            report.add(_send_claim(claim, now=moment))
    return report


# --- housekeeping ---------------------------------------------------------------


def outbox_events_purge(*, older_than_s: float, now: datetime | None = None) -> int:
    """Delete events older than ``older_than_s`` whose deliveries are all delivered or parked
    (with those deliveries); their number."""
    cutoff = (now or timezone.now()) - timedelta(seconds=older_than_s)
    old = OutboxEvent.objects.filter(occurred_at__lt=cutoff).exclude(
        deliveries__status__in=OPEN_DELIVERY_STATUSES
    )
    _deleted, by_model = old.delete()
    return by_model.get(OutboxEvent._meta.label, 0)
