"""Tests of the dynamic priority scheduler (pure: no database, no Django)."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planning.algorithms.scheduler.diff import diff_plans
from planning.algorithms.scheduler.improve import improve_plan
from planning.algorithms.scheduler.model import (
    AssignmentRule,
    ChangeKind,
    ExclusionRule,
    ImprovementConfig,
    Job,
    Machine,
    Operation,
    Plan,
    PlannedSlot,
    SchedulerConfig,
    SchedulingInputError,
    UnschedulableReason,
)
from planning.algorithms.scheduler.placement import schedule


def mill(machine_id: str, **fields: object) -> Machine:
    return Machine(machine_id, frozenset({"mill"}), **fields)  # type: ignore[arg-type]


def operation(
    operation_id: str, sequence: int, duration_s: float, *, force_kn: float = 0.0
) -> Operation:
    job_id = operation_id.split("-")[0]
    return Operation(operation_id, job_id, sequence, "mill", duration_s, force_kn=force_kn)


def slots(plan: Plan) -> dict[str, tuple[str, float, float]]:
    return {
        item.operation_id: (item.machine_id, item.start_s, item.end_s) for item in plan.operations()
    }


def three_jobs() -> list[Job]:
    return [
        Job("J1", 1000.0, (operation("J1-1", 1, 100.0),)),
        Job("J2", 300.0, (operation("J2-1", 1, 200.0),)),
        Job("J3", 900.0, (operation("J3-1", 1, 300.0), operation("J3-2", 2, 100.0))),
    ]


# ------------------------------------------------------------------ hand-checked plans


def test_three_jobs_on_two_machines_worked_by_hand() -> None:
    # M2 runs at half speed. Critical ratios at now = 0 (TR / fastest remaining work):
    #   J1 1000/100 = 10, J2 300/200 = 1.5, J3 900/(300+100) = 2.25  → J2, J3, J1.
    # J2-1: M1 finishes at 200 → TP 200, priority 300/200 = 1.5; M2 finishes at 400 → 0.75.
    # J3-1: M1 free at 200, ends 500, TP 500+100 = 600 → 1.5; M2 ends 600, TP 700 → 1.2857.
    #       J3's CR becomes 900/100 = 9 < 10, so J3-2 goes before J1-1.
    # J3-2: ready 500; M1 ends 600 → TP 600 → 1.5; M2 ends 700 → 1.2857.
    # J1-1: M1 ends 700 → 1000/700 = 1.4286; M2 (idle) ends 200 → 1000/200 = 5 → M2.
    machines = [mill("M1"), mill("M2", speed_factor=0.5)]

    plan = schedule(machines, three_jobs(), 0.0)

    assert slots(plan) == {
        "J2-1": ("M1", 0.0, 200.0),
        "J3-1": ("M1", 200.0, 500.0),
        "J3-2": ("M1", 500.0, 600.0),
        "J1-1": ("M2", 0.0, 200.0),
    }
    assert [item.operation_id for item in plan.machine_sequences["M1"]] == ["J2-1", "J3-1", "J3-2"]
    explanation = next(
        item for item in plan.operations() if item.operation_id == "J3-1"
    ).explanation
    assert explanation.rule == AssignmentRule.HIGHEST_PRIORITY
    assert explanation.time_remaining_s == 900.0
    assert explanation.processing_time_s == 600.0
    assert explanation.critical_ratio == pytest.approx(2.25)
    assert explanation.priority == pytest.approx(1.5)
    assert [(c.machine_id, round(c.priority, 4)) for c in explanation.candidates] == [
        ("M1", 1.5),
        ("M2", 1.2857),
    ]
    assert "TR 900 s / TP 600 s" in explanation.message
    assert plan.late_jobs == ()
    assert plan.unschedulable == ()
    assert plan.job_end_s == {"J1": 200.0, "J2": 200.0, "J3": 600.0}


def test_health_penalty_diverts_an_operation_from_a_degraded_machine() -> None:
    # Same case, M2 with θ=2, α=0.5, δ=4/h: penalty 4. J1-1 on M2: 5 − 4 = 1 < 1.4286 on M1.
    machines = [
        mill("M1"),
        mill(
            "M2", speed_factor=0.5, bottleneck_weight=2.0, anomaly_score=0.5, degradation_per_h=4.0
        ),
    ]

    plan = schedule(machines, three_jobs(), 0.0)

    assert slots(plan)["J1-1"] == ("M1", 600.0, 700.0)
    explanation = next(
        item for item in plan.operations() if item.operation_id == "J1-1"
    ).explanation
    assert (
        explanation.bottleneck_weight,
        explanation.anomaly_score,
        explanation.degradation_per_h,
    ) == (
        1.0,
        0.0,
        0.0,
    )
    by_machine = {candidate.machine_id: candidate for candidate in explanation.candidates}
    assert by_machine["M2"].health_penalty == 4.0
    assert by_machine["M2"].priority == pytest.approx(1.0)
    assert by_machine["M1"].priority == pytest.approx(1000 / 700)
    assert plan.machine_sequences["M2"] == ()


def test_priority_tie_goes_to_the_earliest_finish() -> None:
    # TR = 1000. M1 finishes at 100 but has penalty 1·1·5 = 5: 10 − 5 = 5.
    # M2 finishes at 200 with no penalty: 5. A tie; M1 finishes first.
    machines = [
        mill("M2", speed_factor=0.5),
        mill("M1", anomaly_score=1.0, degradation_per_h=5.0),
    ]
    jobs = [Job("J1", 1000.0, (operation("J1-1", 1, 100.0),))]

    plan = schedule(machines, jobs, 0.0)

    placed = next(plan.operations())
    assert (placed.machine_id, placed.start_s, placed.end_s) == ("M1", 0.0, 100.0)
    assert placed.explanation.rule == AssignmentRule.TIE_EARLIEST_FINISH


def test_only_eligible_machine_rule() -> None:
    machines = [mill("M1"), Machine("L1", frozenset({"lathe"}))]
    plan = schedule(machines, [Job("J1", 50.0, (operation("J1-1", 1, 10.0),))], 0.0)

    assert next(plan.operations()).explanation.rule == AssignmentRule.ONLY_ELIGIBLE_MACHINE


def test_high_stress_operation_never_goes_to_a_machine_in_anomaly() -> None:
    # M2 is faster (would rank higher) but in anomaly (α 0.9 > 0.6); 20 kN > 10 kN limit.
    machines = [mill("M1"), mill("M2", speed_factor=4.0, anomaly_score=0.9)]
    jobs = [Job("J1", 1000.0, (operation("J1-1", 1, 100.0, force_kn=20.0),))]

    plan = schedule(machines, jobs, 0.0)

    placed = next(plan.operations())
    assert placed.machine_id == "M1"
    assert placed.explanation.rule == AssignmentRule.HIGH_STRESS_ANOMALY
    excluded = [c for c in placed.explanation.candidates if c.machine_id == "M2"]
    assert len(excluded) == 1
    assert excluded[0].exclusion == ExclusionRule.HIGH_STRESS_ANOMALY
    assert excluded[0].priority == pytest.approx(1000 / 25)
    assert "M2 ranked higher but is in anomaly" in placed.explanation.message


def test_low_stress_operation_may_use_a_machine_in_anomaly() -> None:
    machines = [mill("M1"), mill("M2", speed_factor=4.0, is_anomaly_flagged=True)]
    jobs = [Job("J1", 1000.0, (operation("J1-1", 1, 100.0, force_kn=5.0),))]

    assert next(schedule(machines, jobs, 0.0).operations()).machine_id == "M2"


def test_flagged_machine_is_in_anomaly_whatever_its_score() -> None:
    machines = [mill("M1"), mill("M2", speed_factor=4.0, is_anomaly_flagged=True)]
    jobs = [Job("J1", 1000.0, (operation("J1-1", 1, 100.0, force_kn=10.5),))]

    assert next(schedule(machines, jobs, 0.0).operations()).machine_id == "M1"


def test_anomaly_threshold_is_configurable() -> None:
    machines = [mill("M1"), mill("M2", speed_factor=4.0, anomaly_score=0.7)]
    jobs = [Job("J1", 1000.0, (operation("J1-1", 1, 100.0, force_kn=20.0),))]

    relaxed = schedule(machines, jobs, 0.0, config=SchedulerConfig(anomaly_threshold=0.8))

    assert next(relaxed.operations()).machine_id == "M2"


def test_degraded_machine_keeps_only_work_that_ends_before_its_maintenance_window() -> None:
    # M1 (twice as fast, degraded: penalty 1·0.2·0.1 = 0.02) has maintenance [120, 400).
    # A-1 runs 0–100 on M1 (ends before 120; priority 1000/100 − 0.02 = 9.98).
    # B-1 on M1 would run 100–200 and cross 120, so only 400–500 is possible (priority 1.98);
    # on M2 (speed 0.8) it runs 0–250 (priority 1000/250 = 4) → M2. Without the window M1
    # would have scored 1000/200 − 0.02 = 4.98 > 4: the window is the rule that fired.
    machines = [
        mill(
            "M1",
            speed_factor=2.0,
            degradation_per_h=0.1,
            anomaly_score=0.2,
            maintenance_window_start_s=120.0,
            maintenance_window_end_s=400.0,
        ),
        mill("M2", speed_factor=0.8),
    ]
    jobs = [
        Job("A", 1000.0, (operation("A-1", 1, 200.0),)),
        Job("B", 1000.0, (operation("B-1", 1, 200.0),)),
    ]

    plan = schedule(machines, jobs, 0.0)

    placed = slots(plan)
    assert placed["A-1"] == ("M1", 0.0, 100.0)
    assert placed["B-1"] == ("M2", 0.0, 250.0)
    explanation = next(item for item in plan.operations() if item.operation_id == "B-1").explanation
    assert explanation.rule == AssignmentRule.MAINTENANCE_HORIZON
    assert [c.exclusion for c in explanation.candidates if c.machine_id == "M1"] == [
        ExclusionRule.MAINTENANCE_HORIZON
    ]


def test_work_after_the_window_end_may_use_the_machine_again() -> None:
    machines = [mill("M1", maintenance_window_start_s=50.0, maintenance_window_end_s=300.0)]
    jobs = [Job("A", 1000.0, (operation("A-1", 1, 100.0),))]

    assert slots(schedule(machines, jobs, 0.0)) == {"A-1": ("M1", 300.0, 400.0)}


def test_rul_horizon_without_window_makes_later_work_unschedulable() -> None:
    # RUL p10 of 150 s from now: A (0–100) fits, A's second step (100–200) does not.
    machines = [mill("M1", rul_p10_s=150.0, degradation_per_h=0.5)]
    jobs = [
        Job(
            "A",
            1000.0,
            (operation("A-1", 1, 100.0), operation("A-2", 2, 100.0), operation("A-3", 3, 5.0)),
        )
    ]

    plan = schedule(machines, jobs, 0.0)

    assert slots(plan) == {"A-1": ("M1", 0.0, 100.0)}
    reasons = {entry.operation_id: entry.reason for entry in plan.unschedulable}
    assert reasons == {
        "A-2": UnschedulableReason.NO_TIME_BEFORE_MAINTENANCE,
        "A-3": UnschedulableReason.JOB_BLOCKED,
    }
    assert "A" not in plan.job_end_s


def test_machine_available_from_and_job_release_are_respected() -> None:
    machines = [mill("M1", available_from_s=500.0)]
    jobs = [Job("A", 5000.0, (operation("A-1", 1, 100.0),), release_at_s=700.0)]

    assert slots(schedule(machines, jobs, 100.0)) == {"A-1": ("M1", 700.0, 800.0)}


def test_past_due_job_is_scheduled_first_and_flagged_late() -> None:
    machines = [mill("M1")]
    jobs = [
        Job("ON_TIME", 10_000.0, (operation("ON_TIME-1", 1, 100.0),)),
        Job("LATE", 900.0, (operation("LATE-1", 1, 100.0),)),
    ]

    plan = schedule(machines, jobs, 1000.0)

    assert [item.operation_id for item in plan.machine_sequences["M1"]] == ["LATE-1", "ON_TIME-1"]
    assert len(plan.late_jobs) == 1
    late = plan.late_jobs[0]
    assert (late.job_id, late.planned_end_s, late.lateness_s, late.is_past_due_at_now) == (
        "LATE",
        1100.0,
        200.0,
        True,
    )
    explanation = plan.machine_sequences["M1"][0].explanation
    assert explanation.time_remaining_s == -100.0
    assert explanation.critical_ratio == -1.0
    assert "job past due" in explanation.message


def test_late_job_prefers_the_earlier_finish() -> None:
    # TR = −100: the literal TR/TP would favour the slower machine; TR·TP/TP_min² does not.
    machines = [mill("SLOW", speed_factor=0.5), mill("FAST")]
    jobs = [Job("A", -100.0, (operation("A-1", 1, 100.0),))]

    assert next(schedule(machines, jobs, 0.0).operations()).machine_id == "FAST"


def test_job_planned_to_end_after_its_due_date_is_flagged() -> None:
    plan = schedule([mill("M1")], [Job("A", 50.0, (operation("A-1", 1, 100.0),))], 0.0)

    assert [(late.job_id, late.lateness_s, late.is_past_due_at_now) for late in plan.late_jobs] == [
        ("A", 50.0, False)
    ]


# ------------------------------------------------------------------ unschedulable input


def test_no_machine_with_the_capability() -> None:
    jobs = [Job("A", 100.0, (operation("A-1", 1, 10.0), Operation("A-2", "A", 2, "paint", 5.0)))]

    plan = schedule([mill("M1")], jobs, 0.0)

    assert plan.operation_count == 0
    assert [(e.operation_id, e.reason) for e in plan.unschedulable] == [
        ("A-2", UnschedulableReason.NO_ELIGIBLE_MACHINE),
        ("A-1", UnschedulableReason.JOB_BLOCKED),
    ]
    assert "no machine has capability 'paint'" in plan.unschedulable[0].message


def test_high_stress_operation_with_only_anomalous_machines_is_unschedulable() -> None:
    jobs = [Job("A", 100.0, (operation("A-1", 1, 10.0, force_kn=11.0),))]

    plan = schedule([mill("M1", anomaly_score=0.95)], jobs, 0.0)

    assert plan.operation_count == 0
    assert plan.unschedulable[0].reason == UnschedulableReason.NO_ELIGIBLE_MACHINE
    assert "in anomaly" in plan.unschedulable[0].message


@pytest.mark.parametrize(
    ("operations", "precedence", "reason", "culprit"),
    [
        ((("A-1", 1), ("A-2", 1)), (), UnschedulableReason.DUPLICATE_SEQUENCE, "A-2"),
        ((("A-1", 1), ("A-3", 3)), (), UnschedulableReason.GAPPED_SEQUENCE, "A-3"),
        (
            (("A-1", 1), ("A-2", 2), ("A-3", 3)),
            (("A-1", "A-2"), ("A-2", "A-3"), ("A-3", "A-1")),
            UnschedulableReason.CYCLIC_ROUTING,
            "A-1",
        ),
        ((("A-1", 1),), (("A-1", "A-1"),), UnschedulableReason.CYCLIC_ROUTING, "A-1"),
        (
            (("A-1", 1), ("A-2", 2)),
            (("A-1", "A-9"),),
            UnschedulableReason.MISSING_ROUTING_STEP,
            "A-9",
        ),
    ],
)
def test_bad_routing_is_reported_not_scheduled(
    operations: tuple[tuple[str, int], ...],
    precedence: tuple[tuple[str, str], ...],
    reason: UnschedulableReason,
    culprit: str,
) -> None:
    job = Job(
        "A",
        100.0,
        tuple(operation(name, seq, 10.0) for name, seq in operations),
        precedence=precedence,
    )
    healthy = Job("B", 100.0, (operation("B-1", 1, 10.0),))

    plan = schedule([mill("M1")], [job, healthy], 0.0)

    assert [item.operation_id for item in plan.operations()] == ["B-1"]
    assert plan.unschedulable[0].reason == reason
    assert plan.unschedulable[0].operation_id == culprit
    listed = {entry.operation_id for entry in plan.unschedulable if entry.job_id == "A"}
    assert {name for name, _ in operations} <= listed


def test_sequence_numbers_need_not_start_at_one() -> None:
    job = Job("A", 100.0, (operation("A-5", 5, 10.0), operation("A-6", 6, 10.0)))

    assert slots(schedule([mill("M1")], [job], 0.0)) == {
        "A-5": ("M1", 0.0, 10.0),
        "A-6": ("M1", 10.0, 20.0),
    }


@pytest.mark.parametrize("duration_s", [0.0, -5.0])
def test_non_positive_duration_is_unschedulable(duration_s: float) -> None:
    plan = schedule([mill("M1")], [Job("A", 100.0, (operation("A-1", 1, duration_s),))], 0.0)

    assert plan.operation_count == 0
    assert plan.unschedulable[0].reason == UnschedulableReason.NON_POSITIVE_DURATION


def test_non_positive_machine_specific_duration_is_unschedulable() -> None:
    bad = Operation("A-1", "A", 1, "mill", 10.0, machine_durations_s={"M1": 0.0})
    plan = schedule([mill("M1")], [Job("A", 100.0, (bad,))], 0.0)

    assert plan.unschedulable[0].reason == UnschedulableReason.NON_POSITIVE_DURATION


def test_machine_specific_duration_overrides_speed_factor() -> None:
    special = Operation("A-1", "A", 1, "mill", 100.0, machine_durations_s={"M1": 30.0})
    plan = schedule([mill("M1", speed_factor=0.1)], [Job("A", 1000.0, (special,))], 0.0)

    assert slots(plan) == {"A-1": ("M1", 0.0, 30.0)}


def test_precedence_edges_allow_parallel_branches() -> None:
    # A-1 → → A-3: the two branches run in parallel on two machines.
    job = Job(
        "A",
        1000.0,
        (operation("A-1", 1, 10.0), operation("A-2", 2, 50.0), operation("A-3", 3, 50.0)),
        precedence=(("A-1", "A-2"), ("A-1", "A-3")),
    )

    placed = slots(schedule([mill("M1"), mill("M2")], [job], 0.0))

    assert placed["A-1"][1:] == (0.0, 10.0)
    assert {placed["A-2"][1:], placed["A-3"][1:]} == {(10.0, 60.0)}
    assert placed["A-2"][0] != placed["A-3"][0]


@pytest.mark.parametrize(
    ("machines", "jobs", "message"),
    [
        ([mill("M1"), mill("M1")], [], "duplicate machine id"),
        ([mill("M1", anomaly_score=1.5)], [], "anomaly_score must lie in [0, 1]"),
        ([mill("M1", degradation_per_h=-1.0)], [], "degradation_per_h must be ≥ 0"),
        ([mill("M1", speed_factor=0.0)], [], "speed_factor must be > 0"),
        ([mill("M1", bottleneck_weight=math.nan)], [], "must be a finite number"),
        ([mill("M1", maintenance_window_end_s=5.0)], [], "needs a window start"),
        (
            [mill("M1")],
            [Job("A", 1.0, (operation("A-1", 1, 1.0),)), Job("A", 1.0, ())],
            "duplicate job id",
        ),
        ([mill("M1")], [Job("A", 1.0, (operation("B-1", 1, 1.0),))], "names job 'B'"),
        ([mill("M1")], [Job("A", math.inf, (operation("A-1", 1, 1.0),))], "due_at_s"),
        ([mill("M1")], [Job("A", 1.0, (operation("A-1", 1, math.nan),))], "duration"),
    ],
)
def test_malformed_input_is_refused(machines: list[Machine], jobs: list[Job], message: str) -> None:
    with pytest.raises(SchedulingInputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        schedule(machines, jobs, 0.0)


def test_scheduling_input_error_is_a_value_error() -> None:
    assert issubclass(SchedulingInputError, ValueError)


# ------------------------------------------------------------------ plan changes


def test_diff_reports_moved_resequenced_retimed_and_removed() -> None:
    new = schedule([mill("M1"), mill("M2", speed_factor=0.5)], three_jobs(), 0.0)
    # New plan: M1 J2-1 0–200, J3-1 200–500, J3-2 500–600; M2 J1-1 0–200.
    current = [
        PlannedSlot("J3-1", "J3", "M1", 0.0, 300.0),
        PlannedSlot("J2-1", "J2", "M1", 300.0, 500.0),
        PlannedSlot("J3-2", "J3", "M1", 550.0, 650.0),
        PlannedSlot("J1-1", "J1", "M1", 650.0, 750.0),
        PlannedSlot("J9-1", "J9", "M2", 0.0, 50.0),
    ]

    changes = {change.operation_id: change for change in diff_plans(current, new)}

    assert {key: change.kind for key, change in changes.items()} == {
        "J3-1": ChangeKind.RESEQUENCED,
        "J2-1": ChangeKind.RESEQUENCED,
        "J3-2": ChangeKind.RETIMED,
        "J1-1": ChangeKind.MOVED_MACHINE,
        "J9-1": ChangeKind.REMOVED,
    }
    moved = changes["J1-1"]
    assert (moved.old_machine_id, moved.new_machine_id, moved.old_start_s, moved.new_start_s) == (
        "M1",
        "M2",
        650.0,
        0.0,
    )
    assert moved.explanation.priority == pytest.approx(5.0)
    assert moved.explanation.time_remaining_s == 1000.0
    assert moved.message.startswith("J1-1 moved from M1 to M2.")
    assert changes["J9-1"].explanation.rule == "not_in_new_plan"


def test_diff_of_identical_plans_is_empty_and_new_work_is_added() -> None:
    plan = schedule([mill("M1"), mill("M2", speed_factor=0.5)], three_jobs(), 0.0)

    assert diff_plans(plan, plan) == ()
    partial = [slot for slot in plan.operations() if slot.operation_id != "J1-1"]
    changes = diff_plans(partial, plan)
    assert [(change.operation_id, change.kind) for change in changes] == [
        ("J1-1", ChangeKind.ADDED)
    ]


def test_diff_after_a_machine_enters_anomaly_explains_the_move() -> None:
    jobs = [Job("A", 1000.0, (operation("A-1", 1, 100.0, force_kn=15.0),))]
    before = schedule([mill("M1", speed_factor=0.5), mill("M2")], jobs, 0.0)
    after = schedule([mill("M1", speed_factor=0.5), mill("M2", anomaly_score=0.9)], jobs, 0.0)

    (change,) = diff_plans(before, after)

    assert change.kind == ChangeKind.MOVED_MACHINE
    assert (change.old_machine_id, change.new_machine_id) == ("M2", "M1")
    assert change.explanation.rule == AssignmentRule.HIGH_STRESS_ANOMALY


def test_diff_marks_newly_unschedulable_work_as_removed_with_its_reason() -> None:
    jobs = [Job("A", 1000.0, (operation("A-1", 1, 100.0, force_kn=15.0),))]
    before = schedule([mill("M1")], jobs, 0.0)
    after = schedule([mill("M1", is_anomaly_flagged=True)], jobs, 0.0)

    (change,) = diff_plans(before, after)

    assert change.kind == ChangeKind.REMOVED
    assert change.explanation.rule == UnschedulableReason.NO_ELIGIBLE_MACHINE


# ------------------------------------------------------------------ improvement step

# ft06 (Fisher & Thompson 1963), optimum makespan 55: machines and durations per job.
FT06_MACHINES = (
    (2, 0, 1, 3, 5, 4),
    (1, 2, 4, 5, 0, 3),
    (2, 3, 5, 0, 1, 4),
    (1, 0, 2, 3, 4, 5),
    (2, 1, 4, 5, 0, 3),
    (1, 3, 5, 0, 4, 2),
)
FT06_DURATIONS = (
    (1, 3, 6, 7, 3, 6),
    (8, 5, 10, 10, 10, 4),
    (5, 4, 8, 9, 1, 7),
    (5, 5, 5, 3, 8, 9),
    (9, 3, 5, 4, 3, 1),
    (3, 3, 9, 10, 4, 1),
)


def ft06() -> tuple[list[Machine], list[Job]]:
    machines = [Machine(f"M{index}", frozenset({f"m{index}"})) for index in range(6)]
    jobs = []
    for job_index in range(6):
        job_id = f"J{job_index}"
        jobs.append(
            Job(
                job_id,
                1e9,
                tuple(
                    Operation(f"{job_id}-{step}", job_id, step, f"m{machine}", float(duration))
                    for step, (machine, duration) in enumerate(
                        zip(FT06_MACHINES[job_index], FT06_DURATIONS[job_index], strict=True)
                    )
                ),
            )
        )
    return machines, jobs


def test_improvement_reaches_the_ft06_optimum_and_is_deterministic() -> None:
    machines, jobs = ft06()
    plan = schedule(machines, jobs, 0.0)
    config = ImprovementConfig(seed=3, max_iterations=2000)

    first = improve_plan(plan, machines, jobs, config=config)
    second = improve_plan(plan, machines, jobs, config=config)

    assert plan.end_s == 67.0
    assert first.initial_objective_s == 67.0
    assert first.objective_s == 55.0
    assert first.plan.end_s == 55.0
    assert slots(first.plan) == slots(second.plan)
    _assert_valid(first.plan, machines, jobs, SchedulerConfig())
    resequenced = [
        item for item in first.plan.operations() if item.explanation.sequencing == "local_search"
    ]
    assert resequenced
    assert "resequenced by local search" in resequenced[0].explanation.message


def test_improvement_with_zero_iterations_returns_an_equivalent_plan() -> None:
    machines, jobs = ft06()
    plan = schedule(machines, jobs, 0.0)

    result = improve_plan(plan, machines, jobs, config=ImprovementConfig(max_iterations=0))

    assert result.objective_s == result.initial_objective_s == 67.0
    assert result.iterations == 0


def test_schedule_with_improvement_uses_the_improved_plan() -> None:
    machines, jobs = ft06()

    plan = schedule(machines, jobs, 0.0, improvement=ImprovementConfig(seed=3, max_iterations=2000))

    assert plan.end_s == 55.0


def test_improvement_config_is_validated() -> None:
    with pytest.raises(SchedulingInputError, match="objective"):
        ImprovementConfig(objective="tardiness")
    with pytest.raises(SchedulingInputError, match="tabu_tenure"):
        ImprovementConfig(tabu_tenure_min=5, tabu_tenure_max=2)


# ------------------------------------------------------------------ properties


def _block(machine: Machine, now_s: float) -> tuple[float, float]:
    start = math.inf
    if machine.maintenance_window_start_s is not None:
        start = machine.maintenance_window_start_s
    if machine.rul_p10_s is not None:
        start = min(start, now_s + machine.rul_p10_s)
    if start == math.inf:
        return math.inf, math.inf
    end = (
        machine.maintenance_window_end_s
        if machine.maintenance_window_end_s is not None
        else math.inf
    )
    return start, end


def _assert_valid(
    plan: Plan, machines: list[Machine], jobs: list[Job], config: SchedulerConfig
) -> None:
    by_machine = {machine.id: machine for machine in machines}
    operations = {op.id: op for job in jobs for op in job.operations}
    job_by_id = {job.id: job for job in jobs}
    placed = {item.operation_id: item for item in plan.operations()}
    unschedulable = [entry.operation_id for entry in plan.unschedulable]
    # Every operation is either placed or reported, exactly once.
    assert len(unschedulable) == len(set(unschedulable))
    assert set(placed).isdisjoint(unschedulable)
    assert set(placed) | set(unschedulable) == set(operations)
    for machine_id, sequence in plan.machine_sequences.items():
        machine = by_machine[machine_id]
        block_start, block_end = _block(machine, plan.now_s)
        for before, after in itertools.pairwise(sequence):
            assert before.end_s <= after.start_s + 1e-6, "machine runs two operations at once"
        for item in sequence:
            op = operations[item.operation_id]
            assert op.capability in machine.capabilities
            assert item.end_s - item.start_s == pytest.approx(op.duration_on(machine))
            assert item.start_s >= max(plan.now_s, machine.available_from_s) - 1e-6
            if machine.is_in_anomaly(config.anomaly_threshold):
                assert op.force_kn <= machine.stress_limit_kn, (
                    "high-stress work on an anomalous machine"
                )
            assert item.end_s <= block_start + 1e-6 or item.start_s >= block_end - 1e-6
    for job in jobs:
        ordered = sorted(job.operations, key=lambda op: op.sequence)
        previous_end = None
        for op in ordered:
            item = placed.get(op.id)
            if item is None:
                previous_end = math.inf  # nothing after an unplaced step may be placed
                continue
            assert item.start_s >= job_by_id[job.id].release_at_s - 1e-6
            if previous_end is not None:
                assert item.start_s >= previous_end - 1e-6, "routing precedence broken"
            previous_end = item.end_s


@st.composite
def shop(draw: st.DrawFn) -> tuple[list[Machine], list[Job]]:
    capabilities = ("mill", "lathe")
    machines = []
    for index in range(draw(st.integers(1, 4))):
        window_start: float | None = None
        window_end: float | None = None
        if draw(st.booleans()):
            window_start = draw(st.floats(0, 400))
            if draw(st.booleans()):
                window_end = window_start + draw(st.floats(0, 300))
        machines.append(
            Machine(
                f"M{index}",
                frozenset(draw(st.sets(st.sampled_from(capabilities), min_size=1))),
                stress_limit_kn=draw(st.sampled_from([5.0, 10.0])),
                bottleneck_weight=draw(st.floats(0, 3)),
                anomaly_score=draw(st.floats(0, 1)),
                degradation_per_h=draw(st.floats(0, 2)),
                is_anomaly_flagged=draw(st.booleans()),
                maintenance_window_start_s=window_start,
                maintenance_window_end_s=window_end,
                rul_p10_s=draw(st.none() | st.floats(0, 600)),
                available_from_s=draw(st.floats(0, 100)),
                speed_factor=draw(st.floats(0.5, 2.0)),
            )
        )
    jobs = []
    for job_index in range(draw(st.integers(1, 6))):
        job_id = f"J{job_index}"
        operations = tuple(
            Operation(
                f"{job_id}-{step}",
                job_id,
                step,
                draw(st.sampled_from(capabilities)),
                draw(st.floats(1, 120)),
                force_kn=draw(st.floats(0, 15)),
            )
            for step in range(draw(st.integers(1, 4)))
        )
        jobs.append(
            Job(
                job_id,
                draw(st.floats(-200, 3000)),
                operations,
                release_at_s=draw(st.floats(0, 200)),
            )
        )
    return machines, jobs


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shop())
def test_property_plan_respects_machines_precedence_and_hard_rules(
    instance: tuple[list[Machine], list[Job]],
) -> None:
    machines, jobs = instance
    plan = schedule(machines, jobs, 0.0)

    _assert_valid(plan, machines, jobs, SchedulerConfig())
    for job in jobs:
        planned_end = plan.job_end_s.get(job.id)
        is_late = any(late.job_id == job.id for late in plan.late_jobs)
        if planned_end is not None:
            assert is_late == (planned_end > job.due_at_s + 1e-9 or job.due_at_s < 0.0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shop(), st.integers(0, 3), st.sampled_from(["makespan", "max_lateness"]))
def test_property_improvement_keeps_the_rules_and_never_worsens(
    instance: tuple[list[Machine], list[Job]], seed: int, objective: str
) -> None:
    machines, jobs = instance
    plan = schedule(machines, jobs, 0.0)

    result = improve_plan(
        plan,
        machines,
        jobs,
        config=ImprovementConfig(seed=seed, max_iterations=60, objective=objective),
    )

    _assert_valid(result.plan, machines, jobs, SchedulerConfig())
    assert result.objective_s <= result.initial_objective_s + 1e-6
    assert {item.operation_id: item.machine_id for item in result.plan.operations()} == {
        item.operation_id: item.machine_id for item in plan.operations()
    }
