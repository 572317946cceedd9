"""Corrective work orders opened by the equipment stops themselves.

A machine that goes ``down`` with a failure reason (a downtime reason whose code, or an
ancestor's, is in ``MAINTENANCE_FAILURE_REASON_CODES``), or down without a reason for at
least ``MAINTENANCE_UNCLASSIFIED_STOP_S``, gets one corrective order, linked to the stop by
its equipment and start (``stop_started_at``; unique together, so a retried or concurrent
run cannot open a second one — the insert fails on the constraint and is skipped). Closing
the order with findings records the stop as a ``FailureEvent`` (failed at the stop's start,
repaired when the equipment left the down state), so MTTR is measured from real stops.

This records a fact (the machine is down) rather than deciding anything, so it does not go
through the autonomy guardrails: it schedules no work, reserves no part and buys nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from maintenance import selectors
from maintenance.choices import MaintenanceKind, MaintenancePriority
from maintenance.conf import setting
from maintenance.models import MaintenanceWorkOrder
from maintenance.services.work_orders import maintenance_work_order_create
from mes_site.errors import Conflict
from production.models import EquipmentStateInterval

logger = logging.getLogger(__name__)


def stop_order_number(interval: EquipmentStateInterval) -> str:
    return f"CM-{interval.equipment_id}-{interval.start_at:%Y%m%d%H%M%S}"


def corrective_order_for_stop(
    *, interval: EquipmentStateInterval, is_failure_reason: bool, now: datetime
) -> MaintenanceWorkOrder | None:
    """Open the stop's corrective order; None when it has one already (idempotent)."""
    equipment = interval.equipment
    if is_failure_reason and interval.reason is not None:
        why = f"down with failure reason {interval.reason.code} ({interval.reason.name})"
        priority = MaintenancePriority.HIGH
    else:
        lasted_s = ((interval.end_at or now) - interval.start_at).total_seconds()
        why = (
            f"down without a reason for {lasted_s / 60:.0f} min (longer than "
            f"{float(setting('MAINTENANCE_UNCLASSIFIED_STOP_S')) / 60:g} min)"
        )
        priority = MaintenancePriority.MEDIUM
    try:
        return maintenance_work_order_create(
            equipment=equipment,
            kind=MaintenanceKind.CORRECTIVE,
            title=f"Repair: {equipment.code} stopped at {interval.start_at:%Y-%m-%d %H:%M} UTC",
            description=(
                f"{equipment.code} went {why} at {interval.start_at:%Y-%m-%d %H:%M:%S} UTC. "
                "Close this order with the findings: they become the failure record."
            ),
            priority=priority,
            number=stop_order_number(interval),
            stop_started_at=interval.start_at,
            stop_interval_id=interval.pk,
        )
    except Conflict:
        return None  # the stop has its order (another run, a retry, or a restart)


def corrective_orders_open(*, now: datetime | None = None) -> list[MaintenanceWorkOrder]:
    """Open the corrective orders of the stops that qualify (each in its own transaction)."""
    now = now or timezone.now()
    failure_ids = selectors.failure_reason_ids(
        codes=list(setting("MAINTENANCE_FAILURE_REASON_CODES"))
    )
    stops = selectors.stops_without_order(
        now=now,
        since=now - timedelta(hours=float(setting("MAINTENANCE_CORRECTIVE_LOOKBACK_H"))),
        failure_reason_ids=failure_ids,
        unclassified_stop_s=float(setting("MAINTENANCE_UNCLASSIFIED_STOP_S")),
    )
    opened = []
    for interval in stops:
        with transaction.atomic():
            order = corrective_order_for_stop(
                interval=interval, is_failure_reason=interval.reason_id in failure_ids, now=now
            )
        if order is not None:
            logger.info("corrective order %s opened for a stop", order.number)
            opened.append(order)
    return opened
