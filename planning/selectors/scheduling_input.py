"""Reads of the scheduling area: the scheduler's input from the database, plans, orders.

The one place that turns the database into the pure scheduler's input is
:func:`scheduling_input_load`; machine health comes from :func:`equipment_health_latest`
(the maintenance app's latest health snapshot) and maintenance blocks from
:func:`maintenance_blocks_get` (its maintenance work orders), so a change of those apps touches
one function each.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db.models import Max, OuterRef, QuerySet, Subquery, Sum
from django.utils import timezone

from autonomy.choices import ActionKind, ActionStatus
from autonomy.models import ProposedAction
from planning.algorithms import dispatch as pure_dispatch
from planning.algorithms.scheduler import Job, Machine, PlannedSlot
from planning.algorithms.scheduler import Operation as PureOperation
from planning.choices import CustomerOrderState
from planning.models import (
    CustomerOrder,
    CustomerOrderLine,
    DispatchPolicy,
    LinePartParameters,
    ScheduledOperation,
    ScheduleRun,
)
from production.choices import EquipmentState, OperationState, WorkOrderState
from production.models import Equipment, EquipmentStateInterval, Line, Operation
from production.selectors.plant import scope_filter, scope_get

__all__ = [
    "LOADING_STATES",
    "OPEN_ACTION_STATES",
    "DispatchSetup",
    "EquipmentHealth",
    "MachineInfo",
    "MaintenanceBlock",
    "OperationInfo",
    "SchedulingInput",
    "customer_order_list",
    "dispatch_setup_get",
    "equipment_down_ids",
    "equipment_health_latest",
    "gantt_data",
    "line_loads_units",
    "maintenance_blocks_get",
    "schedule_run_current",
    "schedule_run_list",
    "scheduled_operation_list",
    "scheduling_input_load",
]

# Customer orders whose units count towards their line's load.
LOADING_STATES = (CustomerOrderState.DISPATCHED, CustomerOrderState.IN_PROGRESS)
OPEN_ACTION_STATES = (ActionStatus.PROPOSED, ActionStatus.AWAITING_APPROVAL)
SCHEDULED_WORK_ORDER_STATES = (WorkOrderState.RELEASED, WorkOrderState.IN_PROGRESS)
RUNNING_OPERATION_STATES = (OperationState.IN_PROGRESS, OperationState.PAUSED)


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


# --- lists with the user's scope -----------------------------------------------------------------


def schedule_run_list(*, user) -> QuerySet[ScheduleRun]:
    """Runs of the sites in scope; a user scoped to lines sees the runs of their sites (the
    Gantt then shows only their lines' machines)."""
    queryset = ScheduleRun.objects.select_related("site", "requested_by")
    scope = scope_get(user)
    if scope.is_unrestricted:
        return queryset
    site_ids = set(scope.site_ids) | set(
        Line.objects.filter(pk__in=scope.line_ids).values_list("area__site_id", flat=True)
    )
    return queryset.filter(site_id__in=site_ids)


def schedule_run_current(*, site_id: int) -> ScheduleRun | None:
    return ScheduleRun.objects.filter(site_id=site_id, is_current=True).first()


def scheduled_operation_list(*, run: ScheduleRun) -> QuerySet[ScheduledOperation]:
    return (
        ScheduledOperation.objects.filter(run=run)
        .select_related("equipment", "operation__work_order")
        .order_by("equipment__uns_path", "position")
    )


def customer_order_list(*, user) -> QuerySet[CustomerOrder]:
    return scope_filter(
        CustomerOrder.objects.select_related("site", "area", "line").prefetch_related(
            "lines__product"
        ),
        user,
        line="line_id",
        site="site_id",
    )


# --- machine health and maintenance -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EquipmentHealth:
    """The latest assessed health of one equipment (``rul_p10_h`` counts from ``ts``)."""

    equipment_id: int
    snapshot_id: int
    ts: datetime
    anomaly_score: float
    degradation_per_h: float
    is_anomaly: bool
    rul_p10_h: float | None
    recommendation: str

    def rul_p10_s_at(self, now: datetime) -> float | None:
        """RUL p10 as seconds from ``now`` (never negative), None when unbounded."""
        if self.rul_p10_h is None:
            return None
        return max(0.0, self.rul_p10_h * 3600.0 - (now - self.ts).total_seconds())


def equipment_health_latest(
    *, equipment_ids: Iterable[int], now: datetime | None = None
) -> dict[int, EquipmentHealth]:
    """The latest assessed health snapshot per equipment (younger than the max age).

    The maintenance app owns the snapshots; without it (or without snapshots) every machine
    counts as healthy. ``SCHEDULING_HEALTH_MAX_AGE_H`` (default 168 h) ignores stale ones.
    """
    try:
        snapshot_model = apps.get_model("maintenance", "HealthSnapshot")
    except LookupError:
        return {}
    ids = list(equipment_ids)
    if not ids:
        return {}
    now = now or timezone.now()
    oldest = now - timedelta(hours=float(_setting("SCHEDULING_HEALTH_MAX_AGE_H", 168.0)))
    latest = Subquery(
        snapshot_model.objects.filter(
            equipment_id=OuterRef("pk"), state="assessed", ts__gte=oldest, ts__lte=now
        )
        .order_by("-ts")
        .values("pk")[:1]
    )
    snapshot_ids = [
        snapshot_id
        for snapshot_id in Equipment.objects.filter(pk__in=ids)
        .annotate(latest=latest)
        .values_list("latest", flat=True)
        if snapshot_id is not None
    ]
    result: dict[int, EquipmentHealth] = {}
    for row in snapshot_model.objects.filter(pk__in=snapshot_ids).values(
        "pk",
        "equipment_id",
        "ts",
        "alpha",
        "degradation_slope_per_h",
        "is_anomaly",
        "rul_state",
        "rul_p10_h",
        "recommendation",
    ):
        alpha = row["alpha"]
        if alpha is None or not math.isfinite(alpha):
            continue
        slope = row["degradation_slope_per_h"]
        if row["rul_state"] == "past_threshold":
            rul_p10_h: float | None = 0.0
        elif row["rul_state"] == "estimated" and row["rul_p10_h"] is not None:
            rul_p10_h = max(0.0, float(row["rul_p10_h"]))
        else:
            rul_p10_h = None
        result[row["equipment_id"]] = EquipmentHealth(
            equipment_id=row["equipment_id"],
            snapshot_id=row["pk"],
            ts=row["ts"],
            anomaly_score=min(1.0, max(0.0, float(alpha))),
            degradation_per_h=max(0.0, float(slope)) if slope and math.isfinite(slope) else 0.0,
            is_anomaly=bool(row["is_anomaly"]),
            rul_p10_h=rul_p10_h,
            recommendation=row["recommendation"] or "",
        )
    return result


@dataclass(frozen=True, slots=True)
class MaintenanceBlock:
    """When a machine must not run for maintenance (``end_at`` None: until further notice)."""

    equipment_id: int
    start_at: datetime
    end_at: datetime | None
    work_order_number: str
    reason: str


def maintenance_blocks_get(
    *, equipment_ids: Iterable[int], now: datetime
) -> dict[int, MaintenanceBlock]:
    """The earliest maintenance block of each equipment, from its open maintenance orders.

    * scheduled: the window is the planned slot — blocked from its start to its end;
    * in progress: blocked from now to the window end (or the estimated duration from now);
    * requested with a window end (e.g. a predictive order "before RUL p10"): the job may
      happen any time in the window, at the latest it starts ``estimated_duration_h`` before
      the end — blocked from that latest start to the end;
    * requested without a window: no date yet, no block.
    """
    try:
        order_model = apps.get_model("maintenance", "MaintenanceWorkOrder")
    except LookupError:
        return {}
    ids = list(equipment_ids)
    if not ids:
        return {}
    blocks: dict[int, MaintenanceBlock] = {}
    rows = order_model.objects.filter(
        equipment_id__in=ids, state__in=["requested", "scheduled", "in_progress"]
    ).values(
        "equipment_id",
        "number",
        "state",
        "window_start_at",
        "window_end_at",
        "estimated_duration_h",
    )
    for row in rows:
        duration = timedelta(hours=max(0.0, float(row["estimated_duration_h"] or 0.0)))
        start, end = row["window_start_at"], row["window_end_at"]
        if row["state"] == "scheduled":
            if start is None or (end is not None and end <= now):
                continue
            reason = f"{row['number']} scheduled {start:%Y-%m-%d %H:%M}"
        elif row["state"] == "in_progress":
            start = now
            end = end if end is not None and end > now else now + duration
            reason = f"{row['number']} in progress"
        else:
            if end is None or end <= now:
                continue
            start = max(now, end - duration)
            reason = f"{row['number']} requested, due by {end:%Y-%m-%d %H:%M}"
        block = MaintenanceBlock(row["equipment_id"], start, end, row["number"], reason + " UTC")
        known = blocks.get(row["equipment_id"])
        if known is None or block.start_at < known.start_at:
            blocks[row["equipment_id"]] = block
    return blocks


def equipment_down_ids(*, equipment_ids: Iterable[int]) -> set[int]:
    """Equipment whose open state interval is ``down`` (a breakdown: not schedulable)."""
    return set(
        EquipmentStateInterval.objects.filter(
            equipment_id__in=list(equipment_ids), end_at__isnull=True, state=EquipmentState.DOWN
        ).values_list("equipment_id", flat=True)
    )


# --- the scheduler's input -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MachineInfo:
    equipment_id: int
    machine_id: str
    code: str
    line_id: int
    stress_limit_kn: float
    bottleneck_weight: float
    health: EquipmentHealth | None
    block: MaintenanceBlock | None
    is_down: bool
    is_active: bool
    busy_until: datetime | None
    capabilities: frozenset[str] = frozenset()

    @property
    def is_schedulable(self) -> bool:
        return self.is_active and not self.is_down


@dataclass(frozen=True, slots=True)
class OperationInfo:
    operation_id: int
    key: str
    work_order_id: int
    work_order_number: str
    sequence: int
    name: str
    capability_code: str
    line_id: int | None
    line_code: str
    force_kn: float
    duration_s: float
    assigned_equipment_id: int | None
    planned_start_at: datetime | None
    planned_end_at: datetime | None
    pinned_by_action_id: int | None = None


@dataclass(frozen=True)
class SchedulingInput:
    """Everything one schedule run needs, read in one go (times: epoch seconds in the plan)."""

    site_id: int
    now: datetime
    machines: tuple[Machine, ...]
    jobs: tuple[Job, ...]
    machine_info: dict[str, MachineInfo]
    machine_id_of: dict[int, str]
    operation_info: dict[str, OperationInfo]
    current_slots: tuple[PlannedSlot, ...]
    running: tuple[dict[str, Any], ...]
    fingerprints: dict[str, str]
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def now_s(self) -> float:
        return self.now.timestamp()

    @property
    def operation_count(self) -> int:
        return len(self.operation_info)


def _digest(rows: Iterable[Any]) -> str:
    text = json.dumps(sorted(rows, key=repr), default=str, separators=(",", ":"))
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def _rul_bucket(rul_p10_h: float | None) -> int | None:
    if rul_p10_h is None:
        return None
    return round(math.log2(max(rul_p10_h, 0.5)))


def operation_duration_s(*, operation: Operation, quantity: int) -> float:
    """Setup plus the planned run time of the units still to make."""
    remaining = max(quantity - operation.quantity_good, 0)
    return operation.setup_time_s + operation.planned_run_time_per_unit_s * remaining


def _pinned_operations(site_id: int, operations: dict[int, Operation]) -> dict[int, int]:
    """Pending operations a supervisor kept on their machine: operation id → action id.

    A reroute that was rejected (or applied and reverted) while the operation still sits on
    the machine it was to leave pins it there, so the next plan does not assume the move.
    """
    if not operations:
        return {}
    pinned: dict[int, int] = {}
    rows = ProposedAction.objects.filter(
        site_id=site_id,
        kind=ActionKind.REROUTE,
        status__in=[ActionStatus.REJECTED, ActionStatus.REVERTED],
        payload__operation_id__in=list(operations),
    ).values_list("pk", "payload", "inverse")
    for action_id, payload, inverse in rows:
        operation = operations.get(payload.get("operation_id"))
        if operation is None or operation.assigned_equipment_id is None:
            continue
        if inverse.get("equipment_id") == operation.assigned_equipment_id:
            pinned[operation.pk] = max(action_id, pinned.get(operation.pk, 0))
    return pinned


def scheduling_input_load(*, site_id: int, now: datetime | None = None) -> SchedulingInput:
    """Read the site's open work, machines, health and maintenance into the scheduler's input.

    Jobs are the released and running work orders of the site; their pending operations are
    scheduled in routing order (operations already running stay where they are: their
    machine is busy until their expected end and the job's next step waits for it). A work
    order bound to a line is scheduled on that line's machines only. Machines that are
    inactive or down (open ``down`` state interval) are left out. Health is the latest
    assessed health snapshot; the maintenance block comes from open maintenance orders.
    """
    now = now or timezone.now()
    equipment = list(
        Equipment.objects.filter(cell__line__area__site_id=site_id)
        .select_related("cell__line")
        .prefetch_related("capabilities")
        .order_by("uns_path")
    )
    equipment_ids = [item.pk for item in equipment]
    code_counts: dict[str, int] = defaultdict(int)
    for item in equipment:
        code_counts[item.code] += 1
    machine_id_of = {
        item.pk: item.code if code_counts[item.code] == 1 else item.uns_path for item in equipment
    }
    health = equipment_health_latest(equipment_ids=equipment_ids, now=now)
    blocks = maintenance_blocks_get(equipment_ids=equipment_ids, now=now)
    down = equipment_down_ids(equipment_ids=equipment_ids)

    operations = list(
        Operation.objects.filter(
            work_order__site_id=site_id,
            work_order__state__in=SCHEDULED_WORK_ORDER_STATES,
            state__in=[OperationState.PENDING, *RUNNING_OPERATION_STATES],
        )
        .select_related("work_order__line", "capability")
        .order_by("work_order__due_at", "work_order_id", "sequence")
    )
    pending = {op.pk: op for op in operations if op.state == OperationState.PENDING}
    pinned = _pinned_operations(site_id, pending)

    busy_until: dict[int, datetime] = {}
    job_release: dict[int, datetime] = {}
    running: list[dict[str, Any]] = []
    for op in operations:
        if op.state == OperationState.PENDING:
            continue
        duration = timedelta(
            seconds=op.setup_time_s
            + op.planned_run_time_per_unit_s * max(op.work_order.quantity, 0)
        )
        started = op.actual_start_at or now
        expected_end = max(now, started + duration)
        job_release[op.work_order_id] = max(job_release.get(op.work_order_id, now), expected_end)
        if op.assigned_equipment_id is not None:
            equipment_id = op.assigned_equipment_id
            busy_until[equipment_id] = max(busy_until.get(equipment_id, now), expected_end)
        running.append(
            {
                "operation_id": op.pk,
                "label": f"{op.work_order.number}/{op.sequence}",
                "equipment_id": op.assigned_equipment_id,
                "state": op.state,
                "start_at": started.isoformat(),
                "expected_end_at": expected_end.isoformat(),
            }
        )

    machine_info: dict[str, MachineInfo] = {}
    machines: list[Machine] = []
    extra_capabilities: dict[int, set[str]] = defaultdict(set)
    for operation_id in pinned:
        op = pending[operation_id]
        extra_capabilities[op.assigned_equipment_id].add(f"pin:{op.pk}")
    for item in equipment:
        machine_id = machine_id_of[item.pk]
        line_id = item.cell.line_id
        info = MachineInfo(
            equipment_id=item.pk,
            machine_id=machine_id,
            code=item.code,
            line_id=line_id,
            stress_limit_kn=item.stress_limit_kn,
            bottleneck_weight=item.bottleneck_weight,
            health=health.get(item.pk),
            block=blocks.get(item.pk),
            is_down=item.pk in down,
            is_active=item.is_active,
            busy_until=busy_until.get(item.pk),
            capabilities=frozenset(capability.code for capability in item.capabilities.all()),
        )
        machine_info[machine_id] = info
        if not info.is_schedulable:
            continue
        capabilities: set[str] = set(extra_capabilities.get(item.pk, ()))
        for capability in item.capabilities.all():
            capabilities.add(capability.code)
            capabilities.add(f"{capability.code}@{line_id}")
        state = info.health
        block = info.block
        machines.append(
            Machine(
                id=machine_id,
                capabilities=frozenset(capabilities),
                stress_limit_kn=item.stress_limit_kn if item.stress_limit_kn > 0 else 1e-9,
                bottleneck_weight=item.bottleneck_weight,
                anomaly_score=state.anomaly_score if state else 0.0,
                degradation_per_h=state.degradation_per_h if state else 0.0,
                is_anomaly_flagged=state.is_anomaly if state else False,
                maintenance_window_start_s=block.start_at.timestamp() if block else None,
                maintenance_window_end_s=(
                    block.end_at.timestamp() if block and block.end_at else None
                ),
                rul_p10_s=state.rul_p10_s_at(now) if state else None,
                available_from_s=(busy_until.get(item.pk) or now).timestamp(),
            )
        )

    operation_info: dict[str, OperationInfo] = {}
    by_work_order: dict[int, list[Operation]] = defaultdict(list)
    for op in operations:
        if op.state == OperationState.PENDING:
            by_work_order[op.work_order_id].append(op)
    jobs: list[Job] = []
    current_slots: list[PlannedSlot] = []
    for work_order_ops in by_work_order.values():
        work_order = work_order_ops[0].work_order
        job_operations = []
        for op in work_order_ops:
            key = f"{work_order.number}/{op.sequence}"
            duration_s = operation_duration_s(operation=op, quantity=work_order.quantity)
            pin = pinned.get(op.pk)
            if pin is not None:
                capability = f"pin:{op.pk}"
            elif work_order.line_id is not None:
                capability = f"{op.capability.code}@{work_order.line_id}"
            else:
                capability = op.capability.code
            job_operations.append(
                PureOperation(
                    id=key,
                    job_id=work_order.number,
                    sequence=op.sequence,
                    capability=capability,
                    standard_duration_s=duration_s,
                    force_kn=op.force_kn,
                )
            )
            operation_info[key] = OperationInfo(
                operation_id=op.pk,
                key=key,
                work_order_id=work_order.pk,
                work_order_number=work_order.number,
                sequence=op.sequence,
                name=op.name,
                capability_code=op.capability.code,
                line_id=work_order.line_id,
                line_code=work_order.line.code if work_order.line_id else "",
                force_kn=op.force_kn,
                duration_s=duration_s,
                assigned_equipment_id=op.assigned_equipment_id,
                planned_start_at=op.planned_start_at,
                planned_end_at=op.planned_end_at,
                pinned_by_action_id=pin,
            )
            if op.assigned_equipment_id is not None and op.assigned_equipment_id in machine_id_of:
                start = op.planned_start_at or now
                end = op.planned_end_at or start
                current_slots.append(
                    PlannedSlot(
                        key,
                        work_order.number,
                        machine_id_of[op.assigned_equipment_id],
                        start.timestamp(),
                        max(end, start).timestamp(),
                    )
                )
        precedence = tuple(
            (job_operations[index - 1].id, job_operations[index].id)
            for index in range(1, len(job_operations))
        )
        release = job_release.get(work_order.pk, now)
        jobs.append(
            Job(
                id=work_order.number,
                due_at_s=work_order.due_at.timestamp(),
                operations=tuple(job_operations),
                release_at_s=release.timestamp(),
                precedence=precedence,
            )
        )

    fingerprints = {
        "work_orders": _digest(
            [
                (
                    op.work_order_id,
                    op.work_order.state,
                    op.work_order.due_at,
                    op.work_order.quantity,
                )
                for op in operations
            ]
            + [(op.pk, op.state, op.quantity_good) for op in operations]
        ),
        "equipment": _digest(
            [
                (
                    info.equipment_id,
                    info.is_active,
                    info.is_down,
                    info.stress_limit_kn,
                    info.bottleneck_weight,
                )
                for info in machine_info.values()
            ]
            + [
                (item.pk, sorted(capability.code for capability in item.capabilities.all()))
                for item in equipment
            ]
        ),
        "health": _digest(
            [
                (
                    equipment_id,
                    state.is_anomaly,
                    round(state.anomaly_score, 1),
                    _rul_bucket(state.rul_p10_h),
                )
                for equipment_id, state in health.items()
            ]
        ),
        "maintenance": _digest(
            [
                (
                    block.equipment_id,
                    block.work_order_number,
                    block.start_at.replace(second=0, microsecond=0),
                    block.end_at.replace(second=0, microsecond=0) if block.end_at else None,
                )
                for block in blocks.values()
            ]
        ),
    }
    return SchedulingInput(
        site_id=site_id,
        now=now,
        machines=tuple(machines),
        jobs=tuple(jobs),
        machine_info=machine_info,
        machine_id_of=machine_id_of,
        operation_info=operation_info,
        current_slots=tuple(current_slots),
        running=tuple(running),
        fingerprints=fingerprints,
        notes={"pinned": {str(k): v for k, v in pinned.items()}},
    )


# --- plan and Gantt ------------------------------------------------------------------------------


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


# --- dispatch ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DispatchSetup:
    """The lines of one area as the dispatcher sees them, with the area's cost policy."""

    area_id: int
    lines: dict[str, Line]
    pure_lines: tuple[pure_dispatch.Line, ...]
    weights: pure_dispatch.CostWeights
    config: pure_dispatch.DispatchConfig
    policy_is_default: bool


def dispatch_setup_get(*, area_id: int, lines: Iterable[Line] | None = None) -> DispatchSetup:
    """Lines with their part parameters (time and power per product code) and the policy."""
    line_list = (
        list(lines)
        if lines is not None
        else list(Line.objects.filter(area_id=area_id).order_by("code"))
    )
    rates: dict[int, dict[str, pure_dispatch.PartRate]] = defaultdict(dict)
    for line_id, product_code, time_s, power_w in LinePartParameters.objects.filter(
        line__in=line_list
    ).values_list("line_id", "product__code", "time_per_part_s", "power_w"):
        rates[line_id][product_code] = pure_dispatch.PartRate(time_s=time_s, power_w=power_w)
    policy = DispatchPolicy.objects.filter(area_id=area_id).first()
    weights = pure_dispatch.CostWeights(
        time_weight=policy.time_weight if policy else 1.0,
        energy_weight=policy.energy_weight if policy else 1.0,
        energy_price_per_kwh=policy.energy_price_per_kwh if policy else 0.25,
    )
    config = pure_dispatch.DispatchConfig(
        cost_ratio_threshold=policy.imbalance_threshold if policy else 1.3
    )
    usable = [line for line in line_list if rates.get(line.pk)]
    return DispatchSetup(
        area_id=area_id,
        lines={line.code: line for line in usable},
        pure_lines=tuple(
            pure_dispatch.Line(
                id=line.code, part_rates=rates[line.pk], capacity_units=line.capacity_units
            )
            for line in usable
        ),
        weights=weights,
        config=config,
        policy_is_default=policy is None,
    )


def line_loads_units(*, line_ids: Iterable[int]) -> dict[int, int]:
    """Units of the customer orders dispatched to or in progress on each line."""
    ids = list(line_ids)
    loads = dict.fromkeys(ids, 0)
    for line_id, units in (
        CustomerOrderLine.objects.filter(order__line_id__in=ids, order__state__in=LOADING_STATES)
        .values("order__line_id")
        .annotate(units=Sum("quantity"))
        .values_list("order__line_id", "units")
    ):
        loads[line_id] = int(units or 0)
    return loads


def backlog_area_ids() -> list[int]:
    """Areas with customer orders waiting for capacity (for the periodic retry)."""
    return list(
        CustomerOrder.objects.filter(state=CustomerOrderState.BACKLOG)
        .values_list("area_id", flat=True)
        .distinct()
        .order_by("area_id")
    )


def latest_run_of_sites() -> dict[int, ScheduleRun]:
    """Per site with open work or a plan, the latest finished run (for the periodic check)."""
    latest_ids = (
        ScheduleRun.objects.filter(status__in=["succeeded", "failed"])
        .values("site_id")
        .annotate(latest=Max("pk"))
        .values_list("latest", flat=True)
    )
    return {run.site_id: run for run in ScheduleRun.objects.filter(pk__in=list(latest_ids))}
