"""The guardrail handlers of planning's proposed actions and their registration.

* ``reroute`` / ``resequence`` (proposed by :mod:`planning.services.plan_store`): a plan
  change (``payload["plan_change"]``) groups all the moves and new orders of one run;
  applying writes the current plan's machine and times to all its operations at once, after
  checking none started or moved since (all or nothing); reverting restores the old ones and
  asks for a new plan. Single-operation reroutes of older plans are still handled.
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
from planning.services.plan_store import operations_plan_write
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
    "plan_change_apply",
    "plan_change_revert",
    "scheduling_handlers_register",
]

ORDER = CustomerOrderState


# --- reroute and resequence ---------------------------------------------------------------------


def _move_result(operation, entry) -> dict:
    """What one applied move records: the operation's place before and after (for the revert
    and the audit trail)."""
    return {
        "operation_id": operation.pk,
        "run_id": entry.run_id,
        "old_equipment_id": operation.assigned_equipment_id,
        "old_planned_start_at": iso_text(operation.planned_start_at),
        "old_planned_end_at": iso_text(operation.planned_end_at),
        "new_equipment_id": entry.equipment_id,
        "new_planned_start_at": iso_text(entry.planned_start_at),
        "new_planned_end_at": iso_text(entry.planned_end_at),
    }


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
    result = _move_result(operation, entry)
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


def _plan_change_operations(action, entries: list[dict[str, Any]]) -> dict[int, Operation]:
    """The plan change's operations, locked, by id (missing ones are an error)."""
    ids = sorted({int(entry["operation_id"]) for entry in entries})
    operations = {
        operation.pk: operation
        for operation in Operation.objects.select_for_update(of=("self",))
        .select_related("work_order")
        .filter(pk__in=ids)
        .order_by("pk")
    }
    missing = [str(pk) for pk in ids if pk not in operations]
    if missing:
        raise NotFound(f"Operation(s) {', '.join(missing)} no longer exist.")
    return operations


def _conflicts_text(conflicts: list[str]) -> str:
    shown = "; ".join(conflicts[:5])
    more = f" (and {len(conflicts) - 5} more)" if len(conflicts) > 5 else ""
    return f"The plan change cannot apply: {shown}{more}. A newer plan decides."


def plan_change_apply(action) -> dict[str, Any]:
    """Apply a plan change: every operation to the current plan's machine and times, all or
    nothing (one statement for the operations, one audit event listing the moves)."""
    entries = action.payload.get("operations", [])
    operations = _plan_change_operations(action, entries)
    current = {
        entry.operation_id: entry
        for entry in ScheduledOperation.objects.filter(
            run__site_id=action.site_id, run__is_current=True, operation_id__in=list(operations)
        )
    }
    conflicts: list[str] = []
    for item in entries:
        operation = operations[int(item["operation_id"])]
        label = _operation_label(operation)
        expected_from = (
            item["from_equipment_id"] if item.get("is_move") else item["to_equipment_id"]
        )
        entry = current.get(operation.pk)
        if operation.state != OperationState.PENDING:
            conflicts.append(f"{label} is {operation.state}")
        elif operation.assigned_equipment_id != expected_from:
            conflicts.append(f"{label} was assigned to another machine since")
        elif entry is None or entry.equipment_id != item["to_equipment_id"]:
            conflicts.append(f"the current plan puts {label} elsewhere")
    if conflicts:
        raise Conflict(_conflicts_text(conflicts))
    results = []
    for item in entries:
        operation = operations[int(item["operation_id"])]
        entry = current[operation.pk]
        results.append(_move_result(operation, entry))
        operation.assigned_equipment_id = entry.equipment_id
        operation.planned_start_at = entry.planned_start_at
        operation.planned_end_at = entry.planned_end_at
    operations_plan_write(list(operations.values()))
    audit_event_record(
        actor=action.decided_by,
        obj=action,
        action="plan change applied",
        new_value=f"{len(results)} operations",
        reason=action.explanation[:500],
        data={"operations": results},
    )
    return {"operations": results}


def plan_change_revert(action) -> None:
    """Put every operation of an applied plan change back (all or nothing), then re-plan."""
    results = (action.result or {}).get("operations", [])
    operations = _plan_change_operations(action, results)
    conflicts = []
    for result in results:
        operation = operations[int(result["operation_id"])]
        if operation.state != OperationState.PENDING:
            conflicts.append(f"{_operation_label(operation)} is {operation.state}")
        elif operation.assigned_equipment_id != result.get("new_equipment_id"):
            conflicts.append(f"{_operation_label(operation)} was re-planned since")
    if conflicts:
        raise Conflict(_conflicts_text(conflicts).replace("cannot apply", "cannot be undone"))

    def parse(value: str | None) -> datetime | None:
        return parse_datetime(value) if value else None

    for result in results:
        operation = operations[int(result["operation_id"])]
        operation.assigned_equipment_id = result.get("old_equipment_id")
        operation.planned_start_at = parse(result.get("old_planned_start_at"))
        operation.planned_end_at = parse(result.get("old_planned_end_at"))
        if (
            operation.planned_start_at
            and operation.planned_end_at
            and operation.planned_end_at < operation.planned_start_at
        ):
            operation.planned_end_at = operation.planned_start_at
    operations_plan_write(list(operations.values()))
    audit_event_record(
        actor=action.reverted_by,
        obj=action,
        action="plan change reverted",
        old_value=f"{len(results)} operations",
        reason=f"revert of proposed action {action.pk}",
        data={"operations": results},
    )
    _replan_after_revert(action, f"plan change of {len(results)} operations")


def operation_reroute_apply(action) -> dict[str, Any]:
    """Guardrail handler: put the operation on the current plan's (new) machine and times."""
    if action.payload.get("plan_change"):
        return plan_change_apply(action)
    return _entry_apply(
        action,
        operation_id=action.payload.get("operation_id"),
        from_equipment_id=action.inverse.get("equipment_id"),
        target_equipment_id=action.payload.get("to_equipment_id"),
        verb="reroute",
    )


def operation_reroute_revert(action) -> None:
    if action.payload.get("plan_change"):
        plan_change_revert(action)
        return
    label = _entry_revert(action, action.result or {}, verb="reroute")
    _replan_after_revert(action, label)


def operation_resequence_apply(action) -> dict[str, Any]:
    """Guardrail handler: the current plan's times for the machine's resequenced operations.

    All or nothing: if one of them started or moved since, the action fails.
    """
    if action.payload.get("plan_change"):
        return plan_change_apply(action)
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
    if action.payload.get("plan_change"):
        plan_change_revert(action)
        return
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
