"""Reads of a plan as a Gantt chart: one row per machine with its bars, running work,
health and maintenance block, and the open proposed actions that would move a bar."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from autonomy.choices import ActionKind, ActionStatus
from autonomy.models import ProposedAction
from planning.models import ScheduledOperation, ScheduleRun
from production.models import Equipment

__all__ = ["OPEN_ACTION_STATES", "gantt_data"]

OPEN_ACTION_STATES = (ActionStatus.PROPOSED, ActionStatus.AWAITING_APPROVAL)


def gantt_data(*, run: ScheduleRun, equipment_ids: Iterable[int] | None = None) -> dict[str, Any]:
    """One row per machine of the run's site: planned bars, running work, health, block.

    Bars carry the pending proposed action that would move them (if any), so a plan that
    waits for a supervisor is visible as such.
    """
    equipment = Equipment.objects.filter(cell__line__area__site_id=run.site_id).order_by("uns_path")
    if equipment_ids is not None:
        equipment = equipment.filter(pk__in=list(equipment_ids))
    equipment = list(equipment.values("pk", "code", "uns_path", "stress_limit_kn"))
    allowed = {row["pk"] for row in equipment}
    entries = list(
        ScheduledOperation.objects.filter(run=run, equipment_id__in=allowed)
        .select_related("operation__work_order")
        .order_by("equipment_id", "position")
    )
    pending_actions: dict[int, dict[str, Any]] = {}
    if entries:
        # Open reroutes name one operation, open resequences the operations of one machine.
        for action_id, kind, status, payload in (
            ProposedAction.objects.filter(
                site_id=run.site_id,
                kind__in=[ActionKind.REROUTE, ActionKind.RESEQUENCE],
                status__in=OPEN_ACTION_STATES,
            )
            .order_by("pk")
            .values_list("pk", "kind", "status", "payload")
        ):
            named = [payload.get("operation_id")] + [
                item.get("operation_id") for item in payload.get("operations", [])
            ]
            for operation_id in named:
                if operation_id is not None:
                    pending_actions[operation_id] = {
                        "id": action_id,
                        "kind": kind,
                        "status": status,
                    }
    machines_input = {
        int(item["equipment_id"]): item
        for item in (run.inputs or {}).get("machines", [])
        if "equipment_id" in item
    }
    running_by_equipment: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for item in (run.inputs or {}).get("running", []):
        if item.get("equipment_id") in allowed:
            running_by_equipment[item["equipment_id"]].append(item)
    rows: dict[int, dict[str, Any]] = {}
    for row in equipment:
        machine = machines_input.get(row["pk"], {})
        rows[row["pk"]] = {
            "equipment_id": row["pk"],
            "code": row["code"],
            "uns_path": row["uns_path"],
            "stress_limit_kn": row["stress_limit_kn"],
            "health": machine.get("health"),
            "block": machine.get("block"),
            "left_out": machine.get("left_out", ""),
            "running": running_by_equipment.get(row["pk"], []),
            "bars": [],
        }
    starts: list[datetime] = []
    ends: list[datetime] = []
    for entry in entries:
        operation = entry.operation
        explanation = entry.explanation or {}
        rows[entry.equipment_id]["bars"].append(
            {
                "operation_id": entry.operation_id,
                "label": f"{operation.work_order.number}/{operation.sequence}",
                "name": operation.name,
                "work_order": operation.work_order.number,
                "operation_state": operation.state,
                "position": entry.position,
                "start_at": entry.planned_start_at,
                "end_at": entry.planned_end_at,
                "force_kn": operation.force_kn,
                "is_high_stress": operation.force_kn > rows[entry.equipment_id]["stress_limit_kn"],
                "priority": entry.priority,
                "rule": explanation.get("rule", ""),
                "message": explanation.get("message", ""),
                "pending_action": pending_actions.get(entry.operation_id),
            }
        )
        starts.append(entry.planned_start_at)
        ends.append(entry.planned_end_at)
    return {
        "run": run.pk,
        "site": run.site_id,
        "status": run.status,
        "is_current": run.is_current,
        "planned_at": run.started_at,
        "start_at": min(starts) if starts else run.started_at,
        "end_at": max(ends) if ends else run.started_at,
        "machines": list(rows.values()),
    }
