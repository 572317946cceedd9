"""Per-line order state machine as pure transitions (DESIGN §6.4), Django-free.

The stages an order passes on its line, each left by the station event that reports it done::

    new ──order_started──► locating_parts ──parts_located──► classifying_parts
      ──parts_classified──► distributing_pallet ──pallet_distributed──► machining
      ──machining_done──► quality_control ──quality_passed──► storage
                                   └──quality_failed──► machining   (rework, counted)
      storage ──stored──► updating_stock ──stock_updated──► complete

``cancelled`` is reachable from every stage before ``complete`` with the ``cancelled`` event.
``complete`` and ``cancelled`` are final. :func:`advance` returns the new state or raises a
:class:`LineOrderTransitionError` subclass naming the stage, the event and what was allowed.
Event times are epoch seconds, passed in; an event older than the state's last update is
refused (:class:`StaleEventError`), so redelivered or reordered station messages cannot move an
order backwards.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "TRANSITIONS",
    "LineOrderEvent",
    "LineOrderEventKind",
    "LineOrderStage",
    "LineOrderState",
    "LineOrderTransitionError",
    "OrderFinishedError",
    "StaleEventError",
    "TransitionNotAllowedError",
    "advance",
    "allowed_events",
    "start_state",
]


class LineOrderStage(enum.StrEnum):
    NEW = "new"
    LOCATING_PARTS = "locating_parts"
    CLASSIFYING_PARTS = "classifying_parts"
    DISTRIBUTING_PALLET = "distributing_pallet"
    MACHINING = "machining"
    QUALITY_CONTROL = "quality_control"
    STORAGE = "storage"
    UPDATING_STOCK = "updating_stock"
    COMPLETE = "complete"
    CANCELLED = "cancelled"


class LineOrderEventKind(enum.StrEnum):
    ORDER_STARTED = "order_started"
    PARTS_LOCATED = "parts_located"
    PARTS_CLASSIFIED = "parts_classified"
    PALLET_DISTRIBUTED = "pallet_distributed"
    MACHINING_DONE = "machining_done"
    QUALITY_PASSED = "quality_passed"
    QUALITY_FAILED = "quality_failed"
    STORED = "stored"
    STOCK_UPDATED = "stock_updated"
    CANCELLED = "cancelled"


_Stage = LineOrderStage
_Event = LineOrderEventKind

TRANSITIONS: MappingProxyType[LineOrderStage, MappingProxyType[LineOrderEventKind, LineOrderStage]]
TRANSITIONS = MappingProxyType(
    {
        stage: MappingProxyType(moves)
        for stage, moves in {
            _Stage.NEW: {_Event.ORDER_STARTED: _Stage.LOCATING_PARTS},
            _Stage.LOCATING_PARTS: {_Event.PARTS_LOCATED: _Stage.CLASSIFYING_PARTS},
            _Stage.CLASSIFYING_PARTS: {_Event.PARTS_CLASSIFIED: _Stage.DISTRIBUTING_PALLET},
            _Stage.DISTRIBUTING_PALLET: {_Event.PALLET_DISTRIBUTED: _Stage.MACHINING},
            _Stage.MACHINING: {_Event.MACHINING_DONE: _Stage.QUALITY_CONTROL},
            _Stage.QUALITY_CONTROL: {
                _Event.QUALITY_PASSED: _Stage.STORAGE,
                _Event.QUALITY_FAILED: _Stage.MACHINING,
            },
            _Stage.STORAGE: {_Event.STORED: _Stage.UPDATING_STOCK},
            _Stage.UPDATING_STOCK: {_Event.STOCK_UPDATED: _Stage.COMPLETE},
            _Stage.COMPLETE: {},
            _Stage.CANCELLED: {},
        }.items()
    }
)
"""Allowed moves per stage (``cancelled`` is added for every stage that is not final)."""

FINAL_STAGES = frozenset({LineOrderStage.COMPLETE, LineOrderStage.CANCELLED})


class LineOrderTransitionError(ValueError):
    """An event that cannot be applied to the order's current state."""


class TransitionNotAllowedError(LineOrderTransitionError):
    def __init__(self, state: LineOrderState, event: LineOrderEvent) -> None:
        self.stage = state.stage
        self.event_kind = event.kind
        self.allowed = allowed_events(state.stage)
        allowed_text = ", ".join(sorted(kind.value for kind in self.allowed))
        super().__init__(
            f"order {state.order_id}: event {event.kind.value!r} is not allowed in stage "
            f"{state.stage.value!r} (allowed: {allowed_text})"
        )


class OrderFinishedError(LineOrderTransitionError):
    def __init__(self, state: LineOrderState, event: LineOrderEvent) -> None:
        self.stage = state.stage
        self.event_kind = event.kind
        super().__init__(
            f"order {state.order_id} is {state.stage.value}; event {event.kind.value!r} refused"
        )


class StaleEventError(LineOrderTransitionError):
    def __init__(self, state: LineOrderState, event: LineOrderEvent) -> None:
        self.stage = state.stage
        self.event_kind = event.kind
        super().__init__(
            f"order {state.order_id}: event {event.kind.value!r} at {event.at_s} is older than "
            f"the last update at {state.updated_at_s}"
        )


@dataclass(frozen=True, slots=True)
class LineOrderState:
    """Where one order is on its line. ``rework_count`` counts failed quality controls."""

    order_id: str
    line_id: str
    stage: LineOrderStage
    updated_at_s: float
    rework_count: int = 0
    last_station_id: str | None = None

    @property
    def is_final(self) -> bool:
        return self.stage in FINAL_STAGES


@dataclass(frozen=True, slots=True)
class LineOrderEvent:
    """A station's report: what happened, when (epoch s), and at which station."""

    kind: LineOrderEventKind
    at_s: float
    station_id: str | None = None


def start_state(order_id: str, line_id: str, created_at_s: float) -> LineOrderState:
    if not order_id or not line_id:
        raise ValueError("order_id and line_id are required")
    if not math.isfinite(created_at_s):
        raise ValueError(f"created_at_s must be finite, got {created_at_s!r}")
    return LineOrderState(order_id, line_id, LineOrderStage.NEW, float(created_at_s))


def allowed_events(stage: LineOrderStage) -> frozenset[LineOrderEventKind]:
    if stage in FINAL_STAGES:
        return frozenset()
    return frozenset(TRANSITIONS[stage]) | {LineOrderEventKind.CANCELLED}


def advance(state: LineOrderState, event: LineOrderEvent) -> LineOrderState:
    """Apply a station event; return the new state (the input is never changed)."""
    if not math.isfinite(event.at_s):
        raise ValueError(f"event time must be finite, got {event.at_s!r}")
    if state.is_final:
        raise OrderFinishedError(state, event)
    if event.at_s < state.updated_at_s:
        raise StaleEventError(state, event)
    if event.kind is LineOrderEventKind.CANCELLED:
        target = LineOrderStage.CANCELLED
    else:
        moves = TRANSITIONS[state.stage]
        if event.kind not in moves:
            raise TransitionNotAllowedError(state, event)
        target = moves[event.kind]
    rework = state.rework_count + (1 if event.kind is LineOrderEventKind.QUALITY_FAILED else 0)
    return LineOrderState(
        state.order_id,
        state.line_id,
        target,
        float(event.at_s),
        rework,
        event.station_id if event.station_id is not None else state.last_station_id,
    )
