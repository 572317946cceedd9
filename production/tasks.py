"""Celery tasks of the monitoring area: thin wrappers around the monitoring services."""

from __future__ import annotations

from datetime import datetime

from celery import shared_task
from django.utils import timezone

from mes_site.tasks import DatabaseRetryTask
from production.services import alerts, oee_publish, oee_snapshots, retention


@shared_task(
    name="production.tasks.oee_snapshots_maintain",
    acks_late=True,
    soft_time_limit=540,
    time_limit=600,
    ignore_result=True,
)
def oee_snapshots_maintain() -> dict:
    """Beat, every minute: recompute what late data changed, close ended periods."""
    result = oee_snapshots.oee_snapshots_maintain()
    return {
        "requests_processed": result.requests_processed,
        "periods_written": result.periods_written,
        "snapshots_written": result.snapshots_written,
    }


@shared_task(
    name="production.tasks.oee_publish_trailing",
    base=DatabaseRetryTask,
    acks_late=True,
    soft_time_limit=20,
    time_limit=30,
    ignore_result=True,
)
def oee_publish_trailing(scope: str, scope_id: int) -> list[int]:
    """The trailing OEE publish of a line or site, at the end of its interval."""
    return oee_publish.oee_publish_trailing(scope=scope, scope_id=int(scope_id))


@shared_task(
    name="production.tasks.alerts_evaluate_signal_values",
    base=DatabaseRetryTask,
    acks_late=True,
    soft_time_limit=20,
    time_limit=30,
    ignore_result=True,
)
def alerts_evaluate_signal_values(values: list[list]) -> int:
    """Check the latest signal values of an ingest batch against the alert rules.

    ``values``: ``[equipment_id, signal_name, value, ts ISO 8601]`` lists (JSON-friendly).
    Returns the number of alerts raised or cleared.
    """
    parsed = [
        (int(equipment_id), str(name), value, datetime.fromisoformat(ts))
        for equipment_id, name, value, ts in values
    ]
    return len(alerts.alerts_evaluate_signal_values(values=parsed))


@shared_task(
    name="production.tasks.monitoring_retention_apply",
    acks_late=True,
    soft_time_limit=240,
    time_limit=300,
    ignore_result=True,
)
def monitoring_retention_apply() -> dict[str, int]:
    """Beat, hourly: delete old state events, cleared alerts and hourly OEE snapshots."""
    return retention.monitoring_retention_apply(now=timezone.now())
