"""Writes of the maintenance app: the maintenance work order lifecycle."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from maintenance.choices import MaintenanceKind, MaintenancePriority, MaintenanceState
from maintenance.models import MaintenanceWorkOrder
from mes_site.errors import Conflict, ValidationFailed
from traceability.services import audit_event_record, state_transition

MS = MaintenanceState


def _next_number() -> str:
    return f"MWO-{timezone.now():%Y%m%d%H%M%S%f}"


@transaction.atomic
def maintenance_work_order_create(
    *,
    equipment,
    kind: str,
    title: str,
    description: str = "",
    priority: str = MaintenancePriority.MEDIUM,
    component: str = "",
    window_start_at: datetime | None = None,
    window_end_at: datetime | None = None,
    number: str | None = None,
    actor=None,
) -> MaintenanceWorkOrder:
    if kind not in MaintenanceKind.values:
        raise ValidationFailed(f"Unknown maintenance kind {kind!r}.")
    if priority not in MaintenancePriority.values:
        raise ValidationFailed(f"Unknown priority {priority!r}.")
    if window_start_at and window_end_at and window_end_at <= window_start_at:
        raise ValidationFailed("The maintenance window must end after it starts.")
    try:
        with transaction.atomic():
            order = MaintenanceWorkOrder.objects.create(
                number=number or _next_number(),
                equipment=equipment,
                kind=kind,
                priority=priority,
                title=title,
                description=description,
                component=component,
                requested_at=timezone.now(),
                window_start_at=window_start_at,
                window_end_at=window_end_at,
                requested_by=actor if actor is not None and actor.is_authenticated else None,
            )
    except IntegrityError as error:
        raise Conflict(f"Maintenance work order {number!r} exists already.") from error
    audit_event_record(actor=actor, obj=order, action="create", new_value=MS.REQUESTED)
    return order


def _transition(order_id: int, *, allowed_from, to_state, actor, action, reason="", updates=None):
    with transaction.atomic():
        return state_transition(
            model=MaintenanceWorkOrder,
            pk=order_id,
            allowed_from=allowed_from,
            to_state=to_state,
            actor=actor,
            action=action,
            reason=reason,
            updates=updates,
        )


def maintenance_work_order_schedule(
    *,
    order_id: int,
    window_start_at: datetime,
    window_end_at: datetime,
    actor,
    reason: str = "",
) -> MaintenanceWorkOrder:
    if window_end_at <= window_start_at:
        raise ValidationFailed("The maintenance window must end after it starts.")
    return _transition(
        order_id,
        allowed_from={MS.REQUESTED, MS.SCHEDULED},
        to_state=MS.SCHEDULED,
        actor=actor,
        action="schedule",
        reason=reason,
        updates={"window_start_at": window_start_at, "window_end_at": window_end_at},
    )


def maintenance_work_order_start(*, order_id: int, actor, reason: str = ""):
    return _transition(
        order_id,
        allowed_from={MS.SCHEDULED},
        to_state=MS.IN_PROGRESS,
        actor=actor,
        action="start",
        reason=reason,
        updates={"started_at": timezone.now()},
    )


def maintenance_work_order_complete(*, order_id: int, actor, reason: str = ""):
    return _transition(
        order_id,
        allowed_from={MS.IN_PROGRESS},
        to_state=MS.DONE,
        actor=actor,
        action="complete",
        reason=reason,
        updates={"completed_at": timezone.now()},
    )


def maintenance_work_order_cancel(*, order_id: int, actor, reason: str = ""):
    return _transition(
        order_id,
        allowed_from={MS.REQUESTED, MS.SCHEDULED, MS.IN_PROGRESS},
        to_state=MS.CANCELLED,
        actor=actor,
        action="cancel",
        reason=reason,
    )
