"""Equipment state timeline → ISO 22400-2 time elements (pure, Django-free).

Timestamps here are epoch seconds (UTC) as floats, because the full recompute works on numpy
arrays; convert aware datetimes with ``datetime.timestamp()``.

Rules, in order of precedence, for each instant of the period ``[period_start_s, period_end_s)``:

1. Inside a planned down time window (breaks, PM windows from the shift calendar) the instant is
   PDOT, whatever the machine reported. The plan, not the machine, decides what is planned: a
   line that runs through its break does not gain APT (its units still count, so effectiveness
   may then exceed 1 and is flagged), and a breakdown during a break costs no availability.
2. Inside a state interval, the state and the reason's ISO element decide:

   - ``producing`` → APT (a reason on a producing interval is ignored);
   - ``unknown`` → no data (a reason is ignored);
   - any other state with a reason → the reason's element (ADET, ADOT, AUST or PDOT): the
     operator's classification wins over the machine's state signal;
   - ``setup`` → AUST; ``idle``, ``starved``, ``blocked`` → ADOT; ``planned_stop`` → PDOT;
   - ``down`` without a reason → ADET.

3. Outside every interval (a gap) → no data.

Minor stops and stops needing a reason. Consecutive intervals with the same state and reason
that touch (end = next start) form one *stop*; its full length, not only the part inside the
period, decides: every ADET stop shorter than ``micro_stop_threshold_s`` (120 s by default) is a
minor stop (whatever its reason); an unexplained ``down`` stop at least as long as the threshold
stays ADET provisionally, is counted in ``needs_reason_time_s`` and its intervals are listed in
``TimelineResult.needs_reason``.

Zero-length intervals are ignored. Reversed intervals (end before start) and overlapping
intervals are rejected with ``ValueError`` naming them.

:class:`OpenPeriodAccumulator` keeps the elements of the open period current, one state change at
a time in O(log W) (W = number of planned windows, a handful); an event older than the last one
raises :class:`LateEventError` so the caller recomputes the period with
:func:`compute_time_elements`.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from production.algorithms.oee import IsoTimeElement, OeeElements

__all__ = [
    "DEFAULT_MICRO_STOP_THRESHOLD_S",
    "EquipmentState",
    "LateEventError",
    "NeedsReasonInterval",
    "OpenPeriodAccumulator",
    "StateInterval",
    "StateIntervalArrays",
    "TimelineResult",
    "compute_time_elements",
    "compute_time_elements_arrays",
]

DEFAULT_MICRO_STOP_THRESHOLD_S = 120.0


class EquipmentState(StrEnum):
    """Equipment states (values match the Django ``EquipmentState`` choices)."""

    PRODUCING = "producing"
    SETUP = "setup"
    DOWN = "down"
    IDLE = "idle"
    STARVED = "starved"
    BLOCKED = "blocked"
    PLANNED_STOP = "planned_stop"
    UNKNOWN = "unknown"


# Codes used in the arrays. Element codes index the per-element sums.
STATES: tuple[EquipmentState, ...] = tuple(EquipmentState)
STATE_CODES: dict[str, int] = {state.value: code for code, state in enumerate(STATES)}
REASONS: tuple[IsoTimeElement, ...] = tuple(IsoTimeElement)
NO_REASON_CODE = -1
REASON_CODES: dict[str, int] = {element.value: code for code, element in enumerate(REASONS)}

_APT, _AUST, _ADET, _ADOT, _PDOT, _NO_DATA = range(6)
_ELEMENT_COUNT = 6
_REASON_TO_ELEMENT = {
    IsoTimeElement.ADET: _ADET,
    IsoTimeElement.ADOT: _ADOT,
    IsoTimeElement.AUST: _AUST,
    IsoTimeElement.PDOT: _PDOT,
}
_STATE_DEFAULT_ELEMENT = {
    EquipmentState.PRODUCING: _APT,
    EquipmentState.SETUP: _AUST,
    EquipmentState.DOWN: _ADET,
    EquipmentState.IDLE: _ADOT,
    EquipmentState.STARVED: _ADOT,
    EquipmentState.BLOCKED: _ADOT,
    EquipmentState.PLANNED_STOP: _PDOT,
    EquipmentState.UNKNOWN: _NO_DATA,
}
_STATES_IGNORING_REASON = frozenset({EquipmentState.PRODUCING, EquipmentState.UNKNOWN})


def _element_of(state: EquipmentState, reason: IsoTimeElement | None) -> int:
    if reason is None or state in _STATES_IGNORING_REASON:
        return _STATE_DEFAULT_ELEMENT[state]
    return _REASON_TO_ELEMENT[reason]


# ELEMENT_TABLE[state_code, reason_code + 1] → element code (column 0 = no reason).
_ELEMENT_TABLE: npt.NDArray[np.intp] = np.array(
    [
        [_element_of(state, None)] + [_element_of(state, reason) for reason in REASONS]
        for state in STATES
    ],
    dtype=np.intp,
)
_DOWN_CODE = STATE_CODES[EquipmentState.DOWN]


class LateEventError(ValueError):
    """A state change arrived with a timestamp before the last one applied: recompute."""

    def __init__(self, event_s: float, last_event_s: float) -> None:
        super().__init__(
            f"State change at {event_s} is earlier than the last one applied at {last_event_s}; "
            "recompute the period from the stored intervals."
        )
        self.event_s = event_s
        self.last_event_s = last_event_s


@dataclass(frozen=True, slots=True)
class StateInterval:
    """One state interval of one equipment; times are epoch seconds (UTC)."""

    start_s: float
    end_s: float
    state: EquipmentState
    reason_element: IsoTimeElement | None = None


@dataclass(frozen=True, slots=True)
class StateIntervalArrays:
    """The same intervals as parallel numpy arrays (the fast path for many intervals).

    ``state_code`` indexes :data:`STATES`; ``reason_code`` indexes :data:`REASONS`, −1 = none.
    """

    start_s: npt.NDArray[np.float64]
    end_s: npt.NDArray[np.float64]
    state_code: npt.NDArray[np.intp]
    reason_code: npt.NDArray[np.intp]

    @classmethod
    def from_intervals(cls, intervals: Sequence[StateInterval]) -> StateIntervalArrays:
        count = len(intervals)
        try:
            state_code = np.fromiter(
                (STATE_CODES[interval.state] for interval in intervals), np.intp, count
            )
            reason_code = np.fromiter(
                (
                    NO_REASON_CODE
                    if interval.reason_element is None
                    else REASON_CODES[interval.reason_element]
                    for interval in intervals
                ),
                np.intp,
                count,
            )
        except KeyError as error:
            raise ValueError(
                f"Unknown equipment state or ISO element {error.args[0]!r}; states are "
                f"{[s.value for s in STATES]}, elements {[r.value for r in REASONS]}."
            ) from None
        return cls(
            start_s=np.fromiter((interval.start_s for interval in intervals), np.float64, count),
            end_s=np.fromiter((interval.end_s for interval in intervals), np.float64, count),
            state_code=state_code,
            reason_code=reason_code,
        )


@dataclass(frozen=True, slots=True)
class NeedsReasonInterval:
    """An unexplained stop interval (as given, not clipped) that needs a downtime reason."""

    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class TimelineResult:
    """Time elements of one period (counts are zero; add the count part) and its flags.

    ``minor_stop_count`` counts minor stops with time outside planned down time in the period;
    a stop that crosses a period boundary is counted in both periods.
    """

    elements: OeeElements
    needs_reason: tuple[NeedsReasonInterval, ...]
    minor_stop_count: int


def _check_period(period_start_s: float, period_end_s: float) -> None:
    if not (math.isfinite(period_start_s) and math.isfinite(period_end_s)):
        raise ValueError(f"The period [{period_start_s}, {period_end_s}) must be finite.")
    if period_end_s < period_start_s:
        raise ValueError(f"The period ends ({period_end_s}) before it starts ({period_start_s}).")


def _check_threshold(micro_stop_threshold_s: float) -> None:
    if not math.isfinite(micro_stop_threshold_s) or micro_stop_threshold_s < 0:
        raise ValueError(
            "The micro-stop threshold must be a non-negative number of seconds, "
            f"got {micro_stop_threshold_s!r}."
        )


class _PlannedCover:
    """Union of planned down time windows clipped to a period, as a cumulative function.

    ``covered(t)`` is the planned down time in ``[period_start, t]``: piecewise linear with
    slope 1 inside a window and 0 outside, so the planned part of any ``[a, b)`` is
    ``covered(b) − covered(a)``.
    """

    def __init__(
        self,
        windows: Sequence[tuple[float, float]],
        period_start_s: float,
        period_end_s: float,
    ) -> None:
        clipped: list[tuple[float, float]] = []
        for index, (start_s, end_s) in enumerate(windows):
            if not (math.isfinite(start_s) and math.isfinite(end_s)):
                raise ValueError(f"Planned down time window #{index} must be finite.")
            if end_s < start_s:
                raise ValueError(
                    f"Planned down time window #{index} ends ({end_s}) before it starts "
                    f"({start_s})."
                )
            start_s, end_s = max(start_s, period_start_s), min(end_s, period_end_s)
            if end_s > start_s:
                clipped.append((start_s, end_s))
        clipped.sort()
        merged: list[list[float]] = []
        for start_s, end_s in clipped:
            if merged and start_s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end_s)
            else:
                merged.append([start_s, end_s])
        self.points_s: list[float] = []
        self.cumulative_s: list[float] = []
        total_s = 0.0
        for start_s, end_s in merged:
            self.points_s += [start_s, end_s]
            self.cumulative_s += [total_s, total_s + (end_s - start_s)]
            total_s += end_s - start_s
        self.total_s = total_s
        self.windows: tuple[tuple[float, float], ...] = tuple((a, b) for a, b in merged)

    def covered(self, t_s: float) -> float:
        points = self.points_s
        if not points or t_s <= points[0]:
            return 0.0
        if t_s >= points[-1]:
            return self.total_s
        position = bisect.bisect_right(points, t_s)
        if position % 2 == 0:  # between two windows: flat
            return self.cumulative_s[position - 1]
        return self.cumulative_s[position - 1] + (t_s - points[position - 1])

    def covered_array(self, t_s: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        if not self.points_s:
            return np.zeros_like(t_s)
        return np.interp(t_s, self.points_s, self.cumulative_s)


def _describe(index: int, start_s: float, end_s: float) -> str:
    return f"#{index} [{start_s}, {end_s})"


def compute_time_elements(
    intervals: Sequence[StateInterval],
    *,
    period_start_s: float,
    period_end_s: float,
    planned_down_windows: Sequence[tuple[float, float]] = (),
    micro_stop_threshold_s: float = DEFAULT_MICRO_STOP_THRESHOLD_S,
) -> TimelineResult:
    """Time elements of ``[period_start_s, period_end_s)`` from state intervals (any order).

    Intervals may reach outside the period (they are clipped; their full length still decides
    minor stop vs. needs reason). ``planned_down_windows`` are ``(start_s, end_s)`` pairs that
    may overlap each other (counted once) and reach outside the period.
    """
    return compute_time_elements_arrays(
        StateIntervalArrays.from_intervals(intervals),
        period_start_s=period_start_s,
        period_end_s=period_end_s,
        planned_down_windows=planned_down_windows,
        micro_stop_threshold_s=micro_stop_threshold_s,
    )


def compute_time_elements_arrays(
    arrays: StateIntervalArrays,
    *,
    period_start_s: float,
    period_end_s: float,
    planned_down_windows: Sequence[tuple[float, float]] = (),
    micro_stop_threshold_s: float = DEFAULT_MICRO_STOP_THRESHOLD_S,
) -> TimelineResult:
    """:func:`compute_time_elements` on parallel arrays (vectorised with numpy)."""
    _check_period(period_start_s, period_end_s)
    _check_threshold(micro_stop_threshold_s)
    start_s = np.asarray(arrays.start_s, dtype=np.float64)
    end_s = np.asarray(arrays.end_s, dtype=np.float64)
    state_code = np.asarray(arrays.state_code, dtype=np.intp)
    reason_code = np.asarray(arrays.reason_code, dtype=np.intp)
    count = start_s.shape[0]
    if not (end_s.shape == state_code.shape == reason_code.shape == (count,)):
        raise ValueError("start_s, end_s, state_code and reason_code must be 1-D and equally long.")
    # One finite check on the sums (any NaN or infinity makes them non-finite).
    if not math.isfinite(float(start_s.sum()) + float(end_s.sum())):
        bad = int(np.flatnonzero(~(np.isfinite(start_s) & np.isfinite(end_s)))[0])
        raise ValueError(
            f"State interval {_describe(bad, start_s[bad], end_s[bad])} has a non-finite time."
        )
    reversed_mask = end_s < start_s
    if reversed_mask.any():
        bad = int(np.flatnonzero(reversed_mask)[0])
        raise ValueError(
            f"State interval {_describe(bad, start_s[bad], end_s[bad])} ends before it starts "
            f"({int(reversed_mask.sum())} reversed interval(s) in total)."
        )
    if count and (state_code.min() < 0 or state_code.max() >= len(STATES)):
        raise ValueError(f"State codes must lie in 0..{len(STATES) - 1}.")
    if count and (reason_code.min() < NO_REASON_CODE or reason_code.max() >= len(REASONS)):
        raise ValueError(f"Reason codes must lie in {NO_REASON_CODE}..{len(REASONS) - 1}.")

    original_index = np.flatnonzero(end_s > start_s)  # zero-length intervals are ignored
    if original_index.shape[0] != count:
        start_s, end_s = start_s[original_index], end_s[original_index]
        state_code, reason_code = state_code[original_index], reason_code[original_index]
    if start_s.shape[0] > 1 and (np.diff(start_s) < 0).any():
        order = np.argsort(start_s, kind="stable")
        start_s, end_s = start_s[order], end_s[order]
        state_code, reason_code = state_code[order], reason_code[order]
        original_index = original_index[order]
    overlap = start_s[1:] < end_s[:-1]
    if overlap.any():
        positions = np.flatnonzero(overlap)
        first = int(positions[0])
        earlier, later = int(original_index[first]), int(original_index[first + 1])
        raise ValueError(
            "State intervals overlap: "
            f"{_describe(earlier, start_s[first], end_s[first])} and "
            f"{_describe(later, start_s[first + 1], end_s[first + 1])} "
            f"({positions.shape[0]} overlapping pair(s) in total)."
        )

    cover = _PlannedCover(planned_down_windows, period_start_s, period_end_s)
    clipped_start_s = np.minimum(np.maximum(start_s, period_start_s), period_end_s)
    clipped_end_s = np.minimum(np.maximum(end_s, period_start_s), period_end_s)
    planned_part_s = cover.covered_array(clipped_end_s) - cover.covered_array(clipped_start_s)
    unplanned_s = (clipped_end_s - clipped_start_s) - planned_part_s
    element = _ELEMENT_TABLE[state_code, reason_code + 1]
    sums_s = np.bincount(element, weights=unplanned_s, minlength=_ELEMENT_COUNT)

    minor_stop_time_s = 0.0
    needs_reason_time_s = 0.0
    minor_stop_count = 0
    needs_reason: tuple[NeedsReasonInterval, ...] = ()
    is_delay = element == _ADET
    if is_delay.any():
        # A stop = a run of touching intervals with the same state and reason.
        starts_run = np.ones(start_s.shape[0], dtype=bool)
        starts_run[1:] = (
            (state_code[1:] != state_code[:-1])
            | (reason_code[1:] != reason_code[:-1])
            | (start_s[1:] != end_s[:-1])
        )
        run_id = np.cumsum(starts_run) - 1
        run_length_s = np.bincount(run_id, weights=end_s - start_s)[run_id]
        is_minor = is_delay & (run_length_s < micro_stop_threshold_s)
        is_unexplained_long = (
            is_delay & ~is_minor & (state_code == _DOWN_CODE) & (reason_code == NO_REASON_CODE)
        )
        minor_stop_time_s = float(unplanned_s[is_minor].sum())
        needs_reason_time_s = float(unplanned_s[is_unexplained_long].sum())
        # Minor stops with unplanned time here; run ids ascend, so count the distinct ones.
        counted_runs = run_id[is_minor & (unplanned_s > 0)]
        minor_stop_count = int(np.count_nonzero(np.diff(counted_runs, prepend=-1)))
        listed = np.flatnonzero(is_unexplained_long & (unplanned_s > 0))
        needs_reason = tuple(
            NeedsReasonInterval(start_s=float(start_s[i]), end_s=float(end_s[i])) for i in listed
        )

    elements = _elements_from_sums(
        [float(value) for value in sums_s],
        period_length_s=period_end_s - period_start_s,
        planned_window_s=cover.total_s,
        minor_stop_time_s=minor_stop_time_s,
        needs_reason_time_s=needs_reason_time_s,
    )
    return TimelineResult(
        elements=elements, needs_reason=needs_reason, minor_stop_count=minor_stop_count
    )


def _elements_from_sums(
    sums_s: list[float],
    *,
    period_length_s: float,
    planned_window_s: float,
    minor_stop_time_s: float,
    needs_reason_time_s: float,
) -> OeeElements:
    booked_s = sums_s[_APT] + sums_s[_AUST] + sums_s[_ADET] + sums_s[_ADOT] + sums_s[_PDOT]
    # Gaps and "unknown" intervals: the unplanned time not booked to any element.
    no_data_time_s = max(0.0, (period_length_s - planned_window_s) - booked_s)
    return OeeElements(
        planned_operation_time_s=period_length_s,
        planned_down_time_s=planned_window_s + sums_s[_PDOT],
        actual_production_time_s=sums_s[_APT],
        actual_setup_time_s=sums_s[_AUST],
        actual_delay_time_s=sums_s[_ADET],
        actual_down_time_s=sums_s[_ADOT],
        no_data_time_s=no_data_time_s,
        minor_stop_time_s=minor_stop_time_s,
        needs_reason_time_s=needs_reason_time_s,
    )


class OpenPeriodAccumulator:
    """Elements of an open period kept current one state change at a time.

    Each :meth:`apply` closes the current stop at the event time and books it (O(log W) for W
    planned windows); :meth:`snapshot` adds the still-open stop up to ``now_s`` in O(1). A
    state change equal to the current state and reason continues the current stop (repeated
    events are harmless). Before the first event (and without ``initial_state``) the time is
    no data. The result equals :func:`compute_time_elements` over the intervals the events
    describe, with the last one ending at ``now_s``.

    A change that must rewrite the past — an event older than the last one
    (:class:`LateEventError`) or a reason assigned to a closed interval — needs a full
    recompute of the period.
    """

    def __init__(
        self,
        *,
        period_start_s: float,
        period_end_s: float,
        planned_down_windows: Sequence[tuple[float, float]] = (),
        micro_stop_threshold_s: float = DEFAULT_MICRO_STOP_THRESHOLD_S,
        initial_state: EquipmentState | None = None,
        initial_reason_element: IsoTimeElement | None = None,
        initial_state_since_s: float | None = None,
    ) -> None:
        _check_period(period_start_s, period_end_s)
        _check_threshold(micro_stop_threshold_s)
        self._period_start_s = period_start_s
        self._period_end_s = period_end_s
        self._threshold_s = micro_stop_threshold_s
        self._cover = _PlannedCover(planned_down_windows, period_start_s, period_end_s)
        self._sums_s = [0.0] * _ELEMENT_COUNT
        self._minor_stop_time_s = 0.0
        self._needs_reason_time_s = 0.0
        self._minor_stop_count = 0
        self._needs_reason: list[NeedsReasonInterval] = []
        self._state: EquipmentState | None = None
        self._reason: IsoTimeElement | None = None
        self._since_s = period_start_s
        self._last_event_s = -math.inf
        if initial_state is not None:
            since_s = period_start_s if initial_state_since_s is None else initial_state_since_s
            if since_s > period_start_s:
                raise ValueError(
                    "initial_state_since_s must not be after the period start; apply a state "
                    "change instead."
                )
            self.apply(since_s, initial_state, initial_reason_element)
        elif initial_state_since_s is not None or initial_reason_element is not None:
            raise ValueError("initial_state_since_s and initial_reason_element need initial_state.")

    @property
    def last_event_s(self) -> float:
        """Time of the last state change applied (−inf before the first)."""
        return self._last_event_s

    def apply(
        self,
        ts_s: float,
        state: EquipmentState | str,
        reason_element: IsoTimeElement | str | None = None,
    ) -> None:
        """Apply the state change at ``ts_s``; raises :class:`LateEventError` if it is late."""
        ts_s = float(ts_s)
        if not math.isfinite(ts_s):
            raise ValueError(f"The event time must be finite, got {ts_s!r}.")
        if ts_s < self._last_event_s:
            raise LateEventError(ts_s, self._last_event_s)
        try:
            new_state = EquipmentState(state)
            new_reason = None if reason_element is None else IsoTimeElement(reason_element)
        except ValueError:
            raise ValueError(
                f"Unknown equipment state {state!r} or ISO element {reason_element!r}."
            ) from None
        self._last_event_s = ts_s
        if self._state is not None and new_state == self._state and new_reason == self._reason:
            return  # the same stop continues
        if self._state is not None:
            self._book(self._state, self._reason, self._since_s, ts_s, self._sums_s, closing=True)
        self._state, self._reason, self._since_s = new_state, new_reason, ts_s

    def _book(
        self,
        state: EquipmentState,
        reason: IsoTimeElement | None,
        start_s: float,
        end_s: float,
        sums_s: list[float],
        *,
        closing: bool,
        period_end_s: float | None = None,
    ) -> tuple[float, float, int, NeedsReasonInterval | None]:
        """Book ``[start_s, end_s)`` into ``sums_s``; returns its minor / needs-reason parts.

        With ``closing`` the parts are added to the accumulator's totals as well.
        """
        limit_s = self._period_end_s if period_end_s is None else period_end_s
        clipped_start_s = min(max(start_s, self._period_start_s), limit_s)
        clipped_end_s = min(max(end_s, self._period_start_s), limit_s)
        unplanned_s = (clipped_end_s - clipped_start_s) - (
            self._cover.covered(clipped_end_s) - self._cover.covered(clipped_start_s)
        )
        element = _element_of(state, reason)
        sums_s[element] += unplanned_s
        minor_s, needs_s, minor_count = 0.0, 0.0, 0
        needs_interval: NeedsReasonInterval | None = None
        if element == _ADET:
            if end_s - start_s < self._threshold_s:
                minor_s = unplanned_s
                minor_count = 1 if unplanned_s > 0 else 0
            elif state == EquipmentState.DOWN and reason is None:
                needs_s = unplanned_s
                if unplanned_s > 0:
                    needs_interval = NeedsReasonInterval(start_s=start_s, end_s=end_s)
        if closing:
            self._minor_stop_time_s += minor_s
            self._needs_reason_time_s += needs_s
            self._minor_stop_count += minor_count
            if needs_interval is not None:
                self._needs_reason.append(needs_interval)
        return minor_s, needs_s, minor_count, needs_interval

    def snapshot(self, now_s: float) -> TimelineResult:
        """Elements of ``[period_start_s, min(now_s, period_end_s))``, the open stop included."""
        if not math.isfinite(now_s):
            raise ValueError(f"now_s must be finite, got {now_s!r}.")
        if now_s < self._last_event_s:
            raise ValueError(
                f"now_s ({now_s}) is before the last state change applied ({self._last_event_s})."
            )
        end_s = min(max(now_s, self._period_start_s), self._period_end_s)
        sums_s = list(self._sums_s)
        minor_stop_time_s = self._minor_stop_time_s
        needs_reason_time_s = self._needs_reason_time_s
        minor_stop_count = self._minor_stop_count
        needs_reason = list(self._needs_reason)
        if self._state is not None:
            minor_s, needs_s, minor_count, needs_interval = self._book(
                self._state,
                self._reason,
                self._since_s,
                now_s,
                sums_s,
                closing=False,
                period_end_s=end_s,
            )
            minor_stop_time_s += minor_s
            needs_reason_time_s += needs_s
            minor_stop_count += minor_count
            if needs_interval is not None:
                needs_reason.append(needs_interval)
        elements = _elements_from_sums(
            sums_s,
            period_length_s=end_s - self._period_start_s,
            planned_window_s=self._cover.covered(end_s),
            minor_stop_time_s=minor_stop_time_s,
            needs_reason_time_s=needs_reason_time_s,
        )
        return TimelineResult(
            elements=elements,
            needs_reason=tuple(needs_reason),
            minor_stop_count=minor_stop_count,
        )
