"""A machine's idle time during one scheduling call, and its maintenance / RUL block.

A machine is blocked from ``min(maintenance_window_start_s, now_s + rul_p10_s)`` until
``maintenance_window_end_s`` (for ever if no end is known or only the RUL is given). An
operation is placed on a machine only if it finishes before the block starts or starts after
it ends.
"""

from __future__ import annotations

from bisect import bisect_left

from planning.algorithms.scheduler.model import EPSILON_S, INFINITY, Machine


def machine_block(machine: Machine, now_s: float) -> tuple[float, float]:
    """The interval [start, end) in which the machine must not run (``inf`` if none)."""
    block_start = INFINITY
    if machine.maintenance_window_start_s is not None:
        block_start = machine.maintenance_window_start_s
    if machine.rul_p10_s is not None:
        block_start = min(block_start, now_s + machine.rul_p10_s)
    if block_start == INFINITY:
        return INFINITY, INFINITY
    block_end = INFINITY
    if machine.maintenance_window_end_s is not None:
        block_end = machine.maintenance_window_end_s
    return block_start, block_end


class Timeline:
    """Idle intervals of one machine: sorted disjoint gaps, then free from ``free_from_s``.

    The maintenance / RUL block [block_start_s, block_end_s) is kept apart from the gaps and
    applied when a start is searched, so the start without the block can be compared.
    """

    __slots__ = (
        "block_end_s",
        "block_start_s",
        "free_from_s",
        "gap_ends",
        "gap_starts",
        "max_gap_s",
    )

    def __init__(self, start_s: float, block_start_s: float, block_end_s: float) -> None:
        self.gap_starts: list[float] = []
        self.gap_ends: list[float] = []
        self.free_from_s = start_s
        self.block_start_s = block_start_s
        self.block_end_s = block_end_s
        self.max_gap_s = 0.0  # longest gap: no gap can hold a longer run

    @property
    def last_gap_end_s(self) -> float:
        return self.gap_ends[-1] if self.gap_ends else -INFINITY

    @property
    def has_block(self) -> bool:
        return self.block_start_s < INFINITY

    def earliest_start(
        self, ready_s: float, duration_s: float, *, respect_block: bool = True
    ) -> float:
        """Earliest start ≥ ready_s of an uninterrupted run of duration_s (``inf``: none)."""
        block_start = self.block_start_s if respect_block else INFINITY
        block_end = self.block_end_s
        gap_starts, gap_ends = self.gap_starts, self.gap_ends
        index = bisect_left(gap_ends, ready_s + duration_s - EPSILON_S)
        for gap_index in range(index, len(gap_ends)):
            gap_start = gap_starts[gap_index]
            start = ready_s if ready_s > gap_start else gap_start
            if start + duration_s > block_start + EPSILON_S and start < block_end:
                start = block_end
            if start + duration_s <= gap_ends[gap_index] + EPSILON_S:
                return start
        start = max(ready_s, self.free_from_s)
        if start + duration_s > block_start + EPSILON_S and start < block_end:
            start = block_end
        return start

    def occupy(self, start_s: float, duration_s: float) -> None:
        end_s = start_s + duration_s
        if start_s >= self.free_from_s - EPSILON_S:
            if start_s > self.free_from_s + EPSILON_S:
                self.gap_starts.append(self.free_from_s)
                self.gap_ends.append(start_s)
                self.max_gap_s = max(self.max_gap_s, start_s - self.free_from_s)
            self.free_from_s = end_s
            return
        index = bisect_left(self.gap_ends, end_s - EPSILON_S)
        gap_start, gap_end = self.gap_starts[index], self.gap_ends[index]
        is_longest = gap_end - gap_start >= self.max_gap_s
        replacement_starts: list[float] = []
        replacement_ends: list[float] = []
        if start_s > gap_start + EPSILON_S:
            replacement_starts.append(gap_start)
            replacement_ends.append(start_s)
        if gap_end > end_s + EPSILON_S:
            replacement_starts.append(end_s)
            replacement_ends.append(gap_end)
        self.gap_starts[index : index + 1] = replacement_starts
        self.gap_ends[index : index + 1] = replacement_ends
        if is_longest:  # the split gap may have been the longest: measure again
            self.max_gap_s = max(
                (end - start for start, end in zip(self.gap_starts, self.gap_ends, strict=True)),
                default=0.0,
            )
