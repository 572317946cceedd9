"""Stability of a new plan: hysteresis and damping before anything moves.

The priority rule reacts to every small shift of time left; without this step a plan made a
minute later would move operations between equal machines for a fraction of a percent, and
back again a minute later. Each move the new plan proposes is checked by
:func:`planning.algorithms.scheduler.stability.moves_held_back`:

* **hysteresis** — a move no hard rule forces must gain at least
  ``SCHEDULING_REROUTE_MIN_GAIN`` (the margin, 0.1 = 10 %) of priority over staying;
* **damping** — an operation does not go back to a machine it left less than
  ``SCHEDULING_DAMPING_S`` (1,800 s) ago unless the state (up, down, inactive) or the health
  class (healthy, degrading, failing) of one of the two machines changed since.

Held-back operations are kept on their machine and the plan is made again around them.
Moves a hard rule forces (machine down, the anomaly rule, the maintenance horizon, no new
work on an unhealthy machine) always go ahead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import timedelta

from planning.algorithms.scheduler.model import Plan, SchedulerConfig
from planning.algorithms.scheduler.placement import schedule
from planning.algorithms.scheduler.stability import (
    HoldReason,
    PastMove,
    ProposedMove,
    StabilityPolicy,
    moves_held_back,
)
from planning.selectors.plan_history import plan_moves_recent
from planning.selectors.scheduling_input import SchedulingInput
from planning.services.values import setting

__all__ = ["StabilityOutcome", "plan_stabilise"]


@dataclass(frozen=True)
class StabilityOutcome:
    data: SchedulingInput
    plan: Plan
    kept_in_place: int
    damped: int
    held: dict[str, str]


def _proposed_moves(data: SchedulingInput, plan: Plan) -> list[ProposedMove]:
    """The moves of the new plan, with the relative priority gain over staying (None when
    the old machine is excluded for the operation: a hard rule forces the move)."""
    current = {slot.operation_id: slot.machine_id for slot in data.current_slots}
    moves = []
    for item in plan.operations():
        old = current.get(item.operation_id)
        explanation = item.explanation
        if old is None or old == item.machine_id:
            continue
        gain = None
        if explanation.priority is not None:
            for candidate in explanation.candidates:
                if candidate.machine_id != old:
                    continue
                if candidate.exclusion is None and math.isfinite(candidate.priority):
                    gain = (explanation.priority - candidate.priority) / max(
                        abs(candidate.priority), 1e-9
                    )
                break
        moves.append(ProposedMove(item.operation_id, old, item.machine_id, gain))
    return moves


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


def _history(data: SchedulingInput, damping_s: float) -> list[PastMove]:
    """The moves that took effect within the damping time, in the scheduler's ids."""
    machine_of = data.machine_id_of
    history = []
    for move in plan_moves_recent(
        site_id=data.site_id, since=data.now - timedelta(seconds=damping_s)
    ):
        if move.from_equipment_id not in machine_of or move.to_equipment_id not in machine_of:
            continue
        history.append(
            PastMove(
                move.operation,
                machine_of[move.from_equipment_id],
                machine_of[move.to_equipment_id],
                move.at.timestamp(),
                {
                    machine_of[equipment_id]: signature
                    for equipment_id, signature in move.signatures.items()
                    if equipment_id in machine_of
                },
            )
        )
    return history


def plan_stabilise(data: SchedulingInput, plan: Plan, config: SchedulerConfig) -> StabilityOutcome:
    """Plan again with the held-back operations kept on their machine (a kept operation that
    then no longer fits is released again)."""
    policy = StabilityPolicy(
        hysteresis_margin=max(float(setting("SCHEDULING_REROUTE_MIN_GAIN", 0.1)), 0.0),
        damping_s=max(float(setting("SCHEDULING_DAMPING_S", 1800.0)), 0.0),
    )
    unchanged = StabilityOutcome(data, plan, 0, 0, {})
    if not data.current_slots:
        return unchanged
    moves = _proposed_moves(data, plan)
    if not moves:
        return unchanged
    signatures = {info.machine_id: info.signature for info in data.machine_info.values()}
    history = _history(data, policy.damping_s) if policy.damping_s > 0 else []
    held = moves_held_back(moves, history, signatures, data.now_s, policy)
    pins = {key: item.move.from_machine_id for key, item in held.items()}
    for _attempt in range(3):
        if not pins:
            break
        pinned_input = _pinned(data, pins)
        pinned_plan = schedule(pinned_input.machines, pinned_input.jobs, data.now_s, config=config)
        lost = {entry.operation_id for entry in pinned_plan.unschedulable} & set(pins)
        if not lost:
            kept = {key: held[key] for key in pins}
            return StabilityOutcome(
                pinned_input,
                pinned_plan,
                sum(1 for item in kept.values() if item.reason is HoldReason.HYSTERESIS),
                sum(1 for item in kept.values() if item.reason is HoldReason.DAMPING),
                {key: item.message for key, item in kept.items()},
            )
        pins = {key: value for key, value in pins.items() if key not in lost}
    return unchanged
