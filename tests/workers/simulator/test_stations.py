"""Station events follow the line order state machine of DESIGN §6.4, rework included."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planning.algorithms.line_order import (
    LineOrderEvent,
    LineOrderEventKind,
    LineOrderStage,
    advance,
    start_state,
)
from workers.simulator.model import OrderSpec
from workers.simulator.stations import (
    STATION_SEQUENCE,
    LineStationRunner,
    StationEvent,
    StationSettings,
    plan_order,
)

START_MS = 1_735_718_400_000
MPS1 = "acme/plant1/assembly/MPS1"
MPS2 = "acme/plant1/assembly/MPS2"
STATION_EQUIPMENT = {step: f"{MPS1}/cell/{step}" for step in STATION_SEQUENCE}

# The station that reports a step done → the line order event it stands for.
STEP_EVENTS = {
    "order_start": LineOrderEventKind.ORDER_STARTED,
    "warehouse_locate": LineOrderEventKind.PARTS_LOCATED,
    "classification": LineOrderEventKind.PARTS_CLASSIFIED,
    "distribute_pallet": LineOrderEventKind.PALLET_DISTRIBUTED,
    "machining": LineOrderEventKind.MACHINING_DONE,
    "storage": LineOrderEventKind.STORED,
    "update_stock": LineOrderEventKind.STOCK_UPDATED,
}


def _replay(events: list[StationEvent]):
    """Run the events through planning.algorithms.line_order; refuses any illegal move."""
    state = start_state(events[0].order, MPS1, events[0].ts_ms / 1000 - 10)
    for event in events:
        if event.station == "complete":
            assert state.stage is LineOrderStage.COMPLETE
            continue
        if event.station == "quality_control":
            kind = (
                LineOrderEventKind.QUALITY_PASSED
                if event.result == "pass"
                else LineOrderEventKind.QUALITY_FAILED
            )
        else:
            assert event.result is None
            kind = STEP_EVENTS[event.station]
        state = advance(state, LineOrderEvent(kind, event.ts_ms / 1000, event.station))
    return state


def test_an_order_without_failures_passes_every_station_once_in_order() -> None:
    settings = StationSettings(quality_failure_probability=0.0)

    events = plan_order(OrderSpec("CO-1", MPS1, 10), START_MS, seed=1, settings=settings)

    assert [event.station for event in events] == list(STATION_SEQUENCE)
    assert [event.result for event in events if event.station == "quality_control"] == ["pass"]
    assert [event.fields() for event in events][5] == {
        "station": "quality_control",
        "order": "CO-1",
        "result": "pass",
    }
    assert events[0].fields() == {"station": "order_start", "order": "CO-1"}
    timestamps = [event.ts_ms for event in events]
    assert timestamps == sorted(timestamps) and timestamps[0] > START_MS
    final = _replay(events)
    assert final.stage is LineOrderStage.COMPLETE
    assert final.rework_count == 0


def test_a_failed_quality_control_sends_the_part_back_to_machining() -> None:
    settings = StationSettings(quality_failure_probability=0.999999, max_reworks=2)

    events = plan_order(OrderSpec("CO-2", MPS1, 4), START_MS, seed=1, settings=settings)

    assert [(event.station, event.result) for event in events] == [
        ("order_start", None),
        ("warehouse_locate", None),
        ("classification", None),
        ("distribute_pallet", None),
        ("machining", None),
        ("quality_control", "fail"),
        ("machining", None),
        ("quality_control", "fail"),
        ("machining", None),
        ("quality_control", "pass"),
        ("storage", None),
        ("update_stock", None),
        ("complete", None),
    ]
    final = _replay(events)
    assert final.stage is LineOrderStage.COMPLETE
    assert final.rework_count == 2


@pytest.mark.parametrize("seed", range(40))
def test_every_planned_order_is_a_legal_path_to_complete(seed: int) -> None:
    order = OrderSpec(f"CO-{seed}", MPS1, 1 + seed % 12)

    events = plan_order(order, START_MS, seed=seed, settings=StationSettings())

    final = _replay(events)
    assert final.stage is LineOrderStage.COMPLETE
    assert final.rework_count == sum(1 for event in events if event.result == "fail")
    assert final.rework_count <= StationSettings().max_reworks


def test_rework_happens_at_about_the_configured_rate() -> None:
    settings = StationSettings(quality_failure_probability=0.2)
    first_results = [
        next(
            event.result
            for event in plan_order(
                OrderSpec(f"CO-{number}", MPS1, 5), START_MS, seed=3, settings=settings
            )
            if event.station == "quality_control"
        )
        for number in range(1000)
    ]

    assert 0.15 < first_results.count("fail") / 1000 < 0.25


def test_an_order_the_mes_has_moved_on_resumes_after_its_recorded_step() -> None:
    events = plan_order(
        OrderSpec("CO-3", MPS1, 5, line_step="quality_control"),
        START_MS,
        seed=1,
        settings=StationSettings(),
    )

    assert [event.station for event in events] == ["storage", "update_stock", "complete"]


def test_the_plan_depends_on_the_order_not_on_other_orders() -> None:
    settings = StationSettings()
    alone = plan_order(OrderSpec("CO-7", MPS1, 6), START_MS, seed=5, settings=settings)
    plan_order(OrderSpec("CO-8", MPS1, 6), START_MS, seed=5, settings=settings)

    again = plan_order(OrderSpec("CO-7", MPS1, 6), START_MS, seed=5, settings=settings)

    assert again == alone
    assert plan_order(OrderSpec("CO-7", MPS1, 6), START_MS, seed=6, settings=settings) != alone


def _runner() -> LineStationRunner:
    return LineStationRunner(MPS1, STATION_EQUIPMENT, seed=1)


def test_a_line_runs_its_orders_one_after_the_other_oldest_first() -> None:
    runner = _runner()
    runner.orders_update(
        [OrderSpec("CO-A", MPS1, 3), OrderSpec("CO-B", MPS1, 2), OrderSpec("CO-X", MPS2, 5)],
        START_MS,
    )

    events = runner.advance(START_MS + 3_600_000)

    orders = [event.order for event in events]
    assert orders == ["CO-A"] * orders.count("CO-A") + ["CO-B"] * orders.count("CO-B")
    assert [event.station for event in events if event.station == "complete"] == ["complete"] * 2
    first_of_b = next(event for event in events if event.order == "CO-B")
    last_of_a = [event for event in events if event.order == "CO-A"][-1]
    assert first_of_b.ts_ms > last_of_a.ts_ms
    assert "CO-X" not in orders  # another line's order
    assert runner.current_order is None and runner.queued_orders == ()


def test_events_are_released_as_time_passes_and_never_twice() -> None:
    runner = _runner()
    runner.orders_update([OrderSpec("CO-A", MPS1, 3)], START_MS)
    planned = plan_order(OrderSpec("CO-A", MPS1, 3), START_MS, seed=1, settings=StationSettings())

    released = []
    for until in range(START_MS, planned[-1].ts_ms + 10_000, 700):
        step = runner.advance(until)
        assert all(event.ts_ms <= until for event in step)
        released += step
        runner.orders_update([OrderSpec("CO-A", MPS1, 3)], until)  # still dispatched

    assert released == planned


def test_a_cancelled_order_stops_and_the_next_one_starts() -> None:
    runner = _runner()
    runner.orders_update([OrderSpec("CO-A", MPS1, 10), OrderSpec("CO-B", MPS1, 2)], START_MS)
    early = runner.advance(START_MS + 5_000)

    runner.orders_update([OrderSpec("CO-B", MPS1, 2)], START_MS + 5_000)
    later = runner.advance(START_MS + 3_600_000)

    assert {event.order for event in early} == {"CO-A"}
    assert {event.order for event in later} == {"CO-B"}
    assert later[0].station == "order_start" and later[0].ts_ms > START_MS + 5_000
    assert later[-1].station == "complete"


def test_an_order_completed_by_the_mes_after_update_stock_still_confirms_complete() -> None:
    runner = _runner()
    runner.orders_update([OrderSpec("CO-A", MPS1, 2)], START_MS)
    planned = plan_order(OrderSpec("CO-A", MPS1, 2), START_MS, seed=1, settings=StationSettings())
    update_stock_ms = planned[-2].ts_ms
    before = runner.advance(update_stock_ms)

    runner.orders_update([], update_stock_ms + 1)  # the MES completed it on update_stock
    after = runner.advance(update_stock_ms + 60_000)

    assert before[-1].station == "update_stock"
    assert [(event.station, event.order) for event in after] == [("complete", "CO-A")]


def test_no_dispatched_order_means_no_station_event() -> None:
    runner = _runner()
    runner.orders_update([], START_MS)

    assert runner.advance(START_MS + 3_600_000) == []


def test_a_finished_order_still_listed_by_the_database_is_not_replayed() -> None:
    runner = _runner()
    runner.orders_update([OrderSpec("CO-A", MPS1, 1)], START_MS)
    first = runner.advance(START_MS + 3_600_000)

    runner.orders_update(
        [OrderSpec("CO-A", MPS1, 1, line_step="update_stock")], START_MS + 3_600_000
    )

    assert first[-1].station == "complete"
    assert runner.advance(START_MS + 7_200_000) == []


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="no equipment for the step"):
        LineStationRunner(MPS1, {"order_start": "x"}, seed=1)
    with pytest.raises(ValueError, match="unknown line step"):
        plan_order(
            OrderSpec("CO", MPS1, 1, line_step="painting"),
            START_MS,
            seed=1,
            settings=StationSettings(),
        )
    with pytest.raises(ValueError, match="quantity"):
        OrderSpec("CO", MPS1, 0)
    with pytest.raises(ValueError, match="quality_failure_probability"):
        StationSettings(quality_failure_probability=1.0)


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**31),
    quantity=st.integers(min_value=1, max_value=60),
    failure_probability=st.floats(min_value=0.0, max_value=0.99),
    max_reworks=st.integers(min_value=0, max_value=5),
    resume_after=st.sampled_from(["", *STATION_SEQUENCE[:-1]]),
)
def test_every_plan_is_a_legal_path_whatever_the_settings(
    seed: int, quantity: int, failure_probability: float, max_reworks: int, resume_after: str
) -> None:
    settings_ = StationSettings(
        quality_failure_probability=failure_probability, max_reworks=max_reworks
    )
    order = OrderSpec("CO-P", MPS1, quantity, line_step=resume_after)

    events = plan_order(order, START_MS, seed=seed, settings=settings_)

    assert events[-1].station == "complete"
    stamps = [event.ts_ms for event in events]
    assert all(later > earlier for earlier, later in itertools.pairwise(stamps))
    assert stamps[0] > START_MS
    fails = sum(1 for event in events if event.result == "fail")
    assert fails <= max_reworks
    if not resume_after:
        final = _replay(events)
        assert final.stage is LineOrderStage.COMPLETE
        assert final.rework_count == fails
    else:
        expected_first = STATION_SEQUENCE[STATION_SEQUENCE.index(resume_after) + 1]
        assert events[0].station == expected_first
