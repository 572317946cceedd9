"""Equipment state machine with good/scrap counts (pure, Django-free).

An equipment produces parts in batches (one batch per order). While producing it completes a
part every cycle time (±5 %) and publishes a ``count`` event per part; it is interrupted by
stops whose onsets form a Poisson process over the producing time (one rate per kind):

=============  ========  ==============  ===================================================
kind           state     duration        reason
=============  ========  ==============  ===================================================
minor stop     down      15–110 s        none: the MES books a short unexplained stop as a
                                         minor stop (< 120 s)
breakdown      down      150–1200 s      a breakdown code, or none (≈ 40 %) so that an
                                         operator has to classify it
starved        starved   30–300 s        ORG_STARVED (assembly stations)
blocked        blocked   30–240 s        ORG_BLOCKED (assembly stations)
=============  ========  ==============  ===================================================

After the last part of a batch the equipment is set up for the next order (``setup``,
SETUP_CHANGEOVER or SETUP_TOOL), sometimes after waiting for an order first (``idle``,
ORG_NO_ORDER). The owner can schedule a failure (the degrading spindle's bearing): the
equipment goes ``down`` with BREAKDOWN_SPINDLE for the repair time, the part in process is
scrapped, and production resumes afterwards.

Every state change publishes one ``state`` event ``{"state", "reason"}``; the first one is the
state at the start of the run. All randomness comes from the generator passed in.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from workers.simulator.model import MachineState

__all__ = [
    "SPINDLE_BEHAVIOUR",
    "STATION_BEHAVIOUR",
    "Machine",
    "MachineBehaviour",
    "MachineEvent",
    "StopKind",
]

MINOR_STOP_LIMIT_S: Final = 120.0
SPINDLE_FAILURE_REASON: Final = "BREAKDOWN_SPINDLE"

WeightedReasons = tuple[tuple[str | None, float], ...]


def _check_range(name: str, low: float, high: float) -> None:
    if not (math.isfinite(low) and math.isfinite(high) and 0 <= low <= high):
        raise ValueError(f"{name} must be a range 0 ≤ low ≤ high, got ({low}, {high})")


def _check_reasons(name: str, reasons: WeightedReasons) -> None:
    if not reasons or any(not (weight > 0 and math.isfinite(weight)) for _, weight in reasons):
        raise ValueError(f"{name} needs at least one reason with a positive weight")


@dataclass(frozen=True)
class StopKind:
    """A way production gets interrupted."""

    name: str
    state: MachineState
    mean_interval_s: float  # mean producing time between two stops of this kind
    duration_s: tuple[float, float]  # drawn uniformly
    reasons: WeightedReasons  # (reason code or None, weight)

    def __post_init__(self) -> None:
        if self.state is MachineState.PRODUCING:
            raise ValueError(f"stop {self.name}: a stop cannot be 'producing'")
        if not (self.mean_interval_s > 0 and math.isfinite(self.mean_interval_s)):
            raise ValueError(f"stop {self.name}: mean_interval_s must be positive")
        _check_range(f"stop {self.name} duration_s", *self.duration_s)
        _check_reasons(f"stop {self.name}", self.reasons)


@dataclass(frozen=True)
class MachineBehaviour:
    cycle_time_s: tuple[float, float]  # per batch, drawn uniformly
    batch_size: tuple[int, int]  # parts per batch, drawn uniformly (inclusive)
    stops: tuple[StopKind, ...]
    setup_duration_s: tuple[float, float]
    setup_reasons: WeightedReasons
    idle_probability: float  # after a batch: chance of waiting for the next order first
    idle_duration_s: tuple[float, float]
    scrap_probability: float
    cycle_jitter: float = 0.05  # each part takes cycle_time · U(1 − jitter, 1 + jitter)

    def __post_init__(self) -> None:
        _check_range("cycle_time_s", *self.cycle_time_s)
        if self.cycle_time_s[0] <= 0:
            raise ValueError("cycle_time_s must be positive")
        if not 1 <= self.batch_size[0] <= self.batch_size[1]:
            raise ValueError(f"batch_size must be 1 ≤ low ≤ high, got {self.batch_size}")
        _check_range("setup_duration_s", *self.setup_duration_s)
        _check_range("idle_duration_s", *self.idle_duration_s)
        _check_reasons("setup", self.setup_reasons)
        for name in ("idle_probability", "scrap_probability", "cycle_jitter"):
            value = getattr(self, name)
            if not 0 <= value < 1:
                raise ValueError(f"{name} must lie in [0, 1), got {value}")


_BREAKDOWN_REASONS: Final[WeightedReasons] = (
    (None, 4.0),
    ("BREAKDOWN_MECH", 2.5),
    ("BREAKDOWN_ELEC", 2.0),
    ("BREAKDOWN_HYDRAULIC", 1.5),
)
_SETUP_REASONS: Final[WeightedReasons] = (("SETUP_CHANGEOVER", 4.0), ("SETUP_TOOL", 1.0))

STATION_BEHAVIOUR: Final = MachineBehaviour(
    cycle_time_s=(26.0, 34.0),
    batch_size=(40, 120),
    stops=(
        StopKind("minor_stop", MachineState.DOWN, 900.0, (15.0, 110.0), ((None, 1.0),)),
        StopKind("breakdown", MachineState.DOWN, 14_400.0, (150.0, 1200.0), _BREAKDOWN_REASONS),
        StopKind("starved", MachineState.STARVED, 2_400.0, (30.0, 300.0), (("ORG_STARVED", 1.0),)),
        StopKind("blocked", MachineState.BLOCKED, 3_600.0, (30.0, 240.0), (("ORG_BLOCKED", 1.0),)),
    ),
    setup_duration_s=(60.0, 300.0),
    setup_reasons=_SETUP_REASONS,
    idle_probability=0.15,
    idle_duration_s=(60.0, 600.0),
    scrap_probability=0.015,
)

SPINDLE_BEHAVIOUR: Final = MachineBehaviour(
    cycle_time_s=(90.0, 240.0),
    batch_size=(10, 30),
    stops=(
        StopKind("minor_stop", MachineState.DOWN, 1_200.0, (15.0, 110.0), ((None, 1.0),)),
        StopKind(
            "breakdown",
            MachineState.DOWN,
            21_600.0,
            (300.0, 1800.0),
            (*_BREAKDOWN_REASONS, (SPINDLE_FAILURE_REASON, 1.0)),
        ),
        StopKind("starved", MachineState.STARVED, 7_200.0, (60.0, 600.0), (("ORG_STARVED", 1.0),)),
    ),
    setup_duration_s=(300.0, 900.0),
    setup_reasons=_SETUP_REASONS,
    idle_probability=0.1,
    idle_duration_s=(120.0, 900.0),
    scrap_probability=0.02,
)


@dataclass(frozen=True, slots=True)
class MachineEvent:
    ts_ms: int
    event_type: str  # "state" | "count"
    data: dict[str, Any]


# What follows the current non-producing state.
_AFTER_RESUME = "resume"  # back to producing, continue the part in process
_AFTER_SETUP = "setup"  # idle is over: set up for the next batch
_AFTER_NEW_BATCH = "new_batch"  # setup is over: produce a new batch
_AFTER_REPAIR = "repair"  # the scheduled failure is repaired


class Machine:
    """One equipment's state and counts. Call :meth:`advance` with increasing times."""

    def __init__(
        self,
        behaviour: MachineBehaviour,
        rng: np.random.Generator,
        start_ms: int,
        *,
        reason_codes: Collection[str] = (),
    ) -> None:
        self._behaviour = behaviour
        self._rng = rng
        self._reason_codes = frozenset(reason_codes)
        self._stop_rate_per_ms = sum(1 / (stop.mean_interval_s * 1000) for stop in behaviour.stops)
        self.state = MachineState.PRODUCING
        self.reason: str | None = None
        self.extra_scrap_probability = 0.0
        self.repairs_completed = 0
        self.last_repair_end_ms: float | None = None
        self.good_count = 0
        self.scrap_count = 0
        self._now_ms = float(start_ms)
        self._failure_ms: float | None = None
        self._repair_ms = 0.0
        self._after = _AFTER_RESUME
        self._pending_stop: StopKind | None = None
        self._part_remaining_ms = 0.0
        self._next_part_ms = math.inf
        self._state_end_ms = math.inf
        self._batch_left = 0
        self._cycle_ms = 0.0
        self._events: list[MachineEvent] = []
        self._last_ts_ms: dict[str, int] = {}
        self._due_ms = -math.inf  # earliest pending transition, recomputed by advance()
        # The run starts in the middle of production with a fresh batch, so every machine is
        # producing (and publishing vibration) during the first minutes of a demo.
        self._new_batch()
        self._enter_producing(float(start_ms), self._draw_part_ms())
        self._emit_state(float(start_ms))

    # --- owner's controls ---------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        return self.state is MachineState.PRODUCING

    @property
    def failure_ms(self) -> float | None:
        return self._failure_ms

    def schedule_failure(self, at_ms: float, repair_s: float) -> None:
        """Break down at ``at_ms`` (BREAKDOWN_SPINDLE) and be repaired ``repair_s`` later."""
        if at_ms < self._now_ms:
            raise ValueError(f"failure at {at_ms} ms lies before the machine time {self._now_ms}")
        if not (repair_s > 0 and math.isfinite(repair_s)):
            raise ValueError(f"repair_s must be positive, got {repair_s}")
        self._failure_ms = float(at_ms)
        self._repair_ms = repair_s * 1000
        self._due_ms = min(self._due_ms, self._failure_ms)

    def advance(self, until_ms: int) -> list[MachineEvent]:
        """Run every transition due at or before ``until_ms``; return the events, in order."""
        if until_ms < self._due_ms and not self._events:  # nothing due: the common case
            self._now_ms = max(self._now_ms, float(until_ms))
            return []
        while True:
            due_ms, action = self._next_due()
            if due_ms > until_ms:
                self._due_ms = due_ms
                break
            self._now_ms = due_ms
            action(due_ms)
        self._now_ms = max(self._now_ms, float(until_ms))
        events, self._events = self._events, []
        return events

    # --- transitions ----------------------------------------------------------------------------

    def _next_due(self) -> tuple[float, Any]:
        candidates: list[tuple[float, int, Any]] = []
        if self._failure_ms is not None:
            candidates.append((self._failure_ms, 0, self._on_failure))
        if self.state is MachineState.PRODUCING:
            candidates.append((self._next_part_ms, 1, self._on_part_done))
        candidates.append((self._state_end_ms, 2, self._on_state_end))
        due_ms, _, action = min(candidates, key=lambda item: (item[0], item[1]))
        return due_ms, action

    def _uniform(self, bounds: tuple[float, float]) -> float:
        return float(self._rng.uniform(bounds[0], bounds[1]))

    def _pick_reason(self, reasons: tuple[tuple[str | None, float], ...]) -> str | None:
        weights = np.array([weight for _, weight in reasons])
        code = reasons[int(self._rng.choice(len(reasons), p=weights / weights.sum()))][0]
        if code is not None and self._reason_codes and code not in self._reason_codes:
            return None  # the plant does not know this code: publish an unexplained stop
        return code

    def _draw_part_ms(self) -> float:
        jitter = self._behaviour.cycle_jitter
        return self._cycle_ms * float(self._rng.uniform(1 - jitter, 1 + jitter))

    def _new_batch(self) -> None:
        low, high = self._behaviour.batch_size
        self._batch_left = int(self._rng.integers(low, high + 1))
        self._cycle_ms = self._uniform(self._behaviour.cycle_time_s) * 1000

    def _stamp(self, event_type: str, at_ms: float) -> int:
        """Millisecond timestamp, strictly increasing per event type: the MES keeps one event
        of a kind per equipment and instant, so two transitions < 1 ms apart stay distinct."""
        ts_ms = max(round(at_ms), self._last_ts_ms.get(event_type, -1) + 1)
        self._last_ts_ms[event_type] = ts_ms
        return ts_ms

    def _emit_state(self, at_ms: float) -> None:
        self._events.append(
            MachineEvent(
                self._stamp("state", at_ms),
                "state",
                {"state": self.state.value, "reason": self.reason},
            )
        )

    def _emit_count(self, at_ms: float, field: str) -> None:
        self._events.append(MachineEvent(self._stamp("count", at_ms), "count", {field: 1}))

    def _set_state(self, at_ms: float, state: MachineState, reason: str | None) -> None:
        if (state, reason) != (self.state, self.reason):
            self.state, self.reason = state, reason
            self._emit_state(at_ms)

    def _enter_producing(self, at_ms: float, part_ms: float) -> None:
        self._set_state(at_ms, MachineState.PRODUCING, None)
        self._next_part_ms = at_ms + part_ms
        if self._stop_rate_per_ms > 0:
            weights = np.array([1 / stop.mean_interval_s for stop in self._behaviour.stops])
            index = int(self._rng.choice(len(weights), p=weights / weights.sum()))
            self._pending_stop = self._behaviour.stops[index]
            self._state_end_ms = at_ms + float(self._rng.exponential(1 / self._stop_rate_per_ms))
        else:
            self._pending_stop = None
            self._state_end_ms = math.inf

    def _on_part_done(self, at_ms: float) -> None:
        scrap_probability = min(
            1.0, self._behaviour.scrap_probability + self.extra_scrap_probability
        )
        if self._rng.random() < scrap_probability:
            self.scrap_count += 1
            self._emit_count(at_ms, "scrap")
        else:
            self.good_count += 1
            self._emit_count(at_ms, "good")
        self._batch_left -= 1
        if self._batch_left > 0:
            self._next_part_ms = at_ms + self._draw_part_ms()
            return
        self._end_batch(at_ms)

    def _end_batch(self, at_ms: float) -> None:
        if self._rng.random() < self._behaviour.idle_probability:
            self._set_state(at_ms, MachineState.IDLE, self._known("ORG_NO_ORDER"))
            self._state_end_ms = at_ms + self._uniform(self._behaviour.idle_duration_s) * 1000
            self._after = _AFTER_SETUP
        else:
            self._start_setup(at_ms)

    def _known(self, code: str) -> str | None:
        return code if not self._reason_codes or code in self._reason_codes else None

    def _start_setup(self, at_ms: float) -> None:
        self._set_state(at_ms, MachineState.SETUP, self._pick_reason(self._behaviour.setup_reasons))
        self._state_end_ms = at_ms + self._uniform(self._behaviour.setup_duration_s) * 1000
        self._after = _AFTER_NEW_BATCH

    def _on_state_end(self, at_ms: float) -> None:
        if self.state is MachineState.PRODUCING:
            stop = self._pending_stop
            assert stop is not None
            self._part_remaining_ms = max(self._next_part_ms - at_ms, 0.0)
            self._set_state(at_ms, stop.state, self._pick_reason(stop.reasons))
            self._state_end_ms = at_ms + self._uniform(stop.duration_s) * 1000
            self._after = _AFTER_RESUME
            return
        after = self._after
        if after == _AFTER_RESUME:
            self._enter_producing(at_ms, self._part_remaining_ms)
        elif after == _AFTER_SETUP:
            self._start_setup(at_ms)
        elif after == _AFTER_NEW_BATCH:
            self._new_batch()
            self._enter_producing(at_ms, self._draw_part_ms())
        else:  # _AFTER_REPAIR
            self.repairs_completed += 1
            self.last_repair_end_ms = at_ms
            if self._batch_left > 0:
                self._enter_producing(at_ms, self._draw_part_ms())
            else:
                self._start_setup(at_ms)

    def _on_failure(self, at_ms: float) -> None:
        self._failure_ms = None
        if self.state is MachineState.PRODUCING:
            self.scrap_count += 1
            self._emit_count(at_ms, "scrap")
        self._set_state(at_ms, MachineState.DOWN, self._known(SPINDLE_FAILURE_REASON))
        self._state_end_ms = at_ms + self._repair_ms
        self._after = _AFTER_REPAIR
