"""The scheduler ranks operations with many eligible machines with numpy: same plan, same
explanations as the plain loop, on shops with gaps, anomalies, blocks and explicit durations."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planning.algorithms.scheduler import ranking
from planning.algorithms.scheduler.model import Job, Machine, Operation, Plan
from planning.algorithms.scheduler.placement import schedule


def wide_shop(seed: int, machine_count: int = 24, job_count: int = 60) -> tuple[list, list]:
    rng = random.Random(seed)
    machines = []
    for index in range(machine_count):
        has_window = index % 6 == 2
        machines.append(
            Machine(
                f"M{index:02d}",
                frozenset({"mill"} | ({"grind"} if index % 2 else set())),
                stress_limit_kn=rng.choice([5.0, 10.0, 20.0]),
                bottleneck_weight=rng.uniform(0.5, 2.0),
                anomaly_score=rng.choice([0.0, 0.2, 0.7, 0.95]),
                degradation_per_h=rng.uniform(0.0, 0.1),
                maintenance_window_start_s=rng.uniform(1_000, 6_000) if has_window else None,
                # One in two windows has no end: blocked for good once it starts.
                maintenance_window_end_s=9_000.0 if has_window and index % 12 != 2 else None,
                rul_p10_s=rng.choice([None, None, 20_000.0]),
                available_from_s=rng.choice([0.0, 0.0, 500.0]),
                speed_factor=rng.uniform(0.8, 1.25),
            )
        )
    jobs = []
    for job_index in range(job_count):
        job_id = f"J{job_index:03d}"
        operations = []
        for step in range(rng.randint(1, 5)):
            explicit = (
                {f"M{m:02d}": rng.uniform(30, 400) for m in range(machine_count)}
                if rng.random() < 0.2
                else {}
            )
            operations.append(
                Operation(
                    f"{job_id}-{step}",
                    job_id,
                    step,
                    rng.choice(["mill", "mill", "grind"]),
                    rng.uniform(30.0, 400.0),
                    force_kn=rng.choice([2.0, 8.0, 15.0, 30.0]),
                    machine_durations_s=explicit,
                )
            )
        jobs.append(
            Job(
                job_id,
                rng.uniform(-2_000.0, 40_000.0),
                tuple(operations),
                release_at_s=rng.choice([0.0, 0.0, 1_500.0]),
            )
        )
    return machines, jobs


def fingerprint(plan: Plan) -> list[tuple]:
    return sorted(
        (
            item.operation_id,
            item.machine_id,
            item.start_s,
            item.end_s,
            item.explanation.rule,
            item.explanation.priority,
            tuple(
                (c.machine_id, c.priority, c.finish_s, c.exclusion)
                for c in item.explanation.candidates
            ),
            item.explanation.message,
        )
        for item in plan.operations()
    ) + sorted((entry.operation_id, entry.reason, entry.message) for entry in plan.unschedulable)


def plan_with_threshold(monkeypatch, threshold: int, machines, jobs) -> Plan:
    monkeypatch.setattr(ranking, "_VECTOR_MIN_CANDIDATES", threshold)
    return schedule(machines, jobs, 0.0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_vectorised_ranking_gives_the_plain_loops_plan(monkeypatch, seed):
    machines, jobs = wide_shop(seed)
    plain = plan_with_threshold(monkeypatch, 10_000, machines, jobs)
    wide = plan_with_threshold(monkeypatch, 2, machines, jobs)
    assert plain.operation_count > 100
    assert any(item.explanation.rule == "high_stress_anomaly" for item in plain.operations())
    assert any(item.explanation.rule == "maintenance_horizon" for item in plain.operations())
    assert fingerprint(wide) == fingerprint(plain)
    assert wide.late_jobs == plain.late_jobs


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=2, max_value=12))
def test_vectorised_ranking_matches_on_random_shops(seed, machine_count):
    machines, jobs = wide_shop(seed, machine_count=machine_count, job_count=12)
    original = ranking._VECTOR_MIN_CANDIDATES
    try:
        ranking._VECTOR_MIN_CANDIDATES = 10_000
        plain = schedule(machines, jobs, 0.0)
        ranking._VECTOR_MIN_CANDIDATES = 1
        wide = schedule(machines, jobs, 0.0)
    finally:
        ranking._VECTOR_MIN_CANDIDATES = original
    assert fingerprint(wide) == fingerprint(plain)


def test_exact_ties_keep_the_machine_order(monkeypatch):
    """Identical machines tie exactly: the earliest finish, then the machine listed first."""
    machines = [Machine(f"M{index:02d}", frozenset({"mill"})) for index in range(20)]
    jobs = [
        Job(f"J{index}", 10_000.0, (Operation(f"J{index}-0", f"J{index}", 0, "mill", 100.0),))
        for index in range(30)
    ]
    plain = plan_with_threshold(monkeypatch, 10_000, machines, jobs)
    wide = plan_with_threshold(monkeypatch, 2, machines, jobs)
    assert fingerprint(wide) == fingerprint(plain)
    first = next(item for item in plain.operations() if item.operation_id == "J0-0")
    assert (first.machine_id, first.explanation.rule) == ("M00", "tie_earliest_finish")
    assert [c.machine_id for c in first.explanation.candidates] == [
        "M00",
        "M01",
        "M02",
        "M03",
        "M04",
    ]
