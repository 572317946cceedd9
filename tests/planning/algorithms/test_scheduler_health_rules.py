"""The scheduler's rules for trust: no new work onto an unhealthy machine, a penalty at α = 1
with δ = 0, and the work order priority in the ranking (pure)."""

from __future__ import annotations

import pytest

from planning.algorithms.scheduler.model import Job, Machine, Operation
from planning.algorithms.scheduler.placement import schedule

HOUR = 3600.0


def spindle(machine_id: str, **health) -> Machine:
    return Machine(machine_id, frozenset({"milling"}), **health)


def job(job_id: str, *, due_h: float, force_kn: float = 4.0, on: str | None = None, **extra):
    operation = Operation(
        f"{job_id}/10", job_id, 10, "milling", HOUR, force_kn=force_kn, current_machine_id=on
    )
    return Job(job_id, due_h * HOUR, (operation,), **extra)


def machines_of(plan) -> dict[str, str]:
    return {item.operation_id: item.machine_id for item in plan.operations()}


def test_a_machine_that_takes_no_new_work_keeps_only_what_is_already_on_it() -> None:
    failing = spindle("S7", anomaly_score=0.9, is_anomaly_flagged=True, accepts_new_work=False)
    healthy = spindle("S8")
    jobs = [
        job("STAYS", due_h=2, on="S7"),  # light, already on S7: may stay
        job("HEAVY", due_h=2, force_kn=45.0, on="S7"),  # high-stress: leaves
        job("NEW", due_h=20),  # not on S7: never goes there
        job("OTHER", due_h=20, on="S8"),
    ]

    plan = schedule([failing, healthy], jobs, 0.0)

    placed = machines_of(plan)
    assert placed["HEAVY/10"] == "S8"
    assert placed["NEW/10"] == "S8"
    assert placed["OTHER/10"] == "S8"
    assert placed["STAYS/10"] == "S7"


def test_alpha_one_with_no_degradation_is_still_penalised() -> None:
    # Both idle and equal; S7 stably anomalous (α = 1, δ = 0). With the seed's θ·α·δ the
    # tie goes to the machine listed first (S7); with the floor S8 wins.
    stable_anomaly = {"anomaly_score": 1.0, "degradation_per_h": 0.0}
    seed = schedule([spindle("S7", **stable_anomaly), spindle("S8")], [job("J", due_h=5)], 0.0)
    floored = schedule(
        [spindle("S7", degradation_floor_per_h=1.0, **stable_anomaly), spindle("S8")],
        [job("J", due_h=5)],
        0.0,
    )

    assert machines_of(seed)["J/10"] == "S7"
    assert machines_of(floored)["J/10"] == "S8"
    chosen = next(iter(floored.operations())).explanation
    penalties = {candidate.machine_id: candidate.health_penalty for candidate in chosen.candidates}
    assert penalties["S7"] == pytest.approx(1.0)


def test_work_order_priority_moves_a_job_earlier_in_the_ranking() -> None:
    # One machine; equal due dates and work: the urgent work order (priority 1) goes first.
    machine = spindle("S8")
    normal = job("NORMAL", due_h=10)
    urgent = job("URGENT", due_h=10, priority=1)

    plan = schedule([machine], [normal, urgent], 0.0)

    starts = {item.operation_id: item.start_s for item in plan.operations()}
    assert starts["URGENT/10"] < starts["NORMAL/10"]
