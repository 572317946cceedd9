"""Celery tasks of the workers app: the ingest of bridge batches (queue ``ingest``), the
alert hand-off and the telemetry housekeeping. Thin: decode arguments, call one service.

Ingest tasks are idempotent (the batch ledger skips a redelivered batch), acknowledged late
and rejected back to the queue if the worker dies; a task lost by a worker killed while taking
it off the queue is published again by ``lost_ingest_tasks_redeliver`` (see
``mes_site.celery``). A database or Redis outage is retried with a capped backoff for as long
as it lasts; any other error is retried a few times and then the batch's messages are
dead-lettered (reason ``ingest_error``) so nothing is lost silently and the stream never stops.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import redis
from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from mes_site.celery import lost_tasks_redeliver
from mes_site.tasks import TRANSIENT_DATABASE_ERRORS, DatabaseRetryTask
from workers import store
from workers.ingest import followups
from workers.ingest import sparkplug as sparkplug_ingest
from workers.ingest import uns as uns_ingest
from workers.ingest.dead_letters import batch_dead_letter, dead_letters_retention_apply

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS = (OperationalError, InterfaceError, redis.ConnectionError, redis.TimeoutError)
UNEXPECTED_RETRIES = 3
INGEST_ERROR = "ingest_error"


def _retry_countdown_s(retries: int) -> float:
    return float(min(60, 2**retries))


def _published_at(published_at_ms: int) -> datetime:
    return datetime.fromtimestamp(published_at_ms / 1000, UTC)


@shared_task(
    name="workers.tasks.ingest_uns_batch",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
    soft_time_limit=120,
    time_limit=180,
)
def ingest_uns_batch(self, batch_id, published_at_ms, messages, oversize=()):
    """One bridge batch of UNS messages ``[[topic, payload bytes], ...]``."""
    try:
        uns_ingest.ingest_uns_batch(
            batch_id=batch_id,
            published_at=_published_at(published_at_ms),
            messages=messages,
            oversize=oversize,
        )
    except TRANSIENT_ERRORS as error:
        logger.warning("ingest batch %s: %s; retrying", batch_id, error)
        raise self.retry(exc=error, countdown=_retry_countdown_s(self.request.retries)) from None
    except Exception as error:
        _unexpected(self, batch_id, error, messages)


def _unexpected(task, batch_id, error, messages) -> None:
    retries = task.request.retries
    if retries < UNEXPECTED_RETRIES:
        logger.exception("ingest batch %s failed; retry %d", batch_id, retries + 1)
        raise task.retry(exc=error, countdown=_retry_countdown_s(retries)) from None
    logger.exception("ingest batch %s failed %d times; dead-lettering it", batch_id, retries + 1)
    batch_dead_letter(
        batch_id=batch_id,
        messages=messages,
        reason_code=INGEST_ERROR,
        message=f"{type(error).__name__}: {error}",
    )


@shared_task(
    name="workers.tasks.ingest_sparkplug_batch",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
    soft_time_limit=120,
    time_limit=180,
)
def ingest_sparkplug_batch(
    self,
    batch_id,
    published_at_ms,
    readings=(),
    current_values=(),
    stale_marks=(),
    quality_events=(),
    dead_letters=(),
    message_count=0,
    deferred=(),
    tables=(),
):
    """One batch of the Sparkplug host's decisions (see ``workers.ingest.sparkplug``)."""
    try:
        sparkplug_ingest.ingest_sparkplug_batch(
            batch_id=batch_id,
            published_at=_published_at(published_at_ms),
            readings=readings,
            current_values=current_values,
            stale_marks=stale_marks,
            quality_events=quality_events,
            dead_letters=dead_letters,
            message_count=message_count,
            deferred=deferred,
            tables=tables,
        )
    except TRANSIENT_ERRORS as error:
        logger.warning("sparkplug batch %s: %s; retrying", batch_id, error)
        raise self.retry(exc=error, countdown=_retry_countdown_s(self.request.retries)) from None
    except Exception as error:
        retries = self.request.retries
        if retries < UNEXPECTED_RETRIES:
            logger.exception("sparkplug batch %s failed; retry %d", batch_id, retries + 1)
            raise self.retry(exc=error, countdown=_retry_countdown_s(retries)) from None
        logger.exception("sparkplug batch %s failed %d times; dropped", batch_id, retries + 1)
        batch_dead_letter(
            batch_id=batch_id,
            messages=[],
            reason_code=INGEST_ERROR,
            message=f"{type(error).__name__}: {error}",
            topic="spBv1.0",
        )


@shared_task(
    name="workers.tasks.alerts_evaluate",
    base=DatabaseRetryTask,
    acks_late=True,
    soft_time_limit=60,
    time_limit=90,
)
def alerts_evaluate():
    """Evaluate signal alerts on the latest values parked by the ingest (debounced); on a
    transient database error the values are parked again for the retry."""
    values = followups.alerts_pending_take()
    try:
        followups.alerts_evaluate(values=values)
    except TRANSIENT_DATABASE_ERRORS:
        followups.alerts_pending_restore(values)
        raise


@shared_task(name="workers.tasks.lost_ingest_tasks_redeliver", soft_time_limit=60, time_limit=90)
def lost_ingest_tasks_redeliver():
    """Beat: publish again the ingest tasks a worker killed while taking them lost (see
    ``mes_site.celery``); the batch ledger makes a task that was only late a no-op."""
    return lost_tasks_redeliver(after_s=settings.CELERY_REDELIVER_AFTER_S)


@shared_task(name="workers.tasks.telemetry_maintain", soft_time_limit=600, time_limit=900)
def telemetry_maintain():
    """Beat, hourly: partitions ahead, retention of readings, rollups and the batch ledger."""
    result = store.telemetry_retention_apply(now=timezone.now())
    logger.info("telemetry maintenance: %s", result)
    return result


@shared_task(
    name="workers.tasks.dead_letters_retention_apply",
    acks_late=True,
    soft_time_limit=240,
    time_limit=300,
    ignore_result=True,
)
def dead_letters_retention_apply_task() -> int:
    """Beat, hourly: delete dead-letter groups older than ``RETENTION_DEAD_LETTERS_DAYS``."""
    return dead_letters_retention_apply(now=timezone.now())
