"""OEE engine benchmark: full recompute of one 8-hour shift and incremental updates.

Run from the repository root:  .venv/bin/python -m bench.oee.bench_oee [--repeats 5] [--seed 22400]
(about 5 s on 2 shared cores).

Synthetic plant: every equipment has 50–200 touching state intervals in an 8-hour shift with
two breaks (15 and 30 min); ~55 % of intervals producing, the rest setup, short and long stops
(with and without a reason), idle/starved/blocked, and a few gaps with no data. One "full
recompute" of an equipment = state intervals → time elements, + counts, → KPIs; the figure for
N equipment includes the roll-up of all N to one line total and its KPIs.

Targets (issue): < 100 ms for 100 equipment, < 1 s for 1 000, < 1 ms per incremental event.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np

from production.algorithms.oee import IsoTimeElement, OeeElements, compute_kpis, rollup
from production.algorithms.timeline import (
    EquipmentState,
    OpenPeriodAccumulator,
    StateInterval,
    StateIntervalArrays,
    compute_time_elements,
    compute_time_elements_arrays,
)

SHIFT_START_S = datetime(2026, 6, 16, 4, tzinfo=UTC).timestamp()
SHIFT_LENGTH_S = 8 * 3600.0
SHIFT_END_S = SHIFT_START_S + SHIFT_LENGTH_S
BREAKS = [
    (SHIFT_START_S + 3 * 3600.0, SHIFT_START_S + 3 * 3600.0 + 900.0),
    (SHIFT_START_S + 6 * 3600.0, SHIFT_START_S + 6 * 3600.0 + 1_800.0),
]
STATE_CHOICES = [
    (EquipmentState.PRODUCING, None),
    (EquipmentState.SETUP, None),
    (EquipmentState.DOWN, None),
    (EquipmentState.DOWN, IsoTimeElement.ADET),
    (EquipmentState.DOWN, IsoTimeElement.ADOT),
    (EquipmentState.IDLE, None),
    (EquipmentState.STARVED, None),
    (EquipmentState.BLOCKED, None),
    (EquipmentState.UNKNOWN, None),
]
STATE_WEIGHTS = [0.55, 0.03, 0.18, 0.06, 0.03, 0.05, 0.05, 0.03, 0.02]


def synthetic_equipment_timeline(rng: np.random.Generator) -> list[StateInterval]:
    """50–200 intervals over the shift (some starting before it), with a few gaps."""
    count = int(rng.integers(50, 201))
    lengths_s = rng.dirichlet(np.ones(count)) * (SHIFT_LENGTH_S + 600.0)
    boundaries_s = SHIFT_START_S - 300.0 + np.concatenate(([0.0], np.cumsum(lengths_s)))
    picks = rng.choice(len(STATE_CHOICES), size=count, p=STATE_WEIGHTS)
    has_gap = rng.random(count) < 0.02
    intervals = []
    for index in range(count):
        start_s, end_s = float(boundaries_s[index]), float(boundaries_s[index + 1])
        if has_gap[index]:
            end_s = start_s + (end_s - start_s) / 2  # the second half is a gap (no data)
        state, reason = STATE_CHOICES[picks[index]]
        intervals.append(StateInterval(start_s, end_s, state, reason))
    return intervals


def recompute_equipment(intervals: list[StateInterval], produced: int) -> OeeElements:
    result = compute_time_elements(
        intervals,
        period_start_s=SHIFT_START_S,
        period_end_s=SHIFT_END_S,
        planned_down_windows=BREAKS,
    )
    elements = result.elements + OeeElements.from_counts(
        planned_run_time_per_unit_s=20.0,
        produced_quantity=produced,
        good_quantity=produced - produced // 50,
        scrap_quantity=produced // 100,
        rework_quantity=produced // 100,
    )
    compute_kpis(elements)
    return elements


def recompute_equipment_from_arrays(arrays: StateIntervalArrays, produced: int) -> OeeElements:
    result = compute_time_elements_arrays(
        arrays,
        period_start_s=SHIFT_START_S,
        period_end_s=SHIFT_END_S,
        planned_down_windows=BREAKS,
    )
    elements = result.elements + OeeElements.from_counts(
        planned_run_time_per_unit_s=20.0,
        produced_quantity=produced,
        good_quantity=produced - produced // 50,
        scrap_quantity=produced // 100,
        rework_quantity=produced // 100,
    )
    compute_kpis(elements)
    return elements


def timed_ms(function: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median and best wall time in milliseconds over ``repeats`` runs."""
    times_ms = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times_ms.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(times_ms), min(times_ms)


def bench_full_recompute(equipment_count: int, repeats: int, rng: np.random.Generator) -> None:
    timelines = [synthetic_equipment_timeline(rng) for _ in range(equipment_count)]
    produced = [int(rng.integers(300, 1_200)) for _ in range(equipment_count)]
    interval_count = sum(len(timeline) for timeline in timelines)

    def from_objects() -> None:
        line_total = rollup(
            recompute_equipment(timeline, count)
            for timeline, count in zip(timelines, produced, strict=True)
        )
        compute_kpis(line_total)

    arrays = [StateIntervalArrays.from_intervals(timeline) for timeline in timelines]

    def from_arrays() -> None:
        line_total = rollup(
            recompute_equipment_from_arrays(array, count)
            for array, count in zip(arrays, produced, strict=True)
        )
        compute_kpis(line_total)

    median_ms, best_ms = timed_ms(from_objects, repeats)
    print(
        f"full recompute, {equipment_count:>5} equipment ({interval_count:>7} intervals), "
        f"from StateInterval objects: median {median_ms:8.1f} ms, best {best_ms:8.1f} ms"
    )
    median_ms, best_ms = timed_ms(from_arrays, repeats)
    print(
        f"full recompute, {equipment_count:>5} equipment ({interval_count:>7} intervals), "
        f"from numpy arrays:          median {median_ms:8.1f} ms, best {best_ms:8.1f} ms"
    )


def bench_incremental(event_count: int, rng: np.random.Generator) -> None:
    """Mean cost of one state change, and of one snapshot, on an open shift."""
    timelines: list[list[StateInterval]] = []
    while sum(len(timeline) for timeline in timelines) < event_count:
        timelines.append(synthetic_equipment_timeline(rng))
    accumulators = [
        OpenPeriodAccumulator(
            period_start_s=SHIFT_START_S, period_end_s=SHIFT_END_S, planned_down_windows=BREAKS
        )
        for _ in timelines
    ]
    events = [
        (accumulator, interval.start_s, interval.state, interval.reason_element)
        for accumulator, timeline in zip(accumulators, timelines, strict=True)
        for interval in timeline
    ]
    started = time.perf_counter()
    for accumulator, ts_s, state, reason in events:
        accumulator.apply(ts_s, state, reason)
    apply_us = (time.perf_counter() - started) / len(events) * 1e6

    started = time.perf_counter()
    for accumulator in accumulators:
        accumulator.snapshot(max(SHIFT_END_S, accumulator.last_event_s))
    snapshot_us = (time.perf_counter() - started) / len(accumulators) * 1e6

    # Event + snapshot, as the live dashboard path does it.
    accumulator = OpenPeriodAccumulator(
        period_start_s=SHIFT_START_S, period_end_s=SHIFT_END_S, planned_down_windows=BREAKS
    )
    timeline = synthetic_equipment_timeline(rng)
    started = time.perf_counter()
    for interval in timeline:
        accumulator.apply(interval.start_s, interval.state, interval.reason_element)
        compute_kpis(accumulator.snapshot(interval.start_s).elements)
    both_us = (time.perf_counter() - started) / len(timeline) * 1e6

    print(
        f"incremental: apply one state change          mean {apply_us:8.2f} µs "
        f"({len(events)} events)"
    )
    print(f"incremental: snapshot of the open shift      mean {snapshot_us:8.2f} µs")
    print(f"incremental: apply + snapshot + KPIs         mean {both_us:8.2f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per figure (median shown)")
    parser.add_argument("--seed", type=int, default=22_400)
    arguments = parser.parse_args()
    rng = np.random.default_rng(arguments.seed)
    print(f"numpy {np.__version__}; seed {arguments.seed}; {arguments.repeats} repeats\n")
    for equipment_count in (100, 1_000):
        bench_full_recompute(equipment_count, arguments.repeats, rng)
    bench_incremental(100_000, rng)


if __name__ == "__main__":
    main()
