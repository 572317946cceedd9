"""Equipment state machine: realistic mix of states, stop rules, counts, scheduled failure."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.simulator.machine import (
    SPINDLE_BEHAVIOUR,
    STATION_BEHAVIOUR,
    Machine,
    MachineBehaviour,
    MachineEvent,
    StopKind,
)
from workers.simulator.model import MachineState, random_stream

HOUR_MS = 3_600_000
START_MS = 1_735_718_400_000


def _intervals(events: list[MachineEvent]) -> list[tuple[str, str | None, float]]:
    """(state, reason, duration_s) of every closed state interval."""
    states = [event for event in events if event.event_type == "state"]
    return [
        (first.data["state"], first.data["reason"], (second.ts_ms - first.ts_ms) / 1000)
        for first, second in itertools.pairwise(states)
    ]


def _run(behaviour: MachineBehaviour, hours: float, seed: int = 1) -> tuple[Machine, list]:
    machine = Machine(behaviour, random_stream(seed, "machine"), START_MS)
    return machine, machine.advance(START_MS + round(hours * HOUR_MS))


def test_the_first_event_is_the_producing_state_at_the_start() -> None:
    machine = Machine(STATION_BEHAVIOUR, random_stream(3, "m"), START_MS)

    events = machine.advance(START_MS)

    assert events == [MachineEvent(START_MS, "state", {"state": "producing", "reason": None})]
    assert machine.is_running


def test_a_station_is_mostly_producing_with_every_kind_of_stop() -> None:
    _machine, events = _run(STATION_BEHAVIOUR, 300)
    time_in = defaultdict(float)
    for state, _reason, duration_s in _intervals(events):
        time_in[state] += duration_s
    total_s = sum(time_in.values())

    assert 0.65 < time_in["producing"] / total_s < 0.9
    assert set(time_in) == {"producing", "down", "setup", "idle", "starved", "blocked"}
    for state in ("down", "setup", "idle", "starved", "blocked"):
        assert time_in[state] / total_s < 0.15, state


def test_minor_stops_are_short_and_unexplained_and_breakdowns_long_with_or_without_reason() -> None:
    _machine, events = _run(STATION_BEHAVIOUR, 300)
    downs = [
        (reason, duration_s) for state, reason, duration_s in _intervals(events) if state == "down"
    ]
    short = [(reason, duration_s) for reason, duration_s in downs if duration_s < 120]
    long = [(reason, duration_s) for reason, duration_s in downs if duration_s >= 120]

    assert len(short) > 100
    assert {reason for reason, _ in short} == {None}
    assert long, "no breakdown in 300 h"
    assert any(reason is None for reason, _ in long)  # needs an operator's classification
    assert any(reason is not None for reason, _ in long)
    assert {reason for reason, _ in long} <= {
        None,
        "BREAKDOWN_MECH",
        "BREAKDOWN_ELEC",
        "BREAKDOWN_HYDRAULIC",
    }
    assert all(duration_s >= 150 for _, duration_s in long)


def test_setups_come_between_batches_and_parts_are_counted_one_by_one() -> None:
    machine, events = _run(STATION_BEHAVIOUR, 50)
    intervals = _intervals(events)
    counts = [event.data for event in events if event.event_type == "count"]
    setups = [(reason, duration_s) for state, reason, duration_s in intervals if state == "setup"]

    assert setups
    assert {reason for reason, _ in setups} <= {"SETUP_CHANGEOVER", "SETUP_TOOL"}
    assert all(60 <= duration_s <= 300 for _, duration_s in setups)
    assert all(count in ({"good": 1}, {"scrap": 1}) for count in counts)
    assert machine.good_count == sum(1 for count in counts if count == {"good": 1})
    assert machine.scrap_count == len(counts) - machine.good_count
    assert 0.003 < machine.scrap_count / len(counts) < 0.04
    producing_s = sum(duration for state, _, duration in intervals if state == "producing")
    # Cycle times are 26–34 s (±5 %): the count matches the producing time.
    assert producing_s / 36 < len(counts) < producing_s / 24 + 1


def test_parts_are_only_completed_while_producing() -> None:
    _machine, events = _run(STATION_BEHAVIOUR, 20, seed=4)
    state = None
    for event in events:
        if event.event_type == "state":
            state = event.data["state"]
        else:
            assert state == "producing", event


def test_no_state_event_repeats_the_current_state() -> None:
    _machine, events = _run(SPINDLE_BEHAVIOUR, 100, seed=2)
    states = [
        (event.data["state"], event.data["reason"])
        for event in events
        if event.event_type == "state"
    ]

    assert all(first != second for first, second in itertools.pairwise(states))


def test_a_spindle_is_never_blocked_and_can_lose_its_spindle() -> None:
    _machine, events = _run(SPINDLE_BEHAVIOUR, 2000, seed=5)
    seen = Counter((state, reason) for state, reason, _ in _intervals(events))

    assert not any(state == "blocked" for state, _ in seen)
    assert ("down", "BREAKDOWN_SPINDLE") in seen


def test_a_scheduled_failure_breaks_the_machine_down_for_the_repair_time() -> None:
    machine = Machine(STATION_BEHAVIOUR, random_stream(6, "m"), START_MS)
    machine.advance(START_MS + 1000)
    failure_ms = START_MS + 200_000

    machine.schedule_failure(failure_ms, repair_s=600)
    events = machine.advance(failure_ms + 600_000)

    # The part in process when the failure hit is scrapped; nothing happens during the repair.
    assert [event for event in events if event.ts_ms >= failure_ms] == [
        MachineEvent(failure_ms, "count", {"scrap": 1}),
        MachineEvent(failure_ms, "state", {"state": "down", "reason": "BREAKDOWN_SPINDLE"}),
        MachineEvent(failure_ms + 600_000, "state", {"state": "producing", "reason": None}),
    ]
    assert machine.repairs_completed == 1
    assert machine.last_repair_end_ms == failure_ms + 600_000
    assert machine.failure_ms is None


def test_events_of_one_kind_never_share_a_millisecond() -> None:
    # Stops that start within a millisecond of the previous transition (very short producing
    # stretches) must still get distinct timestamps: the MES keeps one event per instant.
    hasty = MachineBehaviour(
        cycle_time_s=(0.0005, 0.0015),
        batch_size=(1, 3),
        stops=(StopKind("blip", MachineState.DOWN, 0.001, (0.0, 0.0005), ((None, 1.0),)),),
        setup_duration_s=(0.0, 0.001),
        setup_reasons=(("SETUP_TOOL", 1.0),),
        idle_probability=0.0,
        idle_duration_s=(0.0, 0.0),
        scrap_probability=0.0,
    )
    machine = Machine(hasty, random_stream(2, "m"), START_MS)

    events = machine.advance(START_MS + 2_000)

    for kind in ("state", "count"):
        stamps = [event.ts_ms for event in events if event.event_type == kind]
        assert len(stamps) > 50
        assert all(later > earlier for earlier, later in itertools.pairwise(stamps)), kind


def test_unknown_reason_codes_are_published_as_unexplained() -> None:
    machine = Machine(
        STATION_BEHAVIOUR, random_stream(1, "machine"), START_MS, reason_codes={"ORG_STARVED"}
    )
    events = machine.advance(START_MS + 300 * HOUR_MS)
    reasons = {event.data["reason"] for event in events if event.event_type == "state"}

    assert reasons == {None, "ORG_STARVED"}


def test_same_generator_seed_gives_the_same_events_however_time_is_cut() -> None:
    whole = Machine(STATION_BEHAVIOUR, random_stream(9, "m"), START_MS)
    pieces = Machine(STATION_BEHAVIOUR, random_stream(9, "m"), START_MS)
    end_ms = START_MS + 10 * HOUR_MS

    expected = whole.advance(end_ms)
    cut = []
    for until in np.linspace(START_MS, end_ms, 997).astype(int):
        cut += pieces.advance(int(until))

    assert cut == expected
    assert len(expected) > 100


def test_invalid_behaviour_and_failure_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot be 'producing'"):
        StopKind("x", MachineState.PRODUCING, 10.0, (1.0, 2.0), ((None, 1.0),))
    with pytest.raises(ValueError, match="batch_size"):
        MachineBehaviour((1.0, 2.0), (0, 3), (), (1.0, 2.0), (("S", 1.0),), 0.0, (1, 2), 0.0)
    machine = Machine(STATION_BEHAVIOUR, random_stream(1, "m"), START_MS)
    machine.advance(START_MS + 10_000)
    with pytest.raises(ValueError, match="before the machine time"):
        machine.schedule_failure(START_MS, repair_s=10)
    with pytest.raises(ValueError, match="repair_s"):
        machine.schedule_failure(START_MS + 20_000, repair_s=0)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**31),
    cuts=st.lists(st.integers(min_value=0, max_value=20 * HOUR_MS), max_size=30),
    is_spindle=st.booleans(),
)
def test_any_seed_and_any_cut_give_one_consistent_event_stream(
    seed: int, cuts: list[int], is_spindle: bool
) -> None:
    behaviour = SPINDLE_BEHAVIOUR if is_spindle else STATION_BEHAVIOUR
    end_ms = START_MS + 20 * HOUR_MS
    whole = Machine(behaviour, random_stream(seed, "m"), START_MS).advance(end_ms)
    pieces = Machine(behaviour, random_stream(seed, "m"), START_MS)
    cut_events = []
    for offset in sorted(cuts):
        cut_events += pieces.advance(START_MS + offset)
    cut_events += pieces.advance(end_ms)

    assert cut_events == whole
    states = [event for event in whole if event.event_type == "state"]
    assert states[0].data == {"state": "producing", "reason": None}
    for earlier, later in itertools.pairwise(states):
        assert later.ts_ms > earlier.ts_ms
        assert (later.data["state"], later.data["reason"]) != (
            earlier.data["state"],
            earlier.data["reason"],
        )
        if earlier.data["state"] != "producing":
            # every stop, setup or wait ends in production or in the next step towards it
            assert later.data["state"] in ("producing", "setup", "down")
    assert all(event.ts_ms <= end_ms for event in whole)
