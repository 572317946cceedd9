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
    soft_time_limit=1700,
    time_limit=1800,
    ignore_result=True,
)
def audit_chain_check() -> bool:
    """Beat, hourly: verify the audit hash chain; an ERROR log (the alert) when it is broken."""
    return audit_chain.audit_chain_check()
