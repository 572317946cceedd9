"""Celery tasks of traceability: thin wrappers around its services."""

from __future__ import annotations

from celery import shared_task

from traceability.services import audit_chain, idempotency


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


@shared_task(
    name="traceability.tasks.audit_chain_check",
    acks_late=True,
    # Inside the broker's visibility timeout (tests/test_tasks.py); a chain too long to verify
    # in 14 minutes is verified with `manage.py audit_verify`, which has no limit.
    soft_time_limit=840,
    time_limit=900,
    ignore_result=True,
)
def audit_chain_check() -> bool:
    """Beat, hourly: verify the audit hash chain; an ERROR log (the alert) when it is broken."""
    return audit_chain.audit_chain_check()
