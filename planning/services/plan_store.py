"""Storing a finished plan: its entries and explanations, made the site's current plan by
compare-and-set (an older run never replaces a newer plan), then compared with the
operations' committed assignments:

* an operation scheduled for the first time, or only shifted in time on the same machine in
  the same order, is written at once (planned start/end and machine);
* the operations moved to another machine and those whose order on their machine changed
  form **one** proposed action, the plan change (kind ``reroute``, or ``resequence`` when
  nothing changes machine), with a plain-language summary and each move's formula in its
  detail — applied or queued by the autonomy policy (the handlers are in
  :mod:`planning.services.actions`);
* an operation that can no longer be scheduled keeps its assignment and is listed with the
  reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone

from autonomy.choices import ActionKind, ActionStatus
from autonomy.models import ProposedAction
from autonomy.services.guardrails import action_propose
from planning.algorithms.scheduler.model import ChangeKind, Plan, PlanChange
from planning.choices import ScheduleRunStatus
from planning.models import ScheduledOperation, ScheduleRun
from planning.selectors.scheduling_input import SchedulingInput
from planning.services.plan_explanations import (
    change_record,
    machines_record,
    plan_change_summary,
    unschedulable_record,
)
from planning.services.values import iso_text, jsonable, setting, utc_at
from production.choices import OperationState
from production.models import Operation, Site, WorkOrder

__all__ = ["operations_plan_write", "plan_store"]

ROUTINE_CHANGES = (ChangeKind.ADDED, ChangeKind.RETIMED)
ChangeRecords = list[tuple[PlanChange, dict[str, Any]]]


def plan_store(
    run: ScheduleRun,
    data: SchedulingInput,
    plan: Plan,
    changes: Sequence[PlanChange],
    timings: dict[str, Any],
) -> None:
    """Store the run's plan, make it current if it is the newest and apply its changes."""
    warnings = _late_warnings(plan)
    records: ChangeRecords = []
    for change in changes:
        info = data.operation_info.get(change.operation_id)
        if info is not None:
            records.append((change, change_record(data, change, info, run)))
    entries = _plan_entries(run, data, plan)
    machines = machines_record(data)
    inputs = _run_inputs(data, records, machines)

    with transaction.atomic():
        locked = ScheduleRun.objects.select_for_update().get(pk=run.pk)
        if locked.status != ScheduleRunStatus.RUNNING:
            return  # failed by the recovery meanwhile: do not write a late plan
        current = (
            ScheduleRun.objects.select_for_update().filter(site_id=run.site_id, is_current=True)
        ).first()
        is_newest = current is None or current.pk < run.pk
        ScheduledOperation.objects.bulk_create(entries, batch_size=1000)
        if is_newest:
            if current is not None:
                ScheduleRun.objects.filter(pk=current.pk).update(is_current=False)
            ScheduleRun.objects.filter(pk=run.pk).update(is_current=True)
            run.is_current = True
            _changes_apply(run, data, plan, records, machines)
        else:
            warnings.append(
                {
                    "kind": "superseded",
                    "message": f"run {current.pk} finished first with a newer plan; this plan "
                    "was stored but not made current",
                }
            )
        _run_finish(run, data, plan, records, warnings, inputs)
    timings["entries"] = len(entries)


def _late_warnings(plan: Plan) -> list[dict[str, Any]]:
    """A warning per job that was past due already or will finish after its due date."""
    warnings = []
    for late in plan.late_jobs:
        due = utc_at(late.due_at_s)
        if late.is_past_due_at_now:
            text = f"{late.job_id} was due {due:%Y-%m-%d %H:%M} UTC (past due); planned anyway"
        else:
            text = f"{late.job_id} will finish after its due date {due:%Y-%m-%d %H:%M} UTC"
        if late.lateness_s is not None:
            text += f", {late.lateness_s / 3600.0:.1f} h late"
        warnings.append(
            {
                "work_order": late.job_id,
                "kind": "past_due" if late.is_past_due_at_now else "late",
                "due_at": iso_text(due),
                "planned_end_at": iso_text(utc_at(late.planned_end_s))
                if late.planned_end_s is not None
                else None,
                "lateness_s": jsonable(late.lateness_s),
                "message": text,
            }
        )
    return warnings


def _plan_entries(run: ScheduleRun, data: SchedulingInput, plan: Plan) -> list[ScheduledOperation]:
    """The plan's operations, machine by machine in planned order (not saved yet)."""
    entries = []
    for machine_id, sequence in plan.machine_sequences.items():
        equipment_id = data.machine_info[machine_id].equipment_id
        for position, item in enumerate(sequence):
            explanation = jsonable(item.explanation)
            explanation["equipment_code"] = data.machine_info[machine_id].code
            entries.append(
                ScheduledOperation(
                    run=run,
                    operation_id=data.operation_info[item.operation_id].operation_id,
                    equipment_id=equipment_id,
                    position=position,
                    planned_start_at=utc_at(item.start_s),
                    planned_end_at=utc_at(item.end_s),
                    priority=jsonable(item.explanation.priority),
                    explanation=explanation,
                )
            )
    return entries


def _run_inputs(
    data: SchedulingInput, records: ChangeRecords, machines: list[dict[str, Any]]
) -> dict[str, Any]:
    """What the run saw (machines, running work, counts), stored with it for the UI."""
    counts: dict[str, int] = {}
    for change, _ in records:
        counts[change.kind.value] = counts.get(change.kind.value, 0) + 1
    return {
        "machines": machines,
        "running": list(data.running),
        "down_equipment_ids": sorted(
            info.equipment_id for info in data.machine_info.values() if info.is_down
        ),
        "job_count": len(data.jobs),
        "operation_count": data.operation_count,
        "pinned": data.notes.get("pinned", {}),
        "change_counts": counts,
        "anomaly_threshold": float(setting("SCHEDULING_ANOMALY_THRESHOLD", 0.6)),
    }


def _run_finish(
    run: ScheduleRun,
    data: SchedulingInput,
    plan: Plan,
    records: ChangeRecords,
    warnings: list[dict[str, Any]],
    inputs: dict[str, Any],
) -> None:
    """Mark the run succeeded with its results (the important changes listed first)."""
    limit = int(setting("SCHEDULING_MAX_STORED_CHANGES", 500))
    important = [r for c, r in records if c.kind not in ROUTINE_CHANGES]
    routine = [r for c, r in records if c.kind in ROUTINE_CHANGES]
    run.status = ScheduleRunStatus.SUCCEEDED
    run.progress_percent = 100
    run.finished_at = timezone.now()
    run.operation_count = plan.operation_count
    run.makespan_s = jsonable(plan.end_s - plan.now_s) if plan.operation_count else 0.0
    run.changes = (important + routine)[:limit]
    run.unschedulable = [unschedulable_record(data, entry) for entry in plan.unschedulable]
    run.warnings = warnings
    run.inputs = inputs
    run.input_fingerprints = data.fingerprints
    run.save(
        update_fields=[
            "status",
            "progress_percent",
            "finished_at",
            "operation_count",
            "makespan_s",
            "changes",
            "unschedulable",
            "warnings",
            "inputs",
            "input_fingerprints",
            "is_current",
        ]
    )


def operations_plan_write(operations: list[Operation]) -> None:
    """Write machine and planned times of many (locked) operations in a few statements.

    PostgreSQL: ``UPDATE … FROM (VALUES …)`` in chunks of 500 (Django's ``bulk_update``
    builds a CASE per row and field, which costs seconds of Python for a thousand rows);
    other databases: ``bulk_update``.
    """
    fields_written = ["assigned_equipment", "planned_start_at", "planned_end_at"]
    if connection.vendor != "postgresql":
        Operation.objects.bulk_update(operations, fields_written, batch_size=100)
        return
    table = Operation._meta.db_table
    for offset in range(0, len(operations), 500):
        chunk = operations[offset : offset + 500]
        rows = ", ".join(
            ["(%s::bigint, %s::bigint, %s::timestamptz, %s::timestamptz)"] * len(chunk)
        )
        parameters: list[Any] = []
        for operation in chunk:
            parameters += [
                operation.pk,
                operation.assigned_equipment_id,
                operation.planned_start_at,
                operation.planned_end_at,
            ]
        with connection.cursor() as cursor:
            cursor.execute(
                f'UPDATE "{table}" AS o SET assigned_equipment_id = v.equipment_id, '  # noqa: S608
                "planned_start_at = v.start_at, planned_end_at = v.end_at "
                f"FROM (VALUES {rows}) AS v(id, equipment_id, start_at, end_at) "
                "WHERE o.id = v.id",
                parameters,
            )


def _changes_apply(
    run: ScheduleRun,
    data: SchedulingInput,
    plan: Plan,
    records: list[tuple[PlanChange, dict[str, Any]]],
    machines: list[dict[str, Any]],
) -> None:
    """Write direct changes to the operations; propose the rest as one plan change."""
    direct = {
        record["operation_id"]: change
        for change, record in records
        if change.kind in (ChangeKind.ADDED, ChangeKind.RETIMED)
    }
    if direct:
        operations = list(
            Operation.objects.select_for_update()
            .filter(pk__in=list(direct), state=OperationState.PENDING)
            .order_by("pk")
        )
        for operation in operations:
            change = direct[operation.pk]
            operation.assigned_equipment_id = data.machine_info[
                change.new_machine_id or ""
            ].equipment_id
            operation.planned_start_at = utc_at(change.new_start_s or data.now_s)
            operation.planned_end_at = utc_at(change.new_end_s or data.now_s)
        operations_plan_write(operations)
    guarded = [
        (change, record)
        for change, record in records
        if change.kind in (ChangeKind.MOVED_MACHINE, ChangeKind.RESEQUENCED)
    ]
    if guarded:
        _plan_change_propose(run, data, plan, guarded, machines)


def _plan_change_propose(
    run: ScheduleRun,
    data: SchedulingInput,
    plan: Plan,
    guarded: ChangeRecords,
    machines: list[dict[str, Any]],
) -> None:
    """One decision for the whole plan change: its moves to other machines and its new orders
    on machines, with a plain-language summary and each move's formula in the detail."""
    site = Site.objects.get(pk=run.site_id)
    epochs = _action_epochs(run.site_id, [record["operation_id"] for _, record in guarded])
    guarded = sorted(
        guarded,
        key=lambda pair: (
            pair[0].kind is not ChangeKind.MOVED_MACHINE,
            pair[0].new_start_s or 0.0,
            pair[1]["operation_id"],
        ),
    )
    entries, inverse = [], []
    for change, record in guarded:
        info = data.operation_info[change.operation_id]
        is_move = change.kind is ChangeKind.MOVED_MACHINE
        entries.append(
            {
                "operation_id": info.operation_id,
                "operation": info.key,
                "is_move": is_move,
                "from_equipment_id": record["from_equipment_id"] if is_move else None,
                "from_equipment": record["from_equipment"] if is_move else None,
                "to_equipment_id": record["to_equipment_id"],
                "to_equipment": record["to_equipment"],
                "rule": record["rule"],
                "planned_start_at": record["new_start_at"],
                "planned_end_at": record["new_end_at"],
            }
        )
        inverse.append(
            {
                "operation_id": info.operation_id,
                "equipment_id": info.assigned_equipment_id,
                "planned_start_at": iso_text(info.planned_start_at),
                "planned_end_at": iso_text(info.planned_end_at),
            }
        )
    open_change = _open_plan_change_covering(run.site_id, entries)
    if open_change is not None:
        # One pending plan change at a time: soft differences wait for its decision.
        for _, record in guarded:
            record["action_id"] = open_change.pk
            record["action_status"] = open_change.status
        return
    summary = plan_change_summary(data, guarded, plan)
    moved = sum(1 for entry in entries if entry["is_move"])
    key = ";".join(
        f"{entry['operation_id']}:{entry['from_equipment_id']}>{entry['to_equipment_id']}"
        f":e{epochs.get(entry['operation_id'], 0)}"
        for entry in entries
    )
    digest = hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:20]
    action = action_propose(
        site=site,
        kind=ActionKind.REROUTE if moved else ActionKind.RESEQUENCE,
        target=summary.target,
        payload={"plan_change": True, "run_id": run.pk, "operations": entries},
        inverse={"operations": inverse},
        explanation=summary.sentence,
        explanation_data={
            "rule": "plan_change",
            "run": run.pk,
            "summary": summary.sentence,
            "moves": [
                {
                    "operation": record["operation"],
                    "from": record["from_equipment"],
                    "to": record["to_equipment"],
                    "rule": record["rule"],
                    "explanation": record["explanation"],
                    "scheduler": jsonable(change.explanation),
                }
                for change, record in guarded
            ],
            "late_work_orders": summary.late_work_orders,
            "machine_signatures": {
                str(info.equipment_id): info.signature for info in data.machine_info.values()
            },
            "machines": [
                item
                for item in machines
                if item["equipment_id"]
                in {entry["from_equipment_id"] for entry in entries}
                | {entry["to_equipment_id"] for entry in entries}
            ],
        },
        dedupe_key=f"plan_change:{digest}",
    )
    for _, record in guarded:
        record["action_id"] = action.pk
        record["action_status"] = action.status


FORCING_RULES = frozenset(
    {"machine_down", "machine_inactive", "machine_gone", "high_stress_anomaly", "no_new_work"}
)


def _forced_moves(entries: Iterable[dict[str, Any]]) -> set[tuple[Any, Any, Any]]:
    return {
        (entry["operation_id"], entry["from_equipment_id"], entry["to_equipment_id"])
        for entry in entries
        if entry.get("is_move") and entry.get("rule") in FORCING_RULES
    }


def _open_plan_change_covering(
    site_id: int, entries: list[dict[str, Any]]
) -> ProposedAction | None:
    """A plan change of the site still waiting for a decision that already holds every move a
    hard rule forces in ``entries`` (then a new one would only differ in soft moves)."""
    forced = _forced_moves(entries)
    for action in ProposedAction.objects.filter(
        site_id=site_id,
        kind__in=[ActionKind.REROUTE, ActionKind.RESEQUENCE],
        status__in=[ActionStatus.PROPOSED, ActionStatus.AWAITING_APPROVAL],
        payload__has_key="plan_change",
    ).order_by("-pk"):
        if forced <= _forced_moves(action.payload.get("operations", [])):
            return action
    return None


def _action_epochs(site_id: int, operation_ids: Iterable[int]) -> dict[int, int]:
    """Per operation the latest reroute/resequence that took effect (its id), 0 if none."""
    wanted = set(operation_ids)
    epochs: dict[int, int] = {}
    if not wanted:
        return epochs
    # Only actions since the oldest of these operations' work orders was created can name them.
    since = WorkOrder.objects.filter(operations__in=wanted).aggregate(oldest=Min("created_at"))[
        "oldest"
    ]
    rows = ProposedAction.objects.filter(
        site_id=site_id,
        kind__in=[ActionKind.REROUTE, ActionKind.RESEQUENCE],
        status__in=[ActionStatus.APPLIED, ActionStatus.REVERTED],
        created_at__gte=since or timezone.now(),
    ).values_list("pk", "payload")
    for action_id, payload in rows:
        ids = [payload.get("operation_id")] + [
            item.get("operation_id") for item in payload.get("operations", [])
        ]
        for operation_id in ids:
            if operation_id in wanted:
                epochs[operation_id] = max(epochs.get(operation_id, 0), action_id)
    return epochs
