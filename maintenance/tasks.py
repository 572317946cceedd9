"""Celery tasks of the maintenance app. Thin: primitive ids in, one service call.

``health_refresh`` is enqueued by the ingest (debounced) when vibration features of an
equipment arrive and by beat for every monitored equipment; it is idempotent (a snapshot per
equipment and newest-window time). ``diagnostics_publish`` retries while the MQTT broker is
away and gives up with a log line, never breaking the loop. Beat also checks the preventive
plans and marks stale procurement requests.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from inventory.services import procurement_requests_mark_stale
from maintenance import selectors
from maintenance.conf import setting
from maintenance.services import closed_loop, corrective, diagnostics, drift, health, work_orders
from mes_site.errors import NotFound, ValidationFailed
from mes_site.tasks import TRANSIENT_DATABASE_ERRORS, DatabaseRetryTask
from workers import store

logger = logging.getLogger(__name__)

PUBLISH_RETRIES = 6


def _countdown_s(retries: int) -> float:
    return float(min(300, 5 * 2**retries))


def health_refresh_schedule(*, equipment_id: int) -> bool:
    """Enqueue ``health_refresh`` for an equipment whose vibration features arrived, at most
    once per ``INGEST_HEALTH_REFRESH_DEBOUNCE_S``; it runs at the end of that window, so it
    sees every feature that arrived within it. The receiver of the ingest's
    ``workers.hooks.vibration_features_stored``."""
    debounce_s = settings.INGEST_HEALTH_REFRESH_DEBOUNCE_S
    if not store.debounce_acquire(f"health:{equipment_id}", ttl_s=debounce_s):
        return False
    queue = settings.INGEST_FOLLOWUP_QUEUE
    health_refresh.apply_async(
        args=[equipment_id], countdown=debounce_s, **({"queue": queue} if queue else {})
    )
    return True


@shared_task(
    name="maintenance.tasks.health_refresh",
    base=DatabaseRetryTask,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=5,
    soft_time_limit=60,
    time_limit=90,
)
def health_refresh(self, equipment_id: int) -> int | None:
    """Evaluate one equipment's health; returns the snapshot id written (None: nothing new)."""
    try:
        outcome = health.health_refresh(equipment_id=int(equipment_id))
    except (NotFound, ValidationFailed) as error:
        logger.warning("health refresh of equipment %s: %s", equipment_id, error.message)
        return None
    except TRANSIENT_DATABASE_ERRORS as error:
        raise self.retry(exc=error, countdown=_countdown_s(self.request.retries)) from None
    return outcome.snapshot.pk if outcome.is_new and outcome.snapshot is not None else None


@shared_task(
    name="maintenance.tasks.health_refresh_all", acks_late=True, soft_time_limit=45, time_limit=60
)
def health_refresh_all() -> int:
    """Beat: queue a refresh of every equipment that has vibration feature signals."""
    equipment_ids = selectors.equipment_with_features()
    for equipment_id in equipment_ids:
        health_refresh.delay(equipment_id)
    return len(equipment_ids)


@shared_task(
    name="maintenance.tasks.diagnostics_publish",
    base=DatabaseRetryTask,
    bind=True,
    acks_late=True,
    max_retries=PUBLISH_RETRIES,
    soft_time_limit=30,
    time_limit=45,
)
def diagnostics_publish(self, snapshot_id: int) -> str | None:
    """Publish a snapshot's diagnostics to the UNS (QoS 1); retried with backoff."""
    try:
        return diagnostics.diagnostics_publish(snapshot_id=int(snapshot_id))
    except (OSError, TimeoutError, ConnectionError, RuntimeError) as error:
        if self.request.retries >= PUBLISH_RETRIES:
            logger.error(
                "diagnostics of snapshot %s not published after %d attempts: %s",
                snapshot_id,
                self.request.retries + 1,
                error,
            )
            return None
        logger.warning(
            "diagnostics of snapshot %s not published (%s); retrying", snapshot_id, error
        )
        raise self.retry(exc=error, countdown=_countdown_s(self.request.retries)) from None


@shared_task(
    name="maintenance.tasks.preventive_plans_check",
    acks_late=True,
    soft_time_limit=240,
    time_limit=300,
)
def preventive_plans_check() -> list[str]:
    """Beat: create the preventive orders that are due (once per plan cycle)."""
    return [order.number for order in work_orders.preventive_plans_check()]


@shared_task(
    name="maintenance.tasks.procurement_housekeeping",
    acks_late=True,
    soft_time_limit=90,
    time_limit=120,
)
def procurement_housekeeping() -> dict[str, int]:
    """Beat: mark stale procurement requests; free what was set aside for rejected orders."""
    stale = procurement_requests_mark_stale(
        stale_after_s=float(setting("MAINTENANCE_PROCUREMENT_STALE_H")) * 3600.0
    )
    if stale:
        logger.warning("%d procurement request(s) not acknowledged by the ERP in time", stale)
    return {"stale": stale, "orphans_released": closed_loop.loop_orphans_release()}


@shared_task(
    name="maintenance.tasks.corrective_orders_open",
    base=DatabaseRetryTask,
    bind=True,
    acks_late=True,
    max_retries=3,
    soft_time_limit=50,
    time_limit=60,
)
def corrective_orders_open(self) -> list[str]:
    """Beat: one corrective order per qualifying stop (unique per stop: a retry is harmless)."""
    try:
        return [order.number for order in corrective.corrective_orders_open()]
    except TRANSIENT_DATABASE_ERRORS as error:
        raise self.retry(exc=error, countdown=_countdown_s(self.request.retries)) from None


@shared_task(
    name="maintenance.tasks.sensor_drift_check_all",
    acks_late=True,
    soft_time_limit=50,
    time_limit=60,
)
def sensor_drift_check_all() -> int:
    """Beat: queue a drift check of every active redundant pair."""
    pair_ids = [pair.pk for pair in selectors.redundant_pairs_active()]
    for pair_id in pair_ids:
        sensor_drift_check.delay(pair_id)
    return len(pair_ids)


@shared_task(
    name="maintenance.tasks.sensor_drift_check",
    base=DatabaseRetryTask,
    bind=True,
    acks_late=True,
    max_retries=3,
    soft_time_limit=50,
    time_limit=60,
)
def sensor_drift_check(self, pair_id: int) -> list[str]:
    """Assess one redundant pair; returns the names of the signals found suspect now."""
    try:
        return drift.sensor_drift_check(pair_id=int(pair_id))
    except NotFound as error:
        logger.warning("sensor drift check of pair %s: %s", pair_id, error.message)
        return []
    except TRANSIENT_DATABASE_ERRORS as error:
        raise self.retry(exc=error, countdown=_countdown_s(self.request.retries)) from None
