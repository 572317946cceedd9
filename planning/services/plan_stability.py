"""Stability of a new plan: no reroute for a small gain.

The priority rule reacts to every small shift of time left; without this step a plan made a
minute later would move operations between equal machines for a fraction of a percent, and
each move would be a proposed action.
"""

from __future__ import annotations

import math
from dataclasses import replace

from planning.algorithms.scheduler.model import Plan, SchedulerConfig
from planning.algorithms.scheduler.placement import schedule
from planning.selectors.scheduling_input import SchedulingInput
from planning.services.values import setting

__all__ = ["keep_small_gains_in_place"]


def _soft_moves(data: SchedulingInput, plan: Plan, min_gain: float) -> dict[str, str]:
    """Operations the plan moves off their machine for less than ``min_gain`` of priority.

    Only moves no hard rule forces: the old machine was ranked for the operation (so it is
    up, not excluded by the anomaly rule or its maintenance block) and its priority was within
    ``min_gain`` (relative) of the new machine's. Returns operation id → old machine id.
    """
    current = {slot.operation_id: slot.machine_id for slot in data.current_slots}
    soft: dict[str, str] = {}
    for item in plan.operations():
        old = current.get(item.operation_id)
        explanation = item.explanation
        if old is None or old == item.machine_id or explanation.priority is None:
            continue
        for candidate in explanation.candidates:
            if candidate.machine_id != old:
                continue
            if candidate.exclusion is None and math.isfinite(candidate.priority):
                gain = (explanation.priority - candidate.priority) / max(
                    abs(candidate.priority), 1e-9
                )
                if gain < min_gain:
                    soft[item.operation_id] = old
            break
    return soft


def _pinned(data: SchedulingInput, pins: dict[str, str]) -> SchedulingInput:
    """The input with each pinned operation allowed on its one machine only."""
    extra: dict[str, set[str]] = {}
    for operation_id, machine_id in pins.items():
        extra.setdefault(machine_id, set()).add(f"keep:{operation_id}")
    machines = tuple(
        replace(machine, capabilities=machine.capabilities | extra[machine.id])
        if machine.id in extra
        else machine
        for machine in data.machines
    )
    jobs = tuple(
        replace(
            job,
            operations=tuple(
                replace(operation, capability=f"keep:{operation.id}")
                if operation.id in pins
                else operation
                for operation in job.operations
            ),
        )
        if any(operation.id in pins for operation in job.operations)
        else job
        for job in data.jobs
    )
    return replace(data, machines=machines, jobs=jobs)


def keep_small_gains_in_place(
    data: SchedulingInput, plan: Plan, config: SchedulerConfig
) -> tuple[SchedulingInput, Plan, int]:
    """Plan again with operations kept on their machine where moving gains little.

    The priority rule reacts to every small shift of time left; without this, a plan made a
    minute later would move operations between equal machines for a fraction of a percent
    and each move would be a proposed action. ``SCHEDULING_REROUTE_MIN_GAIN`` (relative
    priority, default 0.1) is the least gain a move must bring; moves a hard rule forces are
    never held back. A kept operation that then no longer fits is released again.
    """
    min_gain = float(setting("SCHEDULING_REROUTE_MIN_GAIN", 0.1))
    if min_gain <= 0 or not data.current_slots:
        return data, plan, 0
    pins = _soft_moves(data, plan, min_gain)
    if not pins:
        return data, plan, 0
    for _attempt in range(3):
        pinned_input = _pinned(data, pins)
        pinned_plan = schedule(pinned_input.machines, pinned_input.jobs, data.now_s, config=config)
        lost = {entry.operation_id for entry in pinned_plan.unschedulable} & set(pins)
        if not lost:
            return pinned_input, pinned_plan, len(pins)
        pins = {key: value for key, value in pins.items() if key not in lost}
        if not pins:
            break
    return data, plan, 0
