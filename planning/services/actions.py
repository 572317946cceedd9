"""The guardrail handlers of planning's proposed actions and their registration.

* ``reroute`` / ``resequence`` (proposed by :mod:`planning.services.plan_store`): applying
  writes the current plan's machine and times to the operations, after checking nothing
  moved since; reverting restores the old ones and asks for a new plan.
* ``dispatch_override`` (requested by a supervisor,
  :func:`planning.services.dispatch.customer_order_dispatch_override_request`): applying
  moves the order to the line (its room is checked); reverting puts it back.

``PlanningConfig.ready`` calls :func:`scheduling_handlers_register`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from autonomy.choices import ActionKind
from autonomy.services.guardrails import action_handler_register
from mes_site.errors import Conflict, NotFound
from planning.algorithms.line_order import LineOrderStage
from planning.choices import CustomerOrderState, ScheduleTrigger
from planning.models import CustomerOrder, ScheduledOperation
from planning.services.dispatch import dispatch_setup_lock
from planning.services.order_transitions import customer_order_move
from planning.services.schedule_runs import schedule_run_request
from planning.services.values import iso_text
from production.choices import OperationState
from production.models import Line, Operation
from traceability.services import audit_event_record

__all__ = [
    "dispatch_override_apply",
    "dispatch_override_revert",
    "operation_reroute_apply",
    "operation_reroute_revert",
    "operation_resequence_apply",
    "operation_resequence_revert",
    "scheduling_handlers_register",
]

ORDER = CustomerOrderState


# --- reroute and resequence ---------------------------------------------------------------------


def _operation_label(operation: Operation) -> str:
    return f"{operation.work_order.number}/{operation.sequence}"


def _entry_apply(
    action, *, operation_id: int, from_equipment_id: int | None, target_equipment_id: int, verb: str
) -> dict[str, Any]:
    """Put one pending operation on the current plan's machine and times (checked first)."""
    operation = (
        Operation.objects.select_for_update(of=("self",))
        .select_related("work_order")
        .filter(pk=operation_id)
        .first()
    )
    if operation is None:
        raise NotFound(f"Operation {operation_id} no longer exists.")
    label = _operation_label(operation)
    if operation.state != OperationState.PENDING:
        raise Conflict(f"{label} is {operation.state}; only pending operations are re-planned.")
    if operation.assigned_equipment_id != from_equipment_id:
        raise Conflict(
            f"{label} was assigned to another machine since this was proposed; a newer plan "
            "decides where it goes."
        )
    entry = (
        ScheduledOperation.objects.filter(
            run__site_id=action.site_id, run__is_current=True, operation_id=operation.pk
        )
        .select_related("equipment")
        .first()
    )
    if entry is None:
        raise Conflict(f"The current plan no longer contains {label}.")
    if entry.equipment_id != target_equipment_id:
        raise Conflict(
            f"Superseded: the current plan (run {entry.run_id}) puts {label} on "
            f"{entry.equipment.code}."
        )
    result = {
        "operation_id": operation.pk,
        "run_id": entry.run_id,
        "old_equipment_id": operation.assigned_equipment_id,
        "old_planned_start_at": iso_text(operation.planned_start_at),
        "old_planned_end_at": iso_text(operation.planned_end_at),
        "new_equipment_id": entry.equipment_id,
        "new_planned_start_at": iso_text(entry.planned_start_at),
        "new_planned_end_at": iso_text(entry.planned_end_at),
    }
    operation.assigned_equipment_id = entry.equipment_id
    operation.planned_start_at = entry.planned_start_at
    operation.planned_end_at = entry.planned_end_at
    operation.save(update_fields=["assigned_equipment", "planned_start_at", "planned_end_at"])
    audit_event_record(
        actor=action.decided_by,
        obj=operation,
        action=verb,
        old_value=f"{result['old_equipment_id']} @ {result['old_planned_start_at']}",
        new_value=f"{entry.equipment.code} @ {result['new_planned_start_at']}",
        reason=f"proposed action {action.pk}",
    )
    return result


def _entry_revert(action, result: dict[str, Any], *, verb: str) -> str:
    """Put one operation back where ``result`` found it; returns its label."""
    operation = (
        Operation.objects.select_for_update(of=("self",))
        .select_related("work_order")
        .filter(pk=result.get("operation_id"))
        .first()
    )
    if operation is None:
        raise NotFound("The operation no longer exists; nothing to undo.")
    label = _operation_label(operation)
    if operation.state != OperationState.PENDING:
        raise Conflict(f"{label} is {operation.state}; it cannot be moved back any more.")
    if operation.assigned_equipment_id != result.get("new_equipment_id"):
        raise Conflict(f"{label} was re-planned since; undo the later change first.")

    def parse(value: str | None) -> datetime | None:
        return parse_datetime(value) if value else None

    operation.assigned_equipment_id = result.get("old_equipment_id")
    operation.planned_start_at = parse(result.get("old_planned_start_at"))
    operation.planned_end_at = parse(result.get("old_planned_end_at"))
    if (
        operation.planned_start_at
        and operation.planned_end_at
        and operation.planned_end_at < operation.planned_start_at
    ):
        operation.planned_end_at = operation.planned_start_at
    operation.save(update_fields=["assigned_equipment", "planned_start_at", "planned_end_at"])
    audit_event_record(
        actor=action.reverted_by,
        obj=operation,
        action=f"{verb} (revert)",
        old_value=str(result.get("new_equipment_id")),
        new_value=str(result.get("old_equipment_id")),
        reason=f"revert of proposed action {action.pk}",
    )
    return label


def _replan_after_revert(action, what: str) -> None:
    site_id, action_id = action.site_id, action.pk
    transaction.on_commit(
        lambda: schedule_run_request(
            site_id=site_id,
            trigger=ScheduleTrigger.ON_DEMAND,
            detail=f"revert of action {action_id} ({what})",
        )
    )


def operation_reroute_apply(action) -> dict[str, Any]:
    """Guardrail handler: put the operation on the current plan's (new) machine and times."""
    return _entry_apply(
        action,
        operation_id=action.payload.get("operation_id"),
        from_equipment_id=action.inverse.get("equipment_id"),
        target_equipment_id=action.payload.get("to_equipment_id"),
        verb="reroute",
    )


def operation_reroute_revert(action) -> None:
    label = _entry_revert(action, action.result or {}, verb="reroute")
    _replan_after_revert(action, label)


def operation_resequence_apply(action) -> dict[str, Any]:
    """Guardrail handler: the current plan's times for the machine's resequenced operations.

    All or nothing: if one of them started or moved since, the action fails.
    """
    equipment_id = action.payload.get("equipment_id")
    results = [
        _entry_apply(
            action,
            operation_id=item["operation_id"],
            from_equipment_id=equipment_id,
            target_equipment_id=equipment_id,
            verb="resequence",
        )
        for item in sorted(action.payload.get("operations", []), key=lambda i: i["operation_id"])
    ]
    return {"equipment_id": equipment_id, "operations": results}


def operation_resequence_revert(action) -> None:
    results = (action.result or {}).get("operations", [])
    labels = [
        _entry_revert(action, result, verb="resequence")
        for result in sorted(results, key=lambda item: item["operation_id"])
    ]
    _replan_after_revert(action, ", ".join(labels))


# --- dispatch override -------------------------------------------------------------------------


def dispatch_override_apply(action) -> dict[str, Any]:
    """Guardrail handler: move the order to the line of the override (room is checked)."""
    payload = action.payload
    order = CustomerOrder.objects.filter(pk=payload.get("order_id")).first()
    if order is None:
        raise NotFound(f"Customer order {payload.get('order_id')} no longer exists.")
    _setup, loads = dispatch_setup_lock(order.area_id)
    order = CustomerOrder.objects.select_for_update().get(pk=order.pk)
    if order.state not in (ORDER.PENDING, ORDER.BACKLOG, ORDER.DISPATCHED):
        raise Conflict(f"Order {order.number} is {order.state}; it cannot be moved any more.")
    line = Line.objects.filter(pk=payload.get("line_id"), area_id=order.area_id).first()
    if line is None:
        raise NotFound("The override's line no longer belongs to the order's area.")
    units = sum(order.lines.values_list("quantity", flat=True))
    load = loads.get(line.code, 0) - (units if order.line_id == line.pk else 0)
    if load + units > line.capacity_units:
        raise Conflict(
            f"Line {line.code} has no room for order {order.number}: load {load} + {units} "
            f"units > capacity {line.capacity_units}."
        )
    result = {
        "order_id": order.pk,
        "old_line_id": order.line_id,
        "old_state": order.state,
        "old_dispatched_at": iso_text(order.dispatched_at),
        "old_explanation": order.dispatch_explanation,
    }
    record = {
        "method": "override",
        "rule": "dispatch_override",
        "line": line.code,
        "action_id": action.pk,
        "message": f"order {order.number} → {line.code} by a supervisor's override "
        f"(action {action.pk}): {payload.get('reason') or 'no reason given'}",
        "previous": order.dispatch_explanation,
        "decided_at": timezone.now().isoformat(),
    }
    customer_order_move(
        order,
        to_state=ORDER.DISPATCHED,
        allowed_from={ORDER.PENDING, ORDER.BACKLOG, ORDER.DISPATCHED},
        actor=action.decided_by,
        action="dispatch override",
        reason=record["message"],
        updates={
            "line": line,
            "dispatched_at": timezone.now(),
            "dispatch_explanation": record,
            "line_stage": LineOrderStage.NEW.value,
            "line_step": "",
            "line_updated_at": None,
            "line_last_event": "",
        },
    )
    return result


def dispatch_override_revert(action) -> None:
    result = action.result or {}
    order = CustomerOrder.objects.filter(pk=result.get("order_id")).first()
    if order is None:
        raise NotFound("The order no longer exists; nothing to undo.")
    dispatch_setup_lock(order.area_id)
    order = CustomerOrder.objects.select_for_update().get(pk=order.pk)
    if order.state != ORDER.DISPATCHED or order.line_id != action.payload.get("line_id"):
        raise Conflict(
            f"Order {order.number} is {order.state} on another line or started; the override "
            "cannot be undone."
        )
    old_state = result.get("old_state") or ORDER.PENDING
    old_dispatched = result.get("old_dispatched_at")
    customer_order_move(
        order,
        to_state=old_state,
        allowed_from={ORDER.DISPATCHED},
        actor=action.reverted_by,
        action="dispatch override (revert)",
        reason=f"revert of proposed action {action.pk}",
        updates={
            "line_id": result.get("old_line_id"),
            "dispatched_at": parse_datetime(old_dispatched) if old_dispatched else None,
            "dispatch_explanation": result.get("old_explanation") or {},
            "line_stage": LineOrderStage.NEW.value if result.get("old_line_id") else "",
        },
    )


def scheduling_handlers_register() -> None:
    """Register the guardrail handlers of reroute, resequence and dispatch override."""
    action_handler_register(
        ActionKind.REROUTE, apply=operation_reroute_apply, revert=operation_reroute_revert
    )
    action_handler_register(
        ActionKind.RESEQUENCE, apply=operation_resequence_apply, revert=operation_resequence_revert
    )
    action_handler_register(
        ActionKind.DISPATCH_OVERRIDE, apply=dispatch_override_apply, revert=dispatch_override_revert
    )
