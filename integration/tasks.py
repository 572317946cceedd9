"""Celery tasks of the webhook sender. Thin: one service call each.

``deliveries_send`` drains what is due (a pass per claimed run, for at most
``WEBHOOK_SEND_BUDGET_S``, then it queues itself again). It is kicked after the commit of each
transaction that emitted deliveries (``deliveries_kick``, at most one waiting kick at a time)
and by beat every ``WEBHOOK_SWEEP_INTERVAL_S``, so a lost kick or a dead worker delays a
delivery, never loses it. Every run is idempotent: what another sender holds is skipped.
"""

from __future__ import annotations

import logging
import time

from celery import shared_task
from django.conf import settings

from integration.services import deliveries
from mes_site.redis import redis_client

logger = logging.getLogger(__name__)


def _kick_key() -> str:
    return f"{settings.WEBHOOK_REDIS_PREFIX}:kick"


def deliveries_kick() -> None:
    """Queue a send unless one is queued already (it has not started, so it will see every
    delivery committed before this call). Never raises: the beat sweep is the safety net."""
    try:
        if not redis_client().set(_kick_key(), 1, nx=True, ex=settings.WEBHOOK_KICK_TTL_S):
            return
        deliveries_send.apply_async(queue=settings.WEBHOOK_QUEUE)
    except Exception:  # Redis or the broker away: the sweep sends them
        logger.warning("webhooks: could not queue the sender; beat will", exc_info=True)


@shared_task(
    name="integration.tasks.deliveries_send",
    acks_late=True,
    soft_time_limit=600,
    time_limit=660,
    ignore_result=True,
)
def deliveries_send() -> dict[str, int]:
    """Send every due delivery, pass after pass, until none is left or the budget is spent."""
    try:
        redis_client().delete(_kick_key())
    except Exception:  # the kick key expires by itself
        logger.warning("webhooks: could not clear the kick flag", exc_info=True)
    budget_ends_s = time.monotonic() + settings.WEBHOOK_SEND_BUDGET_S
    total = deliveries.SendReport()
    while True:
        report = deliveries.deliveries_send_due()
        total.add(report)
        if report.claimed == 0 or report.delivered == 0:
            break  # nothing due, or every run stopped at a failing receiver
        if time.monotonic() > budget_ends_s:
            deliveries_send.apply_async(queue=settings.WEBHOOK_QUEUE)
            break
    return vars(total)


@shared_task(
    name="integration.tasks.deliveries_sweep",
    acks_late=True,
    soft_time_limit=60,
    time_limit=90,
    ignore_result=True,
)
def deliveries_sweep() -> None:
    """Beat: queue a send (retries that came due, deliveries whose kick or sender was lost)."""
    deliveries_send.apply_async(queue=settings.WEBHOOK_QUEUE)


@shared_task(
    name="integration.tasks.outbox_events_purge",
    acks_late=True,
    soft_time_limit=540,
    time_limit=600,
    ignore_result=True,
)
def outbox_events_purge() -> int:
    """Beat, daily: drop events past ``WEBHOOK_RETENTION_S`` that have nothing left to send."""
    return deliveries.outbox_events_purge(older_than_s=settings.WEBHOOK_RETENTION_S)
