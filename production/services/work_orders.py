"""Writes of the production app: work order and operation lifecycles."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from integration.choices import EventType
from integration.services.events import emit
from mes_site.errors import Conflict, InvalidTransition, ValidationFailed
from production.choices import OperationState, WorkOrderSource, WorkOrderState
from production.models import Line, Operation, Product, Routing, Site, WorkOrder
from production.services.consumption import operation_backflush_at_completion
from traceability.services import audit_event_record, state_transition

WO = WorkOrderState
OP = OperationState


@transaction.atomic
def work_order_create(
    *,
    number: str,
    product: Product,
    quantity: int,
    due_at: datetime,
    site: Site,
    line: Line | None = None,
    routing: Routing | None = None,
    priority: int = 5,
    source: str = WorkOrderSource.PLANNER,
    actor=None,
) -> WorkOrder:
    """Create a planned work order and its operations from the product's routing."""
    if quantity < 1:
        raise ValidationFailed("The quantity must be at least 1.", detail={"quantity": quantity})
    if due_at.tzinfo is None:
        raise ValidationFailed("The due date needs a time zone.", detail={"due_at": str(due_at)})
    if line is not None and line.area.site_id != site.id:
        raise ValidationFailed(
            f"Line {line.code} is not on site {site.code}.", detail={"line": line.id}
        )
    if routing is None:
        routing = product.routings.filter(is_active=True).order_by("-version").first()
        if routing is None:
            raise ValidationFailed(
                f"Product {product.code} has no active routing.", detail={"product": product.id}
            )
    elif routing.product_id != product.id:
        raise ValidationFailed("The routing belongs to another product.")
    templates = list(routing.operations.select_related("capability").order_by("sequence"))
    if not templates:
        raise ValidationFailed(f"Routing {routing} has no operations.")
    try:
        with transaction.atomic():
            work_order = WorkOrder.objects.create(
                number=number,
                product=product,
                routing=routing,
                quantity=quantity,
                due_at=due_at,
                site=site,
                line=line,
                priority=priority,
                source=source,
            )
    except IntegrityError as error:
        raise Conflict(f"Work order {number!r} exists already.") from error
    Operation.objects.bulk_create(
        Operation(
            work_order=work_order,
            template=template,
            sequence=template.sequence,
            name=template.name,
            capability=template.capability,
            planned_run_time_per_unit_s=template.planned_run_time_per_unit_s,
            setup_time_s=template.setup_time_s,
            force_kn=template.force_kn,
        )
        for template in templates
    )
    audit_event_record(actor=actor, obj=work_order, action="create", new_value=WO.PLANNED)
    return work_order


def work_order_event_data(work_order: WorkOrder) -> dict:
    """The webhook payload of a work order event (docs/api.md "Webhooks")."""
    return {
        "id": work_order.pk,
        "number": work_order.number,
        "state": work_order.state,
        "product": work_order.product.code,
        "quantity": work_order.quantity,
        "quantity_good": work_order.quantity_good,
        "quantity_scrap": work_order.quantity_scrap,
        "due_at": work_order.due_at,
        "site": work_order.site.code,
        "line": work_order.line.code if work_order.line_id else None,
        "released_at": work_order.released_at,
        "completed_at": work_order.completed_at,
    }


def _work_order_transition(
    work_order_id: int, *, allowed_from, to_state, actor, action, reason="", updates=None
) -> WorkOrder:
    with transaction.atomic():
        return state_transition(
            model=WorkOrder,
            pk=work_order_id,
            allowed_from=allowed_from,
            to_state=to_state,
            actor=actor,
            action=action,
            reason=reason,
            updates=updates,
        )


def work_order_release(*, work_order_id: int, actor, reason: str = "") -> WorkOrder:
    with transaction.atomic():
        work_order = _work_order_transition(
            work_order_id,
            allowed_from={WO.PLANNED},
            to_state=WO.RELEASED,
            actor=actor,
            action="release",
            reason=reason,
            updates={"released_at": timezone.now()},
        )
        emit(
            EventType.WORK_ORDER_RELEASED,
            work_order_event_data(work_order),
            site=work_order.site_id,
        )
        return work_order


def work_order_start(*, work_order_id: int, actor, reason: str = "") -> WorkOrder:
    return _work_order_transition(
        work_order_id,
        allowed_from={WO.RELEASED},
        to_state=WO.IN_PROGRESS,
        actor=actor,
        action="start",
        reason=reason,
        updates={"started_at": timezone.now()},
    )


def work_order_pause(*, work_order_id: int, actor, reason: str = "") -> WorkOrder:
    return _work_order_transition(
        work_order_id,
        allowed_from={WO.IN_PROGRESS},
        to_state=WO.PAUSED,
        actor=actor,
        action="pause",
        reason=reason,
    )


def work_order_resume(*, work_order_id: int, actor, reason: str = "") -> WorkOrder:
    return _work_order_transition(
        work_order_id,
        allowed_from={WO.PAUSED},
        to_state=WO.IN_PROGRESS,
        actor=actor,
        action="resume",
        reason=reason,
    )


def work_order_complete(*, work_order_id: int, actor, reason: str = "") -> WorkOrder:
    with transaction.atomic():
        work_order = state_transition(
            model=WorkOrder,
            pk=work_order_id,
            allowed_from={WO.IN_PROGRESS, WO.PAUSED},
            to_state=WO.COMPLETED,
            actor=actor,
            action="complete",
            reason=reason,
            updates={"completed_at": timezone.now()},
        )
        open_operations = work_order.operations.filter(state__in=[OP.IN_PROGRESS, OP.PAUSED])
        if open_operations.exists():
            names = ", ".join(str(op.sequence) for op in open_operations)
            raise InvalidTransition(
                f"Work order {work_order.number} still has running operations ({names}).",
                detail={"open_operations": names},
            )
        emit(
            EventType.WORK_ORDER_COMPLETED,
            work_order_event_data(work_order),
            site=work_order.site_id,
        )
        return work_order


def work_order_cancel(*, work_order_id: int, actor, reason: str = "") -> WorkOrder:
    with transaction.atomic():
        work_order = state_transition(
            model=WorkOrder,
            pk=work_order_id,
            allowed_from={WO.PLANNED, WO.RELEASED, WO.PAUSED},
            to_state=WO.CANCELLED,
            actor=actor,
            action="cancel",
            reason=reason,
        )
        work_order.operations.filter(state__in=[OP.PENDING, OP.PAUSED]).update(state=OP.CANCELLED)
        return work_order


def _operation_transition(
    operation_id: int, *, allowed_from, to_state, actor, action, reason="", updates=None
) -> Operation:
    return state_transition(
        model=Operation,
        pk=operation_id,
        allowed_from=allowed_from,
        to_state=to_state,
        actor=actor,
        action=action,
        reason=reason,
        updates=updates,
    )


@transaction.atomic
def operation_start(*, operation_id: int, actor, equipment_id: int | None = None) -> Operation:
    """Start an operation; its work order must be in progress and its predecessors done."""
    operation = Operation.objects.select_related("work_order").get(pk=operation_id)
    if operation.work_order.state != WO.IN_PROGRESS:
        raise InvalidTransition(
            f"Work order {operation.work_order.number} is {operation.work_order.state}; "
            "start it before its operations.",
            detail={"work_order_state": operation.work_order.state},
        )
    unfinished = operation.work_order.operations.filter(sequence__lt=operation.sequence).exclude(
        state__in=[OP.COMPLETED, OP.CANCELLED]
    )
    if unfinished.exists():
        raise InvalidTransition(
            f"Operation {operation.sequence} waits for earlier steps "
            f"({', '.join(str(op.sequence) for op in unfinished)}).",
            detail={"waiting_for": [op.sequence for op in unfinished]},
        )
    updates: dict = {"actual_start_at": timezone.now()}
    if equipment_id is not None:
        updates["assigned_equipment_id"] = equipment_id
    return _operation_transition(
        operation_id,
        allowed_from={OP.PENDING},
        to_state=OP.IN_PROGRESS,
        actor=actor,
        action="start",
        updates=updates,
    )


@transaction.atomic
def operation_pause(*, operation_id: int, actor, reason: str = "") -> Operation:
    return _operation_transition(
        operation_id,
        allowed_from={OP.IN_PROGRESS},
        to_state=OP.PAUSED,
        actor=actor,
        action="pause",
        reason=reason,
    )


@transaction.atomic
def operation_resume(*, operation_id: int, actor) -> Operation:
    return _operation_transition(
        operation_id,
        allowed_from={OP.PAUSED},
        to_state=OP.IN_PROGRESS,
        actor=actor,
        action="resume",
    )


@transaction.atomic
def operation_complete(*, operation_id: int, actor) -> Operation:
    """Complete a running operation and backflush its BOM lines into the work order's output
    lot (``consumption.operation_backflush_at_completion``); a shortage refuses both."""
    operation = _operation_transition(
        operation_id,
        allowed_from={OP.IN_PROGRESS, OP.PAUSED},
        to_state=OP.COMPLETED,
        actor=actor,
        action="complete",
        updates={"actual_end_at": timezone.now()},
    )
    operation_backflush_at_completion(operation=operation, actor=actor)
    return operation


@transaction.atomic
def operation_report_quantity(
    *, operation_id: int, good: int = 0, scrap: int = 0, actor, reason: str = ""
) -> Operation:
    """Add good and scrap units to a running operation and its work order (F() counters)."""
    if good < 0 or scrap < 0 or good + scrap == 0:
        raise ValidationFailed(
            "Report a positive number of good or scrap units.",
            detail={"good": good, "scrap": scrap},
        )
    operation = Operation.objects.select_for_update().get(pk=operation_id)
    if operation.state not in {OP.IN_PROGRESS, OP.PAUSED}:
        raise InvalidTransition(
            f"Operation {operation} is {operation.state}; quantities are reported while it runs.",
            detail={"current_state": operation.state},
        )
    Operation.objects.filter(pk=operation_id).update(
        quantity_good=F("quantity_good") + good, quantity_scrap=F("quantity_scrap") + scrap
    )
    is_last_step = not operation.work_order.operations.filter(
        sequence__gt=operation.sequence
    ).exists()
    if is_last_step:
        WorkOrder.objects.filter(pk=operation.work_order_id).update(
            quantity_good=F("quantity_good") + good, quantity_scrap=F("quantity_scrap") + scrap
        )
    operation.refresh_from_db()
    audit_event_record(
        actor=actor,
        obj=operation,
        action="report quantity",
        new_value=f"good +{good}, scrap +{scrap}",
        reason=reason,
        data={"good": good, "scrap": scrap},
    )
    return operation


def work_order_reprioritise_apply(action) -> dict:
    """Guardrail handler: set a work order's priority (payload: work_order_id, priority)."""
    work_order_id = action.payload["work_order_id"]
    priority = int(action.payload["priority"])
    if not 1 <= priority <= 9:
        raise ValidationFailed("Priorities run from 1 (most urgent) to 9.")
    work_order = WorkOrder.objects.select_for_update().get(pk=work_order_id)
    old = work_order.priority
    work_order.priority = priority
    work_order.save(update_fields=["priority"])
    audit_event_record(
        actor=None,
        obj=work_order,
        action="reprioritise",
        old_value=old,
        new_value=priority,
        reason=f"proposed action {action.pk}",
    )
    return {"work_order_id": work_order_id, "old_priority": old}


def work_order_reprioritise_revert(action) -> None:
    work_order = WorkOrder.objects.select_for_update().get(pk=action.result["work_order_id"])
    old = work_order.priority
    work_order.priority = action.result["old_priority"]
    work_order.save(update_fields=["priority"])
    audit_event_record(
        actor=None,
        obj=work_order,
        action="reprioritise (revert)",
        old_value=old,
        new_value=work_order.priority,
        reason=f"revert of proposed action {action.pk}",
    )
