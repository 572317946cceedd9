"""State timeline → ISO 22400 time elements, and the open-period accumulator."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from production.algorithms.oee import IsoTimeElement, OeeElements, compute_kpis
from production.algorithms.timeline import (
    EquipmentState,
    LateEventError,
    NeedsReasonInterval,
    OpenPeriodAccumulator,
    StateInterval,
    StateIntervalArrays,
    compute_time_elements,
    compute_time_elements_arrays,
)

PRODUCING = EquipmentState.PRODUCING
SETUP = EquipmentState.SETUP
DOWN = EquipmentState.DOWN
IDLE = EquipmentState.IDLE
STARVED = EquipmentState.STARVED
ADET = IsoTimeElement.ADET

# 2026-06-16 06:00 Europe/Berlin (CEST) = 04:00 UTC: the start of the worked-example shift.
SHIFT_START_S = datetime(2026, 6, 16, 4, 0, tzinfo=UTC).timestamp()
SHIFT_END_S = SHIFT_START_S + 8 * 3600


def local(hour: int, minute: int, second: int = 0) -> float:
    """Epoch seconds of a plant-local time on the worked-example day."""
    return SHIFT_START_S + (hour - 6) * 3600 + minute * 60 + second


BREAKS = [(local(9, 0), local(9, 15)), (local(12, 0), local(12, 30))]


def worked_example_intervals() -> list[StateInterval]:
    return [
        StateInterval(local(6, 0), local(6, 30), SETUP),
        StateInterval(local(6, 30), local(8, 0), PRODUCING),
        StateInterval(local(8, 0), local(8, 1), DOWN),  # 60 s, no reason: minor stop
        StateInterval(local(8, 1), local(9, 0), PRODUCING),
        StateInterval(local(9, 0), local(9, 15), IDLE),  # during the break: PDOT
        StateInterval(local(9, 15), local(10, 0), PRODUCING),
        StateInterval(local(10, 0), local(10, 45), DOWN, ADET),  # breakdown with a reason
        StateInterval(local(10, 45), local(10, 46, 30), DOWN),  # 90 s: minor stop
        StateInterval(local(10, 46, 30), local(12, 5), PRODUCING),  # runs 5 min into the break
        StateInterval(local(12, 5), local(12, 30), IDLE),
        StateInterval(local(12, 30), local(13, 0), DOWN),  # 30 min, no reason: needs reason
        StateInterval(local(13, 0), local(13, 40), PRODUCING),
        StateInterval(local(13, 40), local(13, 50), STARVED),
        # 13:50–14:00: no data
    ]


def test_worked_example_eight_hour_shift() -> None:
    result = compute_time_elements(
        worked_example_intervals(),
        period_start_s=SHIFT_START_S,
        period_end_s=SHIFT_END_S,
        planned_down_windows=BREAKS,
    )

    assert result.elements == OeeElements(
        planned_operation_time_s=28_800,
        planned_down_time_s=2_700,  # 900 + 1 800 of breaks; production during a break is PDOT
        actual_production_time_s=18_450,  # 5 400 + 3 540 + 2 700 + 4 410 + 2 400
        actual_setup_time_s=1_800,
        actual_delay_time_s=4_650,  # 60 + 2 700 + 90 + 1 800
        actual_down_time_s=600,
        no_data_time_s=600,
        minor_stop_time_s=150,
        needs_reason_time_s=1_800,
    )
    assert result.needs_reason == (NeedsReasonInterval(start_s=local(12, 30), end_s=local(13, 0)),)
    assert result.minor_stop_count == 2
    assert result.elements.unaccounted_time_s == 0
    counts = OeeElements.from_counts(
        planned_run_time_per_unit_s=30,
        produced_quantity=580,
        good_quantity=560,
        scrap_quantity=12,
        rework_quantity=8,
    )
    kpis = compute_kpis(result.elements + counts)
    assert kpis.availability == 18_450 / 25_500
    assert kpis.oee == pytest.approx(56 / 85, rel=1e-12)


def test_input_order_does_not_matter() -> None:
    intervals = worked_example_intervals()

    in_order = compute_time_elements(
        intervals,
        period_start_s=SHIFT_START_S,
        period_end_s=SHIFT_END_S,
        planned_down_windows=BREAKS,
    )
    shuffled = compute_time_elements(
        intervals[::-1],
        period_start_s=SHIFT_START_S,
        period_end_s=SHIFT_END_S,
        planned_down_windows=BREAKS[::-1],
    )

    assert shuffled == in_order


def test_overlapping_intervals_are_rejected_with_both_named() -> None:
    intervals = [
        StateInterval(0, 100, PRODUCING),
        StateInterval(100, 200, DOWN),
        StateInterval(150, 300, IDLE),
    ]

    with pytest.raises(
        ValueError, match=r"overlap: #1 \[100\.0, 200\.0\) and #2 \[150\.0, 300\.0\)"
    ):
        compute_time_elements(intervals, period_start_s=0, period_end_s=300)


def test_reversed_interval_is_rejected_with_its_index() -> None:
    intervals = [StateInterval(0, 100, PRODUCING), StateInterval(300, 200, DOWN)]

    with pytest.raises(ValueError, match=r"#1 \[300\.0, 200\.0\) ends before it starts"):
        compute_time_elements(intervals, period_start_s=0, period_end_s=300)


def test_reversed_period_and_window_are_rejected() -> None:
    with pytest.raises(ValueError, match="period ends"):
        compute_time_elements([], period_start_s=10, period_end_s=0)
    with pytest.raises(ValueError, match="window #0 ends"):
        compute_time_elements([], period_start_s=0, period_end_s=10, planned_down_windows=[(5, 4)])


def test_unknown_state_is_rejected() -> None:
    interval = StateInterval(0, 10, "running")  # type: ignore[arg-type]

    with pytest.raises(ValueError, match="Unknown equipment state or ISO element 'running'"):
        compute_time_elements([interval], period_start_s=0, period_end_s=10)


def test_period_without_intervals_is_all_no_data_outside_planned_time() -> None:
    result = compute_time_elements(
        [], period_start_s=0, period_end_s=1_000, planned_down_windows=[(100, 300), (200, 400)]
    )

    assert result.elements == OeeElements(
        planned_operation_time_s=1_000, planned_down_time_s=300, no_data_time_s=700
    )
    assert result.needs_reason == ()
    assert compute_kpis(result.elements).availability is None


@pytest.mark.parametrize(
    ("state", "reason", "field"),
    [
        (PRODUCING, None, "actual_production_time_s"),
        (PRODUCING, ADET, "actual_production_time_s"),  # a reason on production is ignored
        (SETUP, None, "actual_setup_time_s"),
        (SETUP, IsoTimeElement.ADET, "actual_delay_time_s"),
        (DOWN, IsoTimeElement.ADOT, "actual_down_time_s"),
        (DOWN, IsoTimeElement.AUST, "actual_setup_time_s"),
        (DOWN, IsoTimeElement.PDOT, "planned_down_time_s"),
        (IDLE, None, "actual_down_time_s"),
        (EquipmentState.STARVED, None, "actual_down_time_s"),
        (EquipmentState.BLOCKED, None, "actual_down_time_s"),
        (IDLE, ADET, "actual_delay_time_s"),  # the operator's reason wins over the state
        (EquipmentState.PLANNED_STOP, None, "planned_down_time_s"),
        (EquipmentState.UNKNOWN, None, "no_data_time_s"),
        (EquipmentState.UNKNOWN, ADET, "no_data_time_s"),
    ],
)
def test_state_and_reason_map_to_one_element(
    state: EquipmentState, reason: IsoTimeElement | None, field: str
) -> None:
    result = compute_time_elements(
        [StateInterval(0, 600, state, reason)], period_start_s=0, period_end_s=600
    )

    expected = {"planned_operation_time_s": 600.0, field: 600.0}
    if field == "actual_delay_time_s":
        expected["needs_reason_time_s"] = 0.0
    assert result.elements == OeeElements(**expected)
    assert result.needs_reason == ()


@pytest.mark.parametrize(
    ("duration_s", "minor_s", "needs_reason_s"),
    [(119, 119, 0), (120, 0, 120), (121, 0, 121)],
)
def test_micro_stop_threshold_boundary(duration_s: int, minor_s: int, needs_reason_s: int) -> None:
    result = compute_time_elements(
        [StateInterval(0, duration_s, DOWN)], period_start_s=0, period_end_s=200
    )

    assert result.elements.actual_delay_time_s == duration_s
    assert result.elements.minor_stop_time_s == minor_s
    assert result.elements.needs_reason_time_s == needs_reason_s
    assert result.minor_stop_count == (1 if minor_s else 0)
    assert len(result.needs_reason) == (1 if needs_reason_s else 0)


def test_reason_coded_short_delay_is_a_minor_stop_but_needs_no_reason() -> None:
    result = compute_time_elements(
        [StateInterval(0, 60, DOWN, ADET), StateInterval(60, 600, DOWN, ADET)],
        period_start_s=0,
        period_end_s=600,
        micro_stop_threshold_s=30,
    )

    # One stop of 600 s (touching intervals with the same state and reason): a breakdown.
    assert result.elements.minor_stop_time_s == 0
    assert result.elements.needs_reason_time_s == 0
    assert result.needs_reason == ()


def test_stop_length_counts_outside_the_period() -> None:
    # 300 s of unexplained stop, only 100 s of it inside the period: still needs a reason.
    result = compute_time_elements(
        [StateInterval(-200, 100, DOWN), StateInterval(100, 1_000, PRODUCING)],
        period_start_s=0,
        period_end_s=1_000,
    )

    assert result.elements.actual_delay_time_s == 100
    assert result.elements.minor_stop_time_s == 0
    assert result.elements.needs_reason_time_s == 100
    assert result.needs_reason == (NeedsReasonInterval(start_s=-200, end_s=100),)


def test_touching_intervals_with_the_same_state_form_one_stop() -> None:
    result = compute_time_elements(
        [StateInterval(0, 60, DOWN), StateInterval(60, 120, DOWN), StateInterval(130, 160, DOWN)],
        period_start_s=0,
        period_end_s=200,
    )

    # 0–120 is one 120 s stop (needs a reason); 130–160 is a separate 30 s minor stop.
    assert result.elements.needs_reason_time_s == 120
    assert result.elements.minor_stop_time_s == 30
    assert result.minor_stop_count == 1
    assert result.needs_reason == (
        NeedsReasonInterval(start_s=0, end_s=60),
        NeedsReasonInterval(start_s=60, end_s=120),
    )
    assert result.elements.no_data_time_s == 50


def test_stop_entirely_inside_planned_time_is_not_listed() -> None:
    result = compute_time_elements(
        [StateInterval(100, 400, DOWN)],
        period_start_s=0,
        period_end_s=1_000,
        planned_down_windows=[(50, 500)],
    )

    assert result.needs_reason == ()
    assert result.elements.actual_delay_time_s == 0
    assert result.elements.planned_down_time_s == 450


def test_intervals_outside_the_period_are_ignored_and_zero_length_ones_skipped() -> None:
    result = compute_time_elements(
        [
            StateInterval(-500, -100, PRODUCING),
            StateInterval(50, 50, DOWN),
            StateInterval(0, 100, PRODUCING),
            StateInterval(100, 100, SETUP),
            StateInterval(2_000, 3_000, DOWN),
        ],
        period_start_s=0,
        period_end_s=1_000,
    )

    assert result.elements == OeeElements(
        planned_operation_time_s=1_000, actual_production_time_s=100, no_data_time_s=900
    )


def test_array_path_equals_object_path() -> None:
    intervals = worked_example_intervals()

    from_objects = compute_time_elements(
        intervals,
        period_start_s=SHIFT_START_S,
        period_end_s=SHIFT_END_S,
        planned_down_windows=BREAKS,
    )
    from_arrays = compute_time_elements_arrays(
        StateIntervalArrays.from_intervals(intervals),
        period_start_s=SHIFT_START_S,
        period_end_s=SHIFT_END_S,
        planned_down_windows=BREAKS,
    )

    assert from_arrays == from_objects


def test_planned_break_over_production_lowers_availability() -> None:
    # The documented consequence of "planned down time wins": APT lost in a break is PDOT.
    intervals = [StateInterval(0, 500, PRODUCING), StateInterval(500, 1_000, DOWN, ADET)]

    without_break = compute_time_elements(intervals, period_start_s=0, period_end_s=1_000)
    with_break = compute_time_elements(
        intervals, period_start_s=0, period_end_s=1_000, planned_down_windows=[(0, 200)]
    )

    assert compute_kpis(without_break.elements).availability == 0.5
    assert compute_kpis(with_break.elements).availability == 300 / 800


# ---------------------------------------------------------------- accumulator


def test_accumulator_follows_the_worked_example_event_by_event() -> None:
    accumulator = OpenPeriodAccumulator(
        period_start_s=SHIFT_START_S, period_end_s=SHIFT_END_S, planned_down_windows=BREAKS
    )
    intervals = worked_example_intervals()
    for interval in intervals:
        accumulator.apply(interval.start_s, interval.state, interval.reason_element)
    accumulator.apply(local(13, 50), EquipmentState.UNKNOWN)

    at_end = accumulator.snapshot(SHIFT_END_S)
    full = compute_time_elements(
        intervals,
        period_start_s=SHIFT_START_S,
        period_end_s=SHIFT_END_S,
        planned_down_windows=BREAKS,
    )

    assert at_end == full


def test_accumulator_snapshot_of_an_open_stop_changes_class_past_the_threshold() -> None:
    accumulator = OpenPeriodAccumulator(period_start_s=0, period_end_s=3_600)
    accumulator.apply(0, PRODUCING)
    accumulator.apply(1_000, DOWN)

    early = accumulator.snapshot(1_100)
    late = accumulator.snapshot(1_300)

    assert early.elements.minor_stop_time_s == 100
    assert early.elements.needs_reason_time_s == 0
    assert early.elements.planned_operation_time_s == 1_100
    assert late.elements.minor_stop_time_s == 0
    assert late.elements.needs_reason_time_s == 300
    assert late.needs_reason == (NeedsReasonInterval(start_s=1_000, end_s=1_300),)
    # Snapshots do not change the accumulator.
    assert accumulator.snapshot(1_100) == early


def test_accumulator_rejects_a_late_event_and_keeps_its_state() -> None:
    accumulator = OpenPeriodAccumulator(period_start_s=0, period_end_s=3_600)
    accumulator.apply(0, PRODUCING)
    accumulator.apply(500, DOWN)
    before = accumulator.snapshot(600)

    with pytest.raises(LateEventError) as raised:
        accumulator.apply(499, PRODUCING)

    assert raised.value.event_s == 499
    assert raised.value.last_event_s == 500
    assert isinstance(raised.value, ValueError)
    assert accumulator.snapshot(600) == before
    assert accumulator.last_event_s == 500
    with pytest.raises(ValueError, match="before the last state change"):
        accumulator.snapshot(499)


def test_accumulator_repeated_state_continues_the_same_stop() -> None:
    accumulator = OpenPeriodAccumulator(period_start_s=0, period_end_s=1_000)
    accumulator.apply(0, DOWN)
    accumulator.apply(100, DOWN)  # a repeated event, not a new stop
    accumulator.apply(200, PRODUCING)

    result = accumulator.snapshot(1_000)

    assert result.elements.needs_reason_time_s == 200
    assert result.elements.minor_stop_time_s == 0
    assert result.needs_reason == (NeedsReasonInterval(start_s=0, end_s=200),)


def test_accumulator_initial_state_since_before_the_period() -> None:
    accumulator = OpenPeriodAccumulator(
        period_start_s=1_000,
        period_end_s=2_000,
        initial_state=DOWN,
        initial_state_since_s=900,
    )
    accumulator.apply(1_050, PRODUCING)

    result = accumulator.snapshot(2_000)

    # A 150 s stop, 50 s of it in the period: it needs a reason.
    assert result.elements.needs_reason_time_s == 50
    assert result.elements.actual_production_time_s == 950
    assert result.elements.no_data_time_s == 0


def test_accumulator_without_initial_state_starts_with_no_data() -> None:
    accumulator = OpenPeriodAccumulator(period_start_s=0, period_end_s=1_000)
    accumulator.apply(300, PRODUCING)

    result = accumulator.snapshot(1_000)

    assert result.elements.no_data_time_s == 300
    assert result.elements.actual_production_time_s == 700


def test_accumulator_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="need initial_state"):
        OpenPeriodAccumulator(period_start_s=0, period_end_s=10, initial_state_since_s=0)
    with pytest.raises(ValueError, match="must not be after the period start"):
        OpenPeriodAccumulator(
            period_start_s=0, period_end_s=10, initial_state=DOWN, initial_state_since_s=5
        )
    accumulator = OpenPeriodAccumulator(period_start_s=0, period_end_s=10)
    with pytest.raises(ValueError, match="Unknown equipment state 'running'"):
        accumulator.apply(1, "running")
    assert accumulator.last_event_s == float("-inf")


# ---------------------------------------------------------------- properties

BASE_S = 1_780_000_000
STATES = list(EquipmentState)
REASONS: list[IsoTimeElement | None] = [None, *IsoTimeElement]


@st.composite
def timelines(
    draw: st.DrawFn,
) -> tuple[list[StateInterval], float, float, list[tuple[float, float]]]:
    """Non-overlapping intervals (integer seconds, so every sum is exact), a period, windows."""
    time_s = BASE_S + draw(st.integers(0, 300))
    intervals = []
    for _ in range(draw(st.integers(0, 25))):
        time_s += draw(st.sampled_from([0, 0, 0, 5, 60, 200]))  # mostly touching
        duration_s = draw(st.integers(1, 600))
        intervals.append(
            StateInterval(
                float(time_s),
                float(time_s + duration_s),
                draw(st.sampled_from(STATES)),
                draw(st.sampled_from(REASONS)),
            )
        )
        time_s += duration_s
    period_start_s = float(BASE_S + draw(st.integers(0, 2_000)))
    period_end_s = period_start_s + draw(st.integers(0, 8_000))
    windows = [
        (float(BASE_S + start), float(BASE_S + start + length))
        for start, length in draw(
            st.lists(st.tuples(st.integers(-500, 9_000), st.integers(0, 1_500)), max_size=4)
        )
    ]
    return intervals, period_start_s, period_end_s, windows


@settings(deadline=None, max_examples=150)
@given(timelines(), st.floats(0, 1))
def test_splitting_a_period_sums_to_the_whole(
    timeline: tuple[list[StateInterval], float, float, list[tuple[float, float]]],
    split_fraction: float,
) -> None:
    intervals, period_start_s, period_end_s, windows = timeline
    split_s = float(round(period_start_s + split_fraction * (period_end_s - period_start_s)))

    whole = compute_time_elements(
        intervals,
        period_start_s=period_start_s,
        period_end_s=period_end_s,
        planned_down_windows=windows,
    )
    first = compute_time_elements(
        intervals, period_start_s=period_start_s, period_end_s=split_s, planned_down_windows=windows
    )
    second = compute_time_elements(
        intervals, period_start_s=split_s, period_end_s=period_end_s, planned_down_windows=windows
    )

    assert first.elements + second.elements == whole.elements
    assert compute_kpis(first.elements + second.elements) == compute_kpis(whole.elements)
    assert set(first.needs_reason) | set(second.needs_reason) == set(whole.needs_reason)
    assert whole.elements.unaccounted_time_s == 0


@settings(deadline=None, max_examples=150)
@given(timelines(), st.data())
def test_planned_time_over_non_producing_time_never_lowers_availability(
    timeline: tuple[list[StateInterval], float, float, list[tuple[float, float]]],
    data: st.DataObject,
) -> None:
    intervals, period_start_s, period_end_s, windows = timeline
    non_producing = [interval for interval in intervals if interval.state != PRODUCING]
    assume(non_producing)
    target = data.draw(st.sampled_from(non_producing))
    length_s = target.end_s - target.start_s
    offset_s = data.draw(st.integers(0, int(length_s)))
    extra_s = data.draw(st.integers(0, int(length_s) - offset_s))
    extra_window = (target.start_s + offset_s, target.start_s + offset_s + extra_s)

    before = compute_time_elements(
        intervals,
        period_start_s=period_start_s,
        period_end_s=period_end_s,
        planned_down_windows=windows,
    )
    after = compute_time_elements(
        intervals,
        period_start_s=period_start_s,
        period_end_s=period_end_s,
        planned_down_windows=[*windows, extra_window],
    )

    availability_before = compute_kpis(before.elements).availability
    availability_after = compute_kpis(after.elements).availability
    assert after.elements.planned_down_time_s >= before.elements.planned_down_time_s
    assert after.elements.actual_production_time_s == before.elements.actual_production_time_s
    if availability_before is not None and availability_after is not None:
        assert availability_after >= availability_before
    if availability_after is not None:
        assert 0.0 <= availability_after <= 1.0


@st.composite
def event_streams(
    draw: st.DrawFn,
) -> tuple[list[tuple[float, EquipmentState, IsoTimeElement | None]], float, float, float]:
    time_s = BASE_S + draw(st.integers(-300, 600))
    events = []
    for _ in range(draw(st.integers(0, 30))):
        events.append(
            (float(time_s), draw(st.sampled_from(STATES)), draw(st.sampled_from(REASONS)))
        )
        time_s += draw(st.sampled_from([1, 30, 90, 119, 120, 500]))
    period_start_s = float(BASE_S)
    period_end_s = period_start_s + draw(st.integers(0, 6_000))
    now_s = float(max(time_s, BASE_S) + draw(st.integers(0, 3_000)))
    return events, period_start_s, period_end_s, now_s


def intervals_from_events(
    events: list[tuple[float, EquipmentState, IsoTimeElement | None]], now_s: float
) -> list[StateInterval]:
    changes: list[tuple[float, EquipmentState, IsoTimeElement | None]] = []
    for event in events:
        if changes and (changes[-1][1], changes[-1][2]) == (event[1], event[2]):
            continue  # a repeated state continues the stop
        changes.append(event)
    if not changes:
        return []
    ends = [change[0] for change in changes[1:]] + [now_s]
    return [
        StateInterval(start_s, end_s, state, reason)
        for (start_s, state, reason), end_s in zip(changes, ends, strict=True)
    ]


@settings(deadline=None, max_examples=200)
@given(
    event_streams(), st.lists(st.tuples(st.integers(-100, 6_000), st.integers(0, 900)), max_size=3)
)
def test_accumulator_equals_full_recompute(
    stream: tuple[list[tuple[float, EquipmentState, IsoTimeElement | None]], float, float, float],
    raw_windows: list[tuple[int, int]],
) -> None:
    events, period_start_s, period_end_s, now_s = stream
    windows = [
        (float(BASE_S + start), float(BASE_S + start + length)) for start, length in raw_windows
    ]
    accumulator = OpenPeriodAccumulator(
        period_start_s=period_start_s, period_end_s=period_end_s, planned_down_windows=windows
    )
    for ts_s, state, reason in events:
        accumulator.apply(ts_s, state, reason)

    incremental = accumulator.snapshot(now_s)
    full = compute_time_elements(
        intervals_from_events(events, now_s),
        period_start_s=period_start_s,
        period_end_s=min(max(now_s, period_start_s), period_end_s),
        planned_down_windows=windows,
    )

    assert incremental == full


@settings(deadline=None)
@given(
    st.integers(0, 1_000),
    st.integers(1, 500),
    st.integers(1, 499),
    st.integers(1, 500),
)
def test_overlapping_intervals_are_always_rejected(
    start_s: int, length_s: int, shift_s: int, second_length_s: int
) -> None:
    assume(shift_s < length_s)
    first = StateInterval(start_s, start_s + length_s, PRODUCING)
    second = StateInterval(start_s + shift_s, start_s + shift_s + second_length_s, DOWN)

    with pytest.raises(ValueError, match="State intervals overlap"):
        compute_time_elements([second, first], period_start_s=0, period_end_s=3_000)
