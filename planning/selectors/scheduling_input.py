"""Reads of the scheduler's input: the one place that turns the database into the pure
scheduler's machines and jobs (:func:`scheduling_input_load`).

Machine health and maintenance blocks come from :mod:`planning.selectors.machine_health`
(the maintenance app's selectors), so a change of that app touches one module.
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

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from autonomy.choices import ActionKind, ActionStatus
from autonomy.models import ProposedAction
from planning.algorithms.scheduler.model import Job, Machine, PlannedSlot
from planning.algorithms.scheduler.model import Operation as PureOperation
from planning.selectors.machine_health import (
    EquipmentHealth,
    MaintenanceBlock,
    equipment_down_ids,
    equipment_health_latest,
    equipment_open_episode_ids,
    health_class_of,
    maintenance_blocks_get,
)
from production.choices import OperationState, WorkOrderState
from production.models import Equipment, Operation

__all__ = [
    "SCHEDULED_WORK_ORDER_STATES",
    "MachineInfo",
    "OperationInfo",
    "SchedulingInput",
    "operation_duration_s",
    "scheduling_input_load",
]

SCHEDULED_WORK_ORDER_STATES = (WorkOrderState.RELEASED, WorkOrderState.IN_PROGRESS)
RUNNING_OPERATION_STATES = (OperationState.IN_PROGRESS, OperationState.PAUSED)


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
    health_class: str = "healthy"

    @property
    def is_schedulable(self) -> bool:
        return self.is_active and not self.is_down

    @property
    def signature(self) -> str:
        """State and health class: a move back within the damping time needs this to change."""
        state = "inactive" if not self.is_active else "down" if self.is_down else "up"
        return f"{state}/{self.health_class}"


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
    # A single reroute names its operation; a plan change lists its moves in "operations".
    rows = ProposedAction.objects.filter(
        Q(payload__operation_id__in=list(operations)) | Q(payload__has_key="plan_change"),
        site_id=site_id,
        kind=ActionKind.REROUTE,
        status__in=[ActionStatus.REJECTED, ActionStatus.REVERTED],
    ).values_list("pk", "payload", "inverse")
    for action_id, payload, inverse in rows:
        if payload.get("plan_change"):
            kept = [
                (item.get("operation_id"), item.get("from_equipment_id"))
                for item in payload.get("operations", [])
                if item.get("is_move")
            ]
        else:
            kept = [(payload.get("operation_id"), inverse.get("equipment_id"))]
        for operation_id, from_equipment_id in kept:
            operation = operations.get(operation_id)
            if operation is None or operation.assigned_equipment_id is None:
                continue
            if from_equipment_id == operation.assigned_equipment_id:
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
    machine_id_of = _machine_ids(equipment)
    health = equipment_health_latest(equipment_ids=equipment_ids, now=now)
    blocks = maintenance_blocks_get(equipment_ids=equipment_ids, now=now)
    down = equipment_down_ids(equipment_ids=equipment_ids)
    open_episodes = equipment_open_episode_ids(equipment_ids=equipment_ids)

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
    running = _RunningWork.of(operations, now)

    pin_capabilities: dict[int, set[str]] = defaultdict(set)
    for operation_id in pinned:
        op = pending[operation_id]
        pin_capabilities[op.assigned_equipment_id].add(f"pin:{op.pk}")
    machine_info: dict[str, MachineInfo] = {}
    machines: list[Machine] = []
    for item in equipment:
        info = MachineInfo(
            equipment_id=item.pk,
            machine_id=machine_id_of[item.pk],
            code=item.code,
            line_id=item.cell.line_id,
            stress_limit_kn=item.stress_limit_kn,
            bottleneck_weight=item.bottleneck_weight,
            health=health.get(item.pk),
            block=blocks.get(item.pk),
            is_down=item.pk in down,
            is_active=item.is_active,
            busy_until=running.busy_until.get(item.pk),
            capabilities=frozenset(capability.code for capability in item.capabilities.all()),
            health_class=health_class_of(
                health.get(item.pk), is_in_open_episode=item.pk in open_episodes
            ),
        )
        machine_info[info.machine_id] = info
        if info.is_schedulable:
            machines.append(_machine(item, info, pin_capabilities.get(item.pk, ()), now))

    jobs: list[Job] = []
    operation_info: dict[str, OperationInfo] = {}
    current_slots: list[PlannedSlot] = []
    by_work_order: dict[int, list[Operation]] = defaultdict(list)
    for op in operations:
        if op.state == OperationState.PENDING:
            by_work_order[op.work_order_id].append(op)
    for work_order_ops in by_work_order.values():
        job, infos = _job(work_order_ops, pinned, running.job_release, now, machine_id_of)
        jobs.append(job)
        for info in infos:
            operation_info[info.key] = info
            slot = _current_slot(info, machine_id_of, now)
            if slot is not None:
                current_slots.append(slot)

    return SchedulingInput(
        site_id=site_id,
        now=now,
        machines=tuple(machines),
        jobs=tuple(jobs),
        machine_info=machine_info,
        machine_id_of=machine_id_of,
        operation_info=operation_info,
        current_slots=tuple(current_slots),
        running=tuple(running.rows),
        fingerprints=_fingerprints(operations, equipment, machine_info, health, blocks),
        notes={"pinned": {str(k): v for k, v in pinned.items()}},
    )


def _machine_ids(equipment: list[Equipment]) -> dict[int, str]:
    """The scheduler's machine id of each equipment: its code, or its UNS path if not unique."""
    code_counts: dict[str, int] = defaultdict(int)
    for item in equipment:
        code_counts[item.code] += 1
    return {
        item.pk: item.code if code_counts[item.code] == 1 else item.uns_path for item in equipment
    }


@dataclass
class _RunningWork:
    """Operations already running: their machines are busy and their jobs wait for them."""

    busy_until: dict[int, datetime] = field(default_factory=dict)
    job_release: dict[int, datetime] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, operations: list[Operation], now: datetime) -> _RunningWork:
        work = cls()
        for op in operations:
            if op.state == OperationState.PENDING:
                continue
            duration = timedelta(
                seconds=op.setup_time_s
                + op.planned_run_time_per_unit_s * max(op.work_order.quantity, 0)
            )
            started = op.actual_start_at or now
            expected_end = max(now, started + duration)
            work.job_release[op.work_order_id] = max(
                work.job_release.get(op.work_order_id, now), expected_end
            )
            if op.assigned_equipment_id is not None:
                equipment_id = op.assigned_equipment_id
                work.busy_until[equipment_id] = max(
                    work.busy_until.get(equipment_id, now), expected_end
                )
            work.rows.append(
                {
                    "operation_id": op.pk,
                    "label": f"{op.work_order.number}/{op.sequence}",
                    "equipment_id": op.assigned_equipment_id,
                    "state": op.state,
                    "start_at": started.isoformat(),
                    "expected_end_at": expected_end.isoformat(),
                }
            )
        return work


def _machine(
    item: Equipment, info: MachineInfo, pin_capabilities: Iterable[str], now: datetime
) -> Machine:
    """The pure scheduler's machine of one schedulable equipment."""
    capabilities: set[str] = set(pin_capabilities)
    for capability in item.capabilities.all():
        capabilities.add(capability.code)
        capabilities.add(f"{capability.code}@{info.line_id}")
    state = info.health
    block = info.block
    is_healthy = info.health_class == "healthy"
    return Machine(
        id=info.machine_id,
        capabilities=frozenset(capabilities),
        stress_limit_kn=item.stress_limit_kn if item.stress_limit_kn > 0 else 1e-9,
        bottleneck_weight=item.bottleneck_weight,
        anomaly_score=state.anomaly_score if state else 0.0,
        degradation_per_h=state.degradation_per_h if state else 0.0,
        # A degrading or failing machine keeps high-stress work off (the anomaly rule).
        is_anomaly_flagged=not is_healthy,
        maintenance_window_start_s=block.start_at.timestamp() if block else None,
        maintenance_window_end_s=(block.end_at.timestamp() if block and block.end_at else None),
        rul_p10_s=state.rul_p10_s_at(now) if state else None,
        available_from_s=(info.busy_until or now).timestamp(),
        degradation_floor_per_h=float(
            getattr(settings, "SCHEDULING_HEALTH_PENALTY_FLOOR_PER_H", 1.0)
        ),
        accepts_new_work=is_healthy,
    )


def _job(
    work_order_ops: list[Operation],
    pinned: dict[int, int],
    job_release: dict[int, datetime],
    now: datetime,
    machine_id_of: dict[int, str],
) -> tuple[Job, list[OperationInfo]]:
    """One work order's pending operations as a job of the scheduler, with their facts."""
    work_order = work_order_ops[0].work_order
    job_operations = []
    infos = []
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
                current_machine_id=machine_id_of.get(op.assigned_equipment_id or 0),
            )
        )
        infos.append(
            OperationInfo(
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
        )
    precedence = tuple(
        (job_operations[index - 1].id, job_operations[index].id)
        for index in range(1, len(job_operations))
    )
    release = job_release.get(work_order.pk, now)
    job = Job(
        id=work_order.number,
        due_at_s=work_order.due_at.timestamp(),
        operations=tuple(job_operations),
        release_at_s=release.timestamp(),
        precedence=precedence,
        priority=work_order.priority,
    )
    return job, infos


def _current_slot(
    info: OperationInfo, machine_id_of: dict[int, str], now: datetime
) -> PlannedSlot | None:
    """Where the operation is committed now (its assigned machine and planned times)."""
    if info.assigned_equipment_id is None or info.assigned_equipment_id not in machine_id_of:
        return None
    start = info.planned_start_at or now
    end = info.planned_end_at or start
    return PlannedSlot(
        info.key,
        info.work_order_number,
        machine_id_of[info.assigned_equipment_id],
        start.timestamp(),
        max(end, start).timestamp(),
    )


def _fingerprints(
    operations: list[Operation],
    equipment: list[Equipment],
    machine_info: dict[str, MachineInfo],
    health: dict[int, EquipmentHealth],
    blocks: dict[int, MaintenanceBlock],
) -> dict[str, str]:
    """Digests of the input per area, so the periodic check sees what changed."""
    return {
        "work_orders": _digest(
            [
                (
                    op.work_order_id,
                    op.work_order.state,
                    op.work_order.due_at,
                    op.work_order.quantity,
                    op.work_order.priority,
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
            + [(info.equipment_id, info.health_class) for info in machine_info.values()]
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
