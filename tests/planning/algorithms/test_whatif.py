"""The what-if simulation reproduces hand-computed two-machine schedules exactly (pure)."""

from __future__ import annotations

import pytest

from planning.algorithms.scheduler.model import Job, Machine, Operation
from planning.algorithms.scheduler.whatif import Outage, SimulationConfig, simulate_plan

H = 3600.0
M1 = Machine("M1", frozenset({"x"}))
M2 = Machine("M2", frozenset({"x"}))
# J1: a (2 h) then b (1 h), due at 4 h. J2: c (3 h) then d (1 h), due at 3 h.
JOBS = (
    Job("J1", 4 * H, (Operation("a", "J1", 1, "x", 2 * H), Operation("b", "J1", 2, "x", 1 * H))),
    Job("J2", 3 * H, (Operation("c", "J2", 1, "x", 3 * H), Operation("d", "J2", 2, "x", 1 * H))),
)
PLAN = {"M1": ["a", "d"], "M2": ["c", "b"]}
POWER = SimulationConfig(power_kw={"M1": 10.0, "M2": 5.0})


def times(forecast) -> dict[str, tuple[float, float]]:
    return {item.operation_id: (item.start_s / H, item.end_s / H) for item in forecast.operations}


def test_the_hand_computed_two_machine_schedule() -> None:
    # M1: a 0–2, d waits for c (ends 3) → 3–4. M2: c 0–3, b after c and a → 3–4.
    forecast = simulate_plan([M1, M2], JOBS, PLAN, 0.0, config=POWER)

    assert times(forecast) == {"a": (0, 2), "c": (0, 3), "b": (3, 4), "d": (3, 4)}
    assert forecast.makespan_s == 4 * H
    assert {job.job_id: job.tardiness_s / H for job in forecast.jobs} == {"J1": 0.0, "J2": 1.0}
    assert (forecast.total_tardiness_s, forecast.late_job_count) == (1 * H, 1)
    assert dict(forecast.utilisation) == {"M1": 0.75, "M2": 1.0}
    assert forecast.energy_kwh == 10.0 * 3 + 5.0 * 4
    assert forecast.not_run == ()


def test_machine_down_for_four_hours_from_now() -> None:
    # M2 down 0–4 h: c 4–7, b 7–8; d waits for c: 7–8.
    forecast = simulate_plan(
        [M1, M2], JOBS, PLAN, 0.0, outages=[Outage("M2", 0.0, 4 * H)], config=POWER
    )

    assert times(forecast) == {"a": (0, 2), "c": (4, 7), "b": (7, 8), "d": (7, 8)}
    assert {job.job_id: job.tardiness_s / H for job in forecast.jobs} == {"J1": 4.0, "J2": 5.0}


def test_maintenance_window_and_health_slowdown() -> None:
    # M1 at α 0.5 with 20 % slowdown per unit α runs 10 % slower: a 0–2.2 h. M2 has a
    # maintenance window 1–2 h: c (3 h) cannot fit before it, starts at 2 h, ends at 5 h.
    worn = Machine("M1", frozenset({"x"}), anomaly_score=0.5)
    serviced = Machine(
        "M2", frozenset({"x"}), maintenance_window_start_s=1 * H, maintenance_window_end_s=2 * H
    )
    forecast = simulate_plan(
        [worn, serviced], JOBS, PLAN, 0.0, config=SimulationConfig(health_slowdown=0.2)
    )

    result = times(forecast)
    assert result["a"] == pytest.approx((0, 2.2))
    assert result["c"] == (2, 5)
    assert result["b"] == (5, 6)
    assert result["d"] == pytest.approx((5, 6.1))


def test_operations_without_a_machine_are_reported() -> None:
    forecast = simulate_plan([M1, M2], JOBS, {"M1": ["a"]}, 0.0)

    assert set(forecast.not_run) == {"b", "c", "d"}
    assert [job.completion_s for job in forecast.jobs] == [None, None]


def test_a_dispatch_decision_forecast_runs_each_line_first_in_first_out() -> None:
    from planning.algorithms.dispatch.model import Line, Order, PartRate
    from planning.algorithms.dispatch.whatif import line_queues_forecast

    # Line 1: 100 s and 360 W per A (0.01 kWh), 3.6/h (0.001 per s), 1.0 per kWh.
    line = Line("L1", {"A": PartRate(100, 360)}, machine_hour_rate=3.6, energy_price_per_kwh=1.0)
    queues = {"L1": [Order("O1", {"A": 2}), Order("O2", {"A": 3})]}

    (forecast,) = line_queues_forecast([line], queues)

    assert dict(forecast.completion_s) == {"O1": 200.0, "O2": 500.0}
    assert forecast.busy_s == 500.0
    assert forecast.energy_kwh == pytest.approx(0.05)
    assert forecast.cost == pytest.approx(500 * 0.001 + 0.05 * 1.0)
