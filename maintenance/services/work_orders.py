"""Writes of the maintenance work order lifecycle, preventive plans and failure events.

Lifecycle: requested → scheduled → in progress → done, or cancelled from any open state.
Completing an order closes what it was for: the failure events it repairs get their repair
time, its preventive plan starts the next cycle, its anomaly episode ends. Cancelling an
order releases its spare part reservations (and a preventive order's cycle is skipped).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from integration.choices import EventType
from integration.services.events import emit
from inventory.services import reservations_link, reservations_release_for
from maintenance import selectors
from maintenance.choices import (
    EpisodeState,
    MaintenanceKind,
    MaintenancePriority,
    MaintenanceState,
    PlanTrigger,
    SuspicionStatus,
)
from maintenance.models import (
    AnomalyEpisode,
    FailureEvent,
    MaintenanceWorkOrder,
    PreventivePlan,
    SensorSuspicion,
)
from maintenance.services.drift import sensor_suspicion_clear
from mes_site.errors import Conflict, NotFound, ValidationFailed
from traceability.services import audit_event_record, state_transition

logger = logging.getLogger(__name__)

MS = MaintenanceState
OPEN_STATES = frozenset({MS.REQUESTED, MS.SCHEDULED, MS.IN_PROGRESS})


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
    estimated_duration_h: float | None = None,
    preventive_plan: PreventivePlan | None = None,
    plan_cycle_number: int | None = None,
    anomaly_episode: AnomalyEpisode | None = None,
    stop_started_at: datetime | None = None,
    stop_interval_id: int | None = None,
    actor=None,
) -> MaintenanceWorkOrder:
    if kind not in MaintenanceKind.values:
        raise ValidationFailed(f"Unknown maintenance kind {kind!r}.")
    if priority not in MaintenancePriority.values:
        raise ValidationFailed(f"Unknown priority {priority!r}.")
    if window_start_at and window_end_at and window_end_at <= window_start_at:
        raise ValidationFailed("The maintenance window must end after it starts.")
    if estimated_duration_h is not None and not estimated_duration_h >= 0:
        raise ValidationFailed("The estimated duration must be ≥ 0 h.")
    try:
        with transaction.atomic():
            order = MaintenanceWorkOrder.objects.create(
                number=number or _next_number(),
                equipment=equipment,
                kind=kind,
                priority=priority,
                title=title[:200],
                description=description,
                component=component,
                requested_at=timezone.now(),
                window_start_at=window_start_at,
                window_end_at=window_end_at,
                requested_by=actor if actor is not None and actor.is_authenticated else None,
                estimated_duration_h=2.0 if estimated_duration_h is None else estimated_duration_h,
                preventive_plan=preventive_plan,
                plan_cycle_number=plan_cycle_number,
                anomaly_episode=anomaly_episode,
                stop_started_at=stop_started_at,
                stop_interval_id=stop_interval_id,
            )
    except IntegrityError as error:
        if stop_started_at is not None:
            raise Conflict(
                f"{equipment.code} has a corrective order for its stop at "
                f"{stop_started_at.isoformat()} already.",
                code="stop_has_order",
            ) from error
        raise Conflict(f"Maintenance work order {number!r} exists already.") from error
    audit_event_record(actor=actor, obj=order, action="create", new_value=MS.REQUESTED)
    reservations_link(reference=order.number, maintenance_work_order=order)
    emit(EventType.MAINTENANCE_WORK_ORDER_CREATED, order_event_data(order), site=_site_id(order))
    return order


def _site_id(order: MaintenanceWorkOrder) -> int:
    return (
        MaintenanceWorkOrder.objects.filter(pk=order.pk)
        .values_list("equipment__cell__line__area__site_id", flat=True)
        .get()
    )


def order_event_data(order: MaintenanceWorkOrder, *, action: str = "create") -> dict:
    """The webhook payload of a maintenance work order event (docs/api.md "Webhooks")."""
    return {
        "id": order.pk,
        "number": order.number,
        "action": action,
        "state": order.state,
        "kind": order.kind,
        "priority": order.priority,
        "title": order.title,
        "equipment": order.equipment.uns_path,
        "component": order.component,
        "requested_at": order.requested_at,
        "window_start_at": order.window_start_at,
        "window_end_at": order.window_end_at,
        "started_at": order.started_at,
        "completed_at": order.completed_at,
        "estimated_duration_h": order.estimated_duration_h,
    }


@transaction.atomic
def _transition(order_id: int, *, allowed_from, to_state, actor, action, reason="", updates=None):
    order = state_transition(
        model=MaintenanceWorkOrder,
        pk=order_id,
        allowed_from=allowed_from,
        to_state=to_state,
        actor=actor,
        action=action,
        reason=reason,
        updates=updates,
    )
    emit(
        EventType.MAINTENANCE_WORK_ORDER_CHANGED,
        order_event_data(order, action=action),
        site=_site_id(order),
    )
    return order


@transaction.atomic
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


@transaction.atomic
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


@transaction.atomic
def maintenance_work_order_complete(
    *,
    order_id: int,
    actor,
    reason: str = "",
    findings: str = "",
    component: str = "",
    is_failure: bool = True,
):
    """Finish an order. An order opened for an equipment stop needs ``findings``; with
    ``is_failure`` (default) they are recorded as the stop's ``FailureEvent`` (failed at the
    stop's start, repaired when the equipment left the down state — or now, if it has not)."""
    findings = findings.strip()
    stop_started_at = (
        MaintenanceWorkOrder.objects.filter(pk=order_id)
        .values_list("stop_started_at", flat=True)
        .first()
    )
    if stop_started_at is not None and not findings:
        raise ValidationFailed(
            "An order opened for a stop is closed with its findings.",
            code="findings_required",
            detail={"findings": ["This field is required for an order opened for a stop."]},
        )
    updates = {"completed_at": timezone.now()}
    if findings:
        updates["findings"] = findings
    if component.strip():
        updates["component"] = component.strip()[:100]
    order = _transition(
        order_id,
        allowed_from={MS.IN_PROGRESS},
        to_state=MS.DONE,
        actor=actor,
        action="complete",
        reason=reason,
        updates=updates,
    )
    if order.stop_started_at is not None and is_failure:
        _stop_failure_record(order, actor=actor)
    if order.kind == MaintenanceKind.CALIBRATION:
        for suspicion_id in SensorSuspicion.objects.filter(
            calibration_order_number=order.number, status=SuspicionStatus.OPEN
        ).values_list("id", flat=True):
            sensor_suspicion_clear(
                suspicion_id=suspicion_id,
                actor=actor,
                reason=f"{order.number} done",
                at=order.completed_at,
            )
    FailureEvent.objects.filter(work_order=order, repaired_at__isnull=True).update(
        repaired_at=order.completed_at
    )
    if order.preventive_plan_id is not None:
        _plan_cycle_advance(order, actor=actor, why="done")
    if order.anomaly_episode_id is not None:
        _episode_close(
            order.anomaly_episode_id, at=order.completed_at, reason=f"{order.number} done"
        )
    return order


@transaction.atomic
def maintenance_work_order_cancel(*, order_id: int, actor, reason: str = ""):
    order = _transition(
        order_id,
        allowed_from=OPEN_STATES,
        to_state=MS.CANCELLED,
        actor=actor,
        action="cancel",
        reason=reason,
    )
    reservations_release_for(
        maintenance_work_order_id=order.pk,
        actor=actor,
        reason=f"{order.number} cancelled",
    )
    if order.preventive_plan_id is not None:
        _plan_cycle_advance(order, actor=actor, why="skipped (cancelled)")
    return order


def _episode_close(episode_id: int, *, at: datetime, reason: str) -> None:
    AnomalyEpisode.objects.filter(pk=episode_id, state=EpisodeState.OPEN).update(
        state=EpisodeState.CLOSED, ended_at=at, end_reason=reason[:200]
    )


# --- preventive plans ----------------------------------------------------------------------


def _plan_cycle_advance(order: MaintenanceWorkOrder, *, actor, why: str) -> None:
    """Start the plan's next cycle when the order of its current cycle is closed."""
    plan = PreventivePlan.objects.select_for_update().get(pk=order.preventive_plan_id)
    if order.plan_cycle_number != plan.cycle_number:
        return  # an older cycle's order; the plan has moved on already
    old = plan.cycle_number
    plan.cycle_number = old + 1
    plan.cycle_started_at = order.completed_at or timezone.now()
    plan.save(update_fields=["cycle_number", "cycle_started_at"])
    audit_event_record(
        actor=actor,
        obj=plan,
        action="next cycle",
        old_value=str(old),
        new_value=str(plan.cycle_number),
        reason=f"{order.number} {why}",
    )


@transaction.atomic
def preventive_plan_create(
    *,
    equipment,
    name: str,
    trigger: str,
    interval: float,
    tolerance_fraction: float = 0.1,
    component: str = "",
    counter_signal_name: str = "",
    priority: str = MaintenancePriority.MEDIUM,
    estimated_duration_h: float = 2.0,
    cycle_started_at: datetime | None = None,
    actor=None,
) -> PreventivePlan:
    if trigger not in PlanTrigger.values:
        raise ValidationFailed(
            f"Unknown plan trigger {trigger!r}.", detail={"allowed": list(PlanTrigger.values)}
        )
    if not interval > 0:
        raise ValidationFailed("The interval must be positive.", detail={"interval": interval})
    if not 0 <= tolerance_fraction < 1:
        raise ValidationFailed(
            "The tolerance is a fraction of the interval in [0, 1).",
            detail={"tolerance_fraction": tolerance_fraction},
        )
    if counter_signal_name and trigger != PlanTrigger.CYCLES:
        raise ValidationFailed("A counter signal only applies to plans by cycles.")
    if priority not in MaintenancePriority.values:
        raise ValidationFailed(f"Unknown priority {priority!r}.")
    try:
        with transaction.atomic():
            plan = PreventivePlan.objects.create(
                equipment=equipment,
                name=name,
                trigger=trigger,
                interval=interval,
                tolerance_fraction=tolerance_fraction,
                component=component,
                counter_signal_name=counter_signal_name,
                priority=priority,
                estimated_duration_h=estimated_duration_h,
                cycle_started_at=cycle_started_at or timezone.now(),
            )
    except IntegrityError as error:
        raise Conflict(f"{equipment.code} has a plan named {name!r} already.") from error
    audit_event_record(actor=actor, obj=plan, action="create", new_value=trigger)
    return plan


def plan_usage(plan: PreventivePlan, *, now: datetime) -> float:
    """Usage since the current cycle started, in the plan's unit (days, hours, cycles)."""
    if plan.trigger == PlanTrigger.CALENDAR:
        return max((now - plan.cycle_started_at).total_seconds(), 0.0) / 86400.0
    if plan.trigger == PlanTrigger.RUNTIME_HOURS:
        return selectors.producing_hours(
            equipment_id=plan.equipment_id, since=plan.cycle_started_at, until=now
        )
    return selectors.counted_cycles(
        equipment_id=plan.equipment_id,
        since=plan.cycle_started_at,
        until=now,
        counter_signal_name=plan.counter_signal_name,
    )


def _plan_window(plan: PreventivePlan, *, usage: float, now: datetime) -> tuple[datetime, datetime]:
    """From now until the usage reaches (1 + tolerance) · interval at the cycle's mean rate."""
    limit = (1 + plan.tolerance_fraction) * plan.interval
    duration = timedelta(hours=max(plan.estimated_duration_h, 0.25))
    if plan.trigger == PlanTrigger.CALENDAR:
        end = plan.cycle_started_at + timedelta(days=limit)
    else:
        elapsed_h = max((now - plan.cycle_started_at).total_seconds() / 3600.0, 1e-9)
        rate_per_h = usage / elapsed_h
        remaining = max(limit - usage, 0.0)
        end = now + timedelta(hours=remaining / rate_per_h) if rate_per_h > 0 else now
    return now, max(end, now + duration)


@transaction.atomic
def preventive_plan_check(
    *, plan_id: int, now: datetime | None = None
) -> MaintenanceWorkOrder | None:
    """Create the preventive order of the plan's current cycle once it is due (idempotent).

    Due when the usage since the cycle started reaches (1 − tolerance) · interval. One order
    per (plan, cycle): a second check finds it and creates nothing.
    """
    now = now or timezone.now()
    plan = (
        PreventivePlan.objects.select_for_update()
        .select_related("equipment")
        .filter(pk=plan_id)
        .first()
    )
    if plan is None:
        raise NotFound(f"No preventive plan {plan_id}.")
    if not plan.is_active:
        return None
    existing = MaintenanceWorkOrder.objects.filter(
        preventive_plan=plan, plan_cycle_number=plan.cycle_number
    ).first()
    if existing is not None:
        return None
    usage = plan_usage(plan, now=now)
    due_from = (1 - plan.tolerance_fraction) * plan.interval
    if usage < due_from:
        return None
    window_start, window_end = _plan_window(plan, usage=usage, now=now)
    unit = {"calendar": "days", "runtime_hours": "producing hours", "cycles": "cycles"}[
        plan.trigger
    ]
    return maintenance_work_order_create(
        equipment=plan.equipment,
        kind=MaintenanceKind.PREVENTIVE,
        title=f"{plan.name} (cycle {plan.cycle_number})",
        description=(
            f"Preventive plan {plan.name!r}: {usage:.1f} {unit} since "
            f"{plan.cycle_started_at:%Y-%m-%d %H:%M} UTC; due from {due_from:g}, "
            f"interval {plan.interval:g} ± {plan.tolerance_fraction:.0%}."
        ),
        priority=plan.priority,
        component=plan.component,
        window_start_at=window_start,
        window_end_at=window_end,
        number=f"PM-{plan.pk}-{plan.cycle_number}",
        estimated_duration_h=plan.estimated_duration_h,
        preventive_plan=plan,
        plan_cycle_number=plan.cycle_number,
    )


def preventive_plans_check(*, now: datetime | None = None) -> list[MaintenanceWorkOrder]:
    """Check every active plan (each in its own transaction); returns the orders created."""
    created = []
    for plan_id in PreventivePlan.objects.filter(is_active=True).values_list("id", flat=True):
        try:
            order = preventive_plan_check(plan_id=plan_id, now=now)
        except Conflict:
            continue  # a concurrent check created this cycle's order
        except ValidationFailed as error:
            logger.warning("preventive plan %s cannot be checked: %s", plan_id, error.message)
            continue
        if order is not None:
            created.append(order)
    return created


# --- failure events ------------------------------------------------------------------------


def _stop_failure_record(order: MaintenanceWorkOrder, *, actor) -> FailureEvent:
    """The failure history entry of a stop's corrective order (TTR measured from the stop)."""
    failed_at = order.stop_started_at
    assert failed_at is not None
    back_up_at = selectors.stop_end(equipment_id=order.equipment_id, stop_started_at=failed_at)
    repaired_at = min(back_up_at or order.completed_at, order.completed_at)
    event = (
        FailureEvent.objects.select_for_update()
        .filter(equipment_id=order.equipment_id, failed_at=failed_at)
        .first()
    )
    if event is None:
        event = FailureEvent.objects.create(
            equipment_id=order.equipment_id,
            component=order.component,
            failed_at=failed_at,
            repaired_at=repaired_at,
            description=order.findings,
            work_order=order,
            recorded_by=actor if actor is not None and actor.is_authenticated else None,
        )
    else:  # recorded by hand already: complete it with the order's findings
        event.work_order = order
        event.component = event.component or order.component
        event.description = "\n".join(part for part in (event.description, order.findings) if part)
        event.repaired_at = event.repaired_at or repaired_at
        event.save(update_fields=["work_order", "component", "description", "repaired_at"])
    audit_event_record(
        actor=actor,
        obj=event,
        action="record failure",
        reason=f"{order.number} closed with findings",
        data={"stop_started_at": failed_at.isoformat(), "repaired_at": repaired_at.isoformat()},
    )
    return event


@transaction.atomic
def failure_event_record(
    *,
    equipment,
    failed_at: datetime,
    component: str = "",
    description: str = "",
    repaired_at: datetime | None = None,
    create_work_order: bool = True,
    actor=None,
) -> FailureEvent:
    """Record a failure (FE); with ``create_work_order`` a corrective order is opened for it."""
    if failed_at > timezone.now() + timedelta(minutes=5):
        raise ValidationFailed("A failure cannot be recorded in the future.")
    if repaired_at is not None and repaired_at < failed_at:
        raise ValidationFailed("The repair cannot end before the failure.")
    order = None
    if create_work_order and repaired_at is None:
        order = maintenance_work_order_create(
            equipment=equipment,
            kind=MaintenanceKind.CORRECTIVE,
            title=f"Repair: {component or 'failure'} of {equipment.code}",
            description=description,
            priority=MaintenancePriority.HIGH,
            component=component,
            actor=actor,
        )
    try:
        with transaction.atomic():
            event = FailureEvent.objects.create(
                equipment=equipment,
                component=component,
                failed_at=failed_at,
                repaired_at=repaired_at,
                description=description,
                work_order=order,
                recorded_by=actor if actor is not None and actor.is_authenticated else None,
            )
    except IntegrityError as error:
        raise Conflict(
            f"A failure of {equipment.code} at {failed_at.isoformat()} is recorded already."
        ) from error
    audit_event_record(actor=actor, obj=event, action="record failure", reason=description)
    return event


@transaction.atomic
def failure_event_repair(*, event_id: int, repaired_at: datetime, actor=None) -> FailureEvent:
    """Record when the equipment was back in working order (TTR = repaired − failed)."""
    event = FailureEvent.objects.select_for_update().filter(pk=event_id).first()
    if event is None:
        raise NotFound(f"No failure event {event_id}.")
    if event.repaired_at is not None:
        raise Conflict(f"The failure was repaired already at {event.repaired_at.isoformat()}.")
    if repaired_at < event.failed_at:
        raise ValidationFailed("The repair cannot end before the failure.")
    event.repaired_at = repaired_at
    event.save(update_fields=["repaired_at"])
    audit_event_record(actor=actor, obj=event, action="repaired", new_value=repaired_at.isoformat())
    return event
