"""Plan changes: what changes between the current plan and a new one, each with its
explanation (moved, resequenced, retimed, added, removed)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from planning.algorithms.scheduler.model import (
    ChangeKind,
    Explanation,
    Plan,
    PlanChange,
    PlannedOperation,
    PlannedSlot,
    Unschedulable,
)


def diff_plans(
    current: Plan | Iterable[PlannedSlot],
    new: Plan,
    *,
    retime_tolerance_s: float = 1.0,
) -> tuple[PlanChange, ...]:
    """What changes between the current plan and a new one, each with its explanation.

    Per operation the most significant change is reported: moved to another machine, else
    resequenced (its order among the operations that stay on the machine changed), else
    retimed (start or end moved by more than ``retime_tolerance_s``). Operations only in the
    new plan are ``added``; operations of the current plan that are now unschedulable or gone
    are ``removed`` (with the reason when the new plan has one).
    """
    current_slots: list[PlannedSlot] = (
        list(current.operations()) if isinstance(current, Plan) else list(current)
    )
    old_by_id = {slot.operation_id: slot for slot in current_slots}
    new_by_id = {item.operation_id: item for item in new.operations()}
    changes = _changed_operations(current_slots, old_by_id, new_by_id, retime_tolerance_s)
    changes.extend(_removed_operations(old_by_id, new_by_id, new.unschedulable))
    return tuple(changes)


def _machine_ranks(slots: Iterable[PlannedSlot], keep: set[str]) -> dict[str, int]:
    """Position of each kept operation among the kept operations of its machine."""
    by_machine: dict[str, list[PlannedSlot]] = {}
    for slot in slots:
        if slot.operation_id in keep:
            by_machine.setdefault(slot.machine_id, []).append(slot)
    result: dict[str, int] = {}
    for items in by_machine.values():
        items.sort(key=lambda slot: (slot.start_s, slot.end_s, slot.operation_id))
        for rank, slot in enumerate(items):
            result[slot.operation_id] = rank
    return result


def _changed_operations(
    current_slots: list[PlannedSlot],
    old_by_id: Mapping[str, PlannedSlot],
    new_by_id: Mapping[str, PlannedOperation],
    retime_tolerance_s: float,
) -> list[PlanChange]:
    """The operations of the new plan that were added, moved, resequenced or retimed."""
    staying = {
        operation_id
        for operation_id, slot in old_by_id.items()
        if operation_id in new_by_id and new_by_id[operation_id].machine_id == slot.machine_id
    }
    old_ranks = _machine_ranks(current_slots, staying)
    new_ranks = _machine_ranks(new_by_id.values(), staying)

    changes: list[PlanChange] = []
    for operation_id, item in new_by_id.items():
        old = old_by_id.get(operation_id)
        change = _change_of(item, old, old_ranks, new_ranks, retime_tolerance_s)
        if change is None:
            continue
        kind, message = change
        explanation = item.explanation
        changes.append(
            PlanChange(
                kind,
                operation_id,
                item.job_id,
                None if old is None else old.machine_id,
                item.machine_id,
                None if old is None else old.start_s,
                item.start_s,
                None if old is None else old.end_s,
                item.end_s,
                explanation,
                f"{message}. {explanation.message}",
            )
        )
    return changes


def _change_of(
    item: PlannedOperation,
    old: PlannedSlot | None,
    old_ranks: Mapping[str, int],
    new_ranks: Mapping[str, int],
    retime_tolerance_s: float,
) -> tuple[ChangeKind, str] | None:
    """The most significant change of one operation and its sentence (None: unchanged)."""
    operation_id = item.operation_id
    if old is None:
        return ChangeKind.ADDED, f"{operation_id} added on {item.machine_id} at {item.start_s:.0f}"
    if old.machine_id != item.machine_id:
        return (
            ChangeKind.MOVED_MACHINE,
            f"{operation_id} moved from {old.machine_id} to {item.machine_id}",
        )
    if old_ranks[operation_id] != new_ranks[operation_id]:
        return (
            ChangeKind.RESEQUENCED,
            f"{operation_id} resequenced on {item.machine_id}: position "
            f"{old_ranks[operation_id] + 1} → {new_ranks[operation_id] + 1}",
        )
    if (
        abs(old.start_s - item.start_s) > retime_tolerance_s
        or abs(old.end_s - item.end_s) > retime_tolerance_s
    ):
        return (
            ChangeKind.RETIMED,
            f"{operation_id} retimed on {item.machine_id}: start {old.start_s:.0f} → "
            f"{item.start_s:.0f}",
        )
    return None


def _removed_operations(
    old_by_id: Mapping[str, PlannedSlot],
    new_by_id: Mapping[str, PlannedOperation],
    unschedulable: Iterable[Unschedulable],
) -> list[PlanChange]:
    """The operations of the current plan the new plan no longer holds, with the reason."""
    unschedulable_by_id = {
        entry.operation_id: entry for entry in unschedulable if entry.operation_id
    }
    changes: list[PlanChange] = []
    for operation_id, old in old_by_id.items():
        if operation_id in new_by_id:
            continue
        entry = unschedulable_by_id.get(operation_id)
        reason = entry.reason.value if entry else "not_in_new_plan"
        reason_message = entry.message if entry else "the operation is no longer to be scheduled"
        explanation = Explanation(
            operation_id=operation_id,
            job_id=old.job_id,
            machine_id=None,
            rule=reason,
            time_remaining_s=math.nan,
            processing_time_s=None,
            critical_ratio=math.nan,
            bottleneck_weight=None,
            anomaly_score=None,
            degradation_per_h=None,
            priority=None,
            candidates=(),
            sequencing="none",
            message=reason_message,
        )
        changes.append(
            PlanChange(
                ChangeKind.REMOVED,
                operation_id,
                old.job_id,
                old.machine_id,
                None,
                old.start_s,
                None,
                old.end_s,
                None,
                explanation,
                f"{operation_id} removed from {old.machine_id}: {reason_message}",
            )
        )
    return changes
