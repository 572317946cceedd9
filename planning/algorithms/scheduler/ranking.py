"""Ranking the eligible machines of one operation by Priority(J, m), against the machines'
state during one scheduling call.

Each candidate is a tuple (priority, machine index, duration, TP, start); the best comes
first, equal priorities keep the machines' order. This is the scheduler's hot path
(operations × eligible machines). Each machine's longest gap is tracked so that gaps are
searched only when one can hold the operation, and a maintenance block is looked at only when
the unblocked run would overlap it. Operations with many eligible machines
(``_VECTOR_MIN_CANDIDATES``) are ranked with numpy arrays — the same arithmetic in the same
order, so the plan and the explanations are the same as the plain loop's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter

import numpy as np

from planning.algorithms.scheduler.model import EPSILON_S, INFINITY, Machine
from planning.algorithms.scheduler.rule import PriorityTerms
from planning.algorithms.scheduler.timeline import Timeline, machine_block

# Operations with at least this many eligible machines are ranked with numpy arrays (same
# arithmetic, same order, so the same plan); fewer are ranked in a plain loop.
_VECTOR_MIN_CANDIDATES = 16


class _Mirrors:
    """numpy copies of the machines' state for the vectorised ranking of wide operations."""

    __slots__ = (
        "block",
        "free_from",
        "index_arrays",
        "last_gap_end",
        "longest_gap",
        "penalty",
        "speed",
    )

    def __init__(
        self, timelines: list[Timeline], speed_factors: list[float], penalties: list[float]
    ) -> None:
        self.free_from = np.array([timeline.free_from_s for timeline in timelines])
        self.longest_gap = np.zeros(len(timelines))
        self.last_gap_end = np.full(len(timelines), -INFINITY)
        self.block = np.array([timeline.has_block for timeline in timelines], dtype=bool)
        self.speed = np.array(speed_factors, dtype=float)
        self.penalty = np.array(penalties, dtype=float)
        self.index_arrays: dict[int, np.ndarray] = {}

    def update(self, machine_index: int, timeline: Timeline) -> None:
        self.free_from[machine_index] = timeline.free_from_s
        self.longest_gap[machine_index] = timeline.max_gap_s
        self.last_gap_end[machine_index] = timeline.last_gap_end_s

    def indices(self, allowed: list[int]) -> np.ndarray:
        # Keyed by the list's id: the capability lists and cached splits live for the call.
        array = self.index_arrays.get(id(allowed))
        if array is None:
            array = np.array(allowed, dtype=np.intp)
            self.index_arrays[id(allowed)] = array
        return array


class MachineBoard:
    """The machines during one scheduling call: their timelines, health penalties θ·α·δ and
    the mirrors the hot loop reads (updated when an operation is placed): where each machine
    is free for good, its longest gap and the end of its last gap. A gap can only take an
    operation that fits in the longest gap and ends before the last gap ends."""

    __slots__ = (
        "free_from",
        "has_block",
        "last_gap_end",
        "longest_gap",
        "machine_ids",
        "machines",
        "mirrors",
        "penalties",
        "speed_factors",
        "timelines",
    )

    def __init__(self, machines: Sequence[Machine], now_s: float, widest: int) -> None:
        """``widest``: the most machines an operation can have (decides the numpy mirrors)."""
        self.machines = machines
        self.machine_ids = [machine.id for machine in machines]
        self.penalties = [machine.health_penalty for machine in machines]
        self.speed_factors = [machine.speed_factor for machine in machines]
        self.timelines: list[Timeline] = []
        for machine in machines:
            block_start, block_end = machine_block(machine, now_s)
            self.timelines.append(
                Timeline(max(now_s, machine.available_from_s), block_start, block_end)
            )
        self.has_block = [timeline.has_block for timeline in self.timelines]
        self.free_from = [timeline.free_from_s for timeline in self.timelines]
        self.longest_gap = [0.0] * len(machines)
        self.last_gap_end = [-INFINITY] * len(machines)
        self.mirrors = (
            _Mirrors(self.timelines, self.speed_factors, self.penalties)
            if widest >= _VECTOR_MIN_CANDIDATES
            else None
        )

    def occupy(self, machine_index: int, start_s: float, duration_s: float) -> None:
        timeline = self.timelines[machine_index]
        timeline.occupy(start_s, duration_s)
        self.free_from[machine_index] = timeline.free_from_s
        self.longest_gap[machine_index] = timeline.max_gap_s
        self.last_gap_end[machine_index] = timeline.last_gap_end_s
        if self.mirrors is not None:
            self.mirrors.update(machine_index, timeline)


Candidate = tuple[float, int, float, float, float]  # priority, machine index, duration, TP, start
_priority_of = itemgetter(0)  # sort key of the ranked candidates (C speed)


@dataclass(slots=True)
class Ranking:
    """The ranked candidates, best first, and the machines the maintenance / RUL horizon
    pushed to a later start (``horizon_pushed``) or left no time on (``horizon_excluded``)."""

    ranked: list[Candidate]
    horizon_pushed: list[int]
    horizon_excluded: list[int]


def rank_candidates(
    board: MachineBoard,
    allowed: list[int],
    explicit: list[float] | None,
    standard_duration_s: float,
    terms: PriorityTerms,
    tolerance: float,
    max_candidates: int,
) -> Ranking:
    """Rank the allowed machines for an operation; TP runs from ``now_s`` to the end of the
    job if the operation goes to the machine.

    ``explicit`` holds the operation's duration on each allowed machine, or None when it is
    ``standard_duration_s`` / the machine's speed factor. With many machines the ranking is
    cut to ``max(max_candidates, number tied with the best)``.
    """
    horizon_pushed: list[int] = []
    horizon_excluded: list[int] = []
    if len(allowed) >= _VECTOR_MIN_CANDIDATES:
        ranked = _rank_vectorized(
            board,
            allowed,
            explicit,
            standard_duration_s,
            terms,
            tolerance,
            max_candidates,
            horizon_pushed,
            horizon_excluded,
        )  # comes sorted (and cut to what is needed)
    else:
        durations = (
            explicit
            if explicit is not None
            else [standard_duration_s / board.speed_factors[index] for index in allowed]
        )
        ranked = _rank_plainly(board, allowed, durations, terms, horizon_pushed, horizon_excluded)
        ranked.sort(key=_priority_of, reverse=True)  # stable: equal priorities keep order
    return Ranking(ranked, horizon_pushed, horizon_excluded)


def choose_candidate(ranked: list[Candidate], tolerance: float) -> tuple[Candidate, int]:
    """The chosen candidate and how many tied with the best: among the candidates within
    ``tolerance`` of the best priority the earliest finish wins, then the higher priority,
    then the machine listed first."""
    best_priority = ranked[0][0]
    tied = [item for item in ranked if item[0] >= best_priority - tolerance]
    chosen = min(tied, key=lambda item: (item[4] + item[2], -item[0], item[1]))
    return chosen, len(tied)


def _rank_plainly(
    board: MachineBoard,
    allowed: list[int],
    durations: Sequence[float],
    terms: PriorityTerms,
    horizon_pushed: list[int],
    horizon_excluded: list[int],
) -> list[Candidate]:
    """The candidates in the machines' order, one machine at a time."""
    longest_gap, last_gap_end, free_from = board.longest_gap, board.last_gap_end, board.free_from
    timelines, has_block, penalties = board.timelines, board.has_block, board.penalties
    ready, now_s, others_s = terms.ready_s, terms.now_s, terms.others_s
    tr = terms.time_remaining_s
    late_scale = terms.late_scale
    ranked: list[Candidate] = []
    for machine_index, duration in zip(allowed, durations, strict=False):
        if (
            longest_gap[machine_index] >= duration - EPSILON_S
            and last_gap_end[machine_index] >= ready + duration - EPSILON_S
        ):
            start = timelines[machine_index].earliest_start(ready, duration, respect_block=False)
        else:  # no gap can hold it: the machine's free end decides
            machine_free_from = free_from[machine_index]
            start = ready if ready > machine_free_from else machine_free_from
        if has_block[machine_index]:
            # The block moves the start only if the unblocked run overlaps it.
            timeline = timelines[machine_index]
            if (
                start + duration > timeline.block_start_s + EPSILON_S
                and start < timeline.block_end_s
            ):
                blocked_start = timeline.earliest_start(ready, duration)
                if blocked_start > start:
                    horizon_pushed.append(machine_index)
                start = blocked_start
                if start == INFINITY:
                    horizon_excluded.append(machine_index)
                    continue
        processing = start + duration - now_s + others_s
        # Inlined ratio_term (this loop is the scheduler's hot path).
        ratio = tr / processing if tr > 0 else late_scale * processing
        ranked.append(
            (ratio - penalties[machine_index], machine_index, duration, processing, start)
        )
    return ranked


def _rank_vectorized(
    board: MachineBoard,
    allowed: list[int],
    explicit: list[float] | None,
    standard: float,
    terms: PriorityTerms,
    tolerance: float,
    max_candidates: int,
    horizon_pushed: list[int],
    horizon_excluded: list[int],
) -> list[Candidate]:
    """The loop of :func:`_rank_plainly` over many machines at once, with numpy.

    Returns the best candidates (priority, machine index, duration, TP, start), sorted like
    the loop's stable sort, cut to ``max(max_candidates, number tied with the best)``.
    Machines with a usable gap or a maintenance block are resolved one by one, exactly as
    the loop does.
    """
    mirrors, timelines = board.mirrors, board.timelines
    assert mirrors is not None
    ready, now_s, others_s = terms.ready_s, terms.now_s, terms.others_s
    time_remaining, late_scale = terms.time_remaining_s, terms.late_scale
    indices = mirrors.indices(allowed)
    durations = np.array(explicit) if explicit is not None else standard / mirrors.speed[indices]
    starts = np.maximum(mirrors.free_from[indices], ready)
    special = np.flatnonzero(
        (
            (mirrors.longest_gap[indices] >= durations - EPSILON_S)
            & (mirrors.last_gap_end[indices] >= ready + durations - EPSILON_S)
        )
        | mirrors.block[indices]
    )
    keep = None
    for position in special.tolist():
        machine_index = allowed[position]
        duration = float(durations[position])
        timeline = timelines[machine_index]
        if (
            mirrors.longest_gap[machine_index] >= duration - EPSILON_S
            and mirrors.last_gap_end[machine_index] >= ready + duration - EPSILON_S
        ):
            start = timeline.earliest_start(ready, duration, respect_block=False)
        else:
            start = float(starts[position])
        if timeline.has_block and (
            start + duration > timeline.block_start_s + EPSILON_S and start < timeline.block_end_s
        ):
            blocked_start = timeline.earliest_start(ready, duration)
            if blocked_start > start:
                horizon_pushed.append(machine_index)
            start = blocked_start
            if start == INFINITY:
                horizon_excluded.append(machine_index)
                if keep is None:
                    keep = np.ones(len(allowed), dtype=bool)
                keep[position] = False
                start = 0.0
        starts[position] = start
    processing = starts + durations - now_s + others_s
    if time_remaining > 0:
        priorities = time_remaining / processing - mirrors.penalty[indices]
    else:
        priorities = late_scale * processing - mirrors.penalty[indices]
    positions = np.arange(len(allowed)) if keep is None else np.flatnonzero(keep)
    if positions.size == 0:
        return []
    order = positions[np.argsort(-priorities[positions], kind="stable")]
    ordered = priorities[order]
    tied = int(np.count_nonzero(ordered >= ordered[0] - tolerance))
    top = order[: max(max_candidates, tied)].tolist()
    return [
        (
            float(priorities[position]),
            allowed[position],
            float(durations[position]),
            float(processing[position]),
            float(starts[position]),
        )
        for position in top
    ]
