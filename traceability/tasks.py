"""Celery tasks of traceability: thin wrappers around its services."""

from __future__ import annotations

from celery import shared_task

from traceability.services import idempotency


@shared_task(
    name="traceability.tasks.idempotency_keys_purge",
    acks_late=True,
    soft_time_limit=240,
    time_limit=300,
    ignore_result=True,
)
def idempotency_keys_purge() -> int:
    """Beat, hourly: delete the API's expired idempotency keys."""
    return idempotency.idempotency_keys_purge_expired()
