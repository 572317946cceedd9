"""Tests of the per-line order state machine (pure transitions)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planning.algorithms.line_order import (
    TRANSITIONS,
    LineOrderEvent,
    LineOrderEventKind,
    LineOrderStage,
    LineOrderState,
    OrderFinishedError,
    StaleEventError,
    TransitionNotAllowedError,
    advance,
    allowed_events,
    start_state,
)

Kind = LineOrderEventKind
Stage = LineOrderStage

HAPPY_PATH = (
    (Kind.ORDER_STARTED, Stage.LOCATING_PARTS),
    (Kind.PARTS_LOCATED, Stage.CLASSIFYING_PARTS),
    (Kind.PARTS_CLASSIFIED, Stage.DISTRIBUTING_PALLET),
    (Kind.PALLET_DISTRIBUTED, Stage.MACHINING),
    (Kind.MACHINING_DONE, Stage.QUALITY_CONTROL),
    (Kind.QUALITY_PASSED, Stage.STORAGE),
    (Kind.STORED, Stage.UPDATING_STOCK),
    (Kind.STOCK_UPDATED, Stage.COMPLETE),
)


def run(state: LineOrderState, kinds: list[Kind], start_s: float = 1.0) -> LineOrderState:
    for offset, kind in enumerate(kinds):
        state = advance(state, LineOrderEvent(kind, start_s + offset, station_id=f"S-{kind.value}"))
    return state


def test_happy_path_visits_every_stage_in_order() -> None:
    state = start_state("O1", "line1", 0.0)
    visited = [state.stage]

    for offset, (kind, expected) in enumerate(HAPPY_PATH):
        previous = state
        state = advance(state, LineOrderEvent(kind, 10.0 + offset, station_id="ST1"))
        visited.append(state.stage)
        assert state.stage == expected
        assert previous.stage != expected  # the input state is not changed

    assert visited[0] == Stage.NEW
    assert state.is_final
    assert (state.order_id, state.line_id, state.updated_at_s, state.rework_count) == (
        "O1",
        "line1",
        17.0,
        0,
    )
    assert state.last_station_id == "ST1"


def test_failed_quality_control_goes_back_to_machining_and_counts_rework() -> None:
    state = run(
        start_state("O1", "line1", 0.0),
        [Kind.ORDER_STARTED, Kind.PARTS_LOCATED, Kind.PARTS_CLASSIFIED, Kind.PALLET_DISTRIBUTED],
    )
    state = run(state, [Kind.MACHINING_DONE, Kind.QUALITY_FAILED], start_s=10.0)

    assert state.stage == Stage.MACHINING
    assert state.rework_count == 1

    state = run(
        state,
        [Kind.MACHINING_DONE, Kind.QUALITY_FAILED, Kind.MACHINING_DONE, Kind.QUALITY_PASSED],
        start_s=20.0,
    )
    assert state.stage == Stage.STORAGE
    assert state.rework_count == 2
    state = run(state, [Kind.STORED, Kind.STOCK_UPDATED], start_s=30.0)
    assert state.stage == Stage.COMPLETE
    assert state.rework_count == 2


@pytest.mark.parametrize(
    ("kinds", "refused"),
    [
        ([], Kind.PARTS_LOCATED),
        ([], Kind.QUALITY_PASSED),
        ([Kind.ORDER_STARTED], Kind.MACHINING_DONE),
        ([Kind.ORDER_STARTED], Kind.ORDER_STARTED),
        ([Kind.ORDER_STARTED, Kind.PARTS_LOCATED], Kind.PALLET_DISTRIBUTED),
        (
            [
                Kind.ORDER_STARTED,
                Kind.PARTS_LOCATED,
                Kind.PARTS_CLASSIFIED,
                Kind.PALLET_DISTRIBUTED,
            ],
            Kind.QUALITY_FAILED,
        ),
        (
            [
                Kind.ORDER_STARTED,
                Kind.PARTS_LOCATED,
                Kind.PARTS_CLASSIFIED,
                Kind.PALLET_DISTRIBUTED,
                Kind.MACHINING_DONE,
            ],
            Kind.STORED,
        ),
    ],
)
def test_events_out_of_place_are_refused_with_what_was_allowed(
    kinds: list[Kind], refused: Kind
) -> None:
    state = run(start_state("O7", "line2", 0.0), kinds)

    with pytest.raises(TransitionNotAllowedError) as caught:
        advance(state, LineOrderEvent(refused, 100.0))

    error = caught.value
    assert (error.stage, error.event_kind) == (state.stage, refused)
    assert error.allowed == allowed_events(state.stage)
    assert f"event {refused.value!r} is not allowed in stage {state.stage.value!r}" in str(error)
    assert "cancelled" in str(error)


def test_cancel_is_allowed_before_completion_only() -> None:
    in_machining = run(
        start_state("O1", "line1", 0.0),
        [Kind.ORDER_STARTED, Kind.PARTS_LOCATED, Kind.PARTS_CLASSIFIED, Kind.PALLET_DISTRIBUTED],
    )

    cancelled = advance(in_machining, LineOrderEvent(Kind.CANCELLED, 50.0))

    assert cancelled.stage == Stage.CANCELLED
    assert cancelled.is_final
    with pytest.raises(OrderFinishedError, match="O1 is cancelled"):
        advance(cancelled, LineOrderEvent(Kind.MACHINING_DONE, 60.0))

    complete = run(start_state("O2", "line1", 0.0), [kind for kind, _ in HAPPY_PATH])
    with pytest.raises(OrderFinishedError, match="O2 is complete; event 'cancelled' refused"):
        advance(complete, LineOrderEvent(Kind.CANCELLED, 100.0))


def test_event_older_than_the_last_update_is_refused() -> None:
    state = advance(start_state("O1", "line1", 0.0), LineOrderEvent(Kind.ORDER_STARTED, 50.0))

    with pytest.raises(StaleEventError, match=r"older than the last update at 50\.0"):
        advance(state, LineOrderEvent(Kind.PARTS_LOCATED, 49.0))
    assert advance(state, LineOrderEvent(Kind.PARTS_LOCATED, 50.0)).stage == Stage.CLASSIFYING_PARTS


def test_bad_start_and_event_times_are_value_errors() -> None:
    with pytest.raises(ValueError, match="created_at_s must be finite"):
        start_state("O1", "line1", float("nan"))
    with pytest.raises(ValueError, match="required"):
        start_state("", "line1", 0.0)
    with pytest.raises(ValueError, match="event time must be finite"):
        advance(start_state("O1", "line1", 0.0), LineOrderEvent(Kind.ORDER_STARTED, float("inf")))


def test_final_stages_allow_nothing_and_every_other_stage_allows_cancel() -> None:
    for stage in Stage:
        events = allowed_events(stage)
        if stage in (Stage.COMPLETE, Stage.CANCELLED):
            assert events == frozenset()
        else:
            assert Kind.CANCELLED in events
            assert events - {Kind.CANCELLED} == frozenset(TRANSITIONS[stage])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(list(Kind)), max_size=25))
def test_property_advance_accepts_exactly_the_allowed_events(kinds: list[Kind]) -> None:
    state = start_state("O1", "line1", 0.0)
    for offset, kind in enumerate(kinds):
        event = LineOrderEvent(kind, float(offset))
        if kind in allowed_events(state.stage):
            new_state = advance(state, event)
            expected = Stage.CANCELLED if kind is Kind.CANCELLED else TRANSITIONS[state.stage][kind]
            assert new_state.stage == expected
            assert new_state.rework_count == state.rework_count + (kind is Kind.QUALITY_FAILED)
            state = new_state
        else:
            error = OrderFinishedError if state.is_final else TransitionNotAllowedError
            with pytest.raises(error):
                advance(state, event)
