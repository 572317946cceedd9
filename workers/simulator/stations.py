"""Station events of customer orders on an assembly line (pure, Django-free).

A line works its dispatched orders one at a time, oldest first, through the line order state
machine of DESIGN §6.4. Each station reports the end of its step with an ``_event`` of type
``station``::

    {"type": "station", "station": "<step>", "order": "<order number>"}
    {"type": "station", "station": "quality_control", "order": "...", "result": "pass"|"fail"}

in this order: ``order_start``, ``warehouse_locate``, ``classification``,
``distribute_pallet``, ``machining``, ``quality_control`` (a ``fail`` sends the order back to
``machining`` for rework, then ``quality_control`` again), ``storage``, ``update_stock`` and
finally ``complete``. ``complete`` confirms the order is finished; in
``planning.algorithms.line_order`` terms the events are ``order_started``,
``parts_located``, ``parts_classified``, ``pallet_distributed``, ``machining_done``,
``quality_passed``/``quality_failed``, ``stored`` and ``stock_updated``.

Each event is published on the equipment of the station's cell (:data:`STATION_CELLS`; the
first equipment of the line when the cell is missing). Step durations grow with the order's
quantity (:data:`STEP_DURATIONS_S`, each ×U(0.8, 1.2)); a quality control fails with
probability ``quality_failure_probability`` (at most ``max_reworks`` times per order). Each
order draws from its own random stream (seed, order number), so its events do not depend on
the other orders or on when the database was polled.

The orders come from the database (``orders_update``, every few seconds). An order that is no
longer dispatched to this line (cancelled, re-dispatched) is dropped, its remaining events
unpublished — except ``complete``, which follows ``update_stock`` after the MES has already
marked the order completed. An order the MES already moved on (``line_step`` set, e.g. after
a simulator restart) continues after its recorded step; after a failed quality control the MES
records ``distribute_pallet``, so the order resumes with ``machining``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from workers.simulator.model import OrderSpec, random_stream

__all__ = [
    "STATION_CELLS",
    "STATION_SEQUENCE",
    "LineStationRunner",
    "StationEvent",
    "StationSettings",
    "plan_order",
]

STATION_SEQUENCE: Final = (
    "order_start",
    "warehouse_locate",
    "classification",
    "distribute_pallet",
    "machining",
    "quality_control",
    "storage",
    "update_stock",
    "complete",
)

# Where each step happens: the cell code of the station on an assembly line.
STATION_CELLS: Final = {
    "order_start": "distribution",
    "warehouse_locate": "storage",
    "classification": "classification",
    "distribute_pallet": "distribution",
    "machining": "machining",
    "quality_control": "quality_control",
    "storage": "storage",
    "update_stock": "storage",
    "complete": "storage",
}

# (fixed seconds, seconds per part) of each step.
STEP_DURATIONS_S: Final = {
    "order_start": (2.0, 0.0),
    "warehouse_locate": (6.0, 1.0),
    "classification": (0.0, 2.0),
    "distribute_pallet": (4.0, 0.5),
    "machining": (0.0, 5.0),
    "quality_control": (0.0, 1.5),
    "storage": (0.0, 2.0),
    "update_stock": (2.0, 0.0),
    "complete": (1.0, 0.0),
}


@dataclass(frozen=True)
class StationSettings:
    quality_failure_probability: float = 0.2
    max_reworks: int = 3
    rework_share: float = 0.2  # share of the parts machined again after a failed control

    def __post_init__(self) -> None:
        if not 0 <= self.quality_failure_probability < 1:
            raise ValueError("quality_failure_probability must lie in [0, 1)")
        if self.max_reworks < 0:
            raise ValueError("max_reworks must be ≥ 0")
        if not 0 < self.rework_share <= 1:
            raise ValueError("rework_share must lie in (0, 1]")


@dataclass(frozen=True, slots=True)
class StationEvent:
    ts_ms: int
    order: str
    station: str
    result: str | None = None

    def fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"station": self.station, "order": self.order}
        if self.result is not None:
            fields["result"] = self.result
        return fields


def _remaining_steps(line_step: str) -> tuple[str, ...]:
    if not line_step:
        return STATION_SEQUENCE
    if line_step not in STATION_SEQUENCE:
        raise ValueError(f"unknown line step {line_step!r} (known: {', '.join(STATION_SEQUENCE)})")
    return STATION_SEQUENCE[STATION_SEQUENCE.index(line_step) + 1 :]


def plan_order(
    order: OrderSpec, start_ms: int, *, seed: int, settings: StationSettings
) -> list[StationEvent]:
    """Every station event of ``order`` when its line starts it at ``start_ms``."""
    rng = random_stream(seed, "order", order.number)
    events: list[StationEvent] = []
    now_ms = float(start_ms)
    reworks = 0

    def finish(step: str, part_count: float, result: str | None = None) -> None:
        nonlocal now_ms
        fixed_s, per_part_s = STEP_DURATIONS_S[step]
        now_ms += (fixed_s + per_part_s * part_count) * 1000 * float(rng.uniform(0.8, 1.2))
        events.append(StationEvent(round(now_ms), order.number, step, result))

    for step in _remaining_steps(order.line_step):
        if step != "quality_control":
            finish(step, order.quantity)
            continue
        while True:
            is_failed = (
                reworks < settings.max_reworks
                and rng.random() < settings.quality_failure_probability
            )
            finish(step, order.quantity, "fail" if is_failed else "pass")
            if not is_failed:
                break
            reworks += 1
            finish("machining", max(1, math.ceil(order.quantity * settings.rework_share)))
    return events


class LineStationRunner:
    """Runs the orders dispatched to one line and emits their station events."""

    def __init__(
        self,
        line_path: str,
        station_equipment: Mapping[str, str],
        *,
        seed: int,
        settings: StationSettings | None = None,
    ) -> None:
        missing = [step for step in STATION_SEQUENCE if step not in station_equipment]
        if missing:
            raise ValueError(f"line {line_path}: no equipment for the step(s) {missing}")
        self.line_path = line_path
        self._station_equipment = dict(station_equipment)
        self._seed = seed
        self._settings = settings or StationSettings()
        self._queue: list[OrderSpec] = []
        self._current: OrderSpec | None = None
        self._plan: list[StationEvent] = []
        self._line_free_ms = -math.inf
        self._finished: set[str] = set()

    @property
    def current_order(self) -> str | None:
        return self._current.number if self._current else None

    @property
    def queued_orders(self) -> tuple[str, ...]:
        return tuple(order.number for order in self._queue)

    def equipment_for(self, station: str) -> str:
        return self._station_equipment[station]

    def orders_update(self, orders: Sequence[OrderSpec], at_ms: int) -> None:
        """The orders the database now holds as dispatched to / in progress on this line."""
        mine = [order for order in orders if order.line_path == self.line_path]
        numbers = {order.number for order in mine}
        if (
            self._current is not None
            and self._current.number not in numbers
            and any(event.station != "complete" for event in self._plan)
        ):
            # Cancelled or moved to another line: stop publishing it. (An order whose only
            # remaining event is ``complete`` has been completed by the MES after its
            # ``update_stock``: it finishes normally.)
            self._current, self._plan = None, []
            self._line_free_ms = at_ms
        known = {order.number for order in self._queue}
        if self._current is not None:
            known.add(self._current.number)
        self._queue = [order for order in self._queue if order.number in numbers]
        for order in mine:
            if order.number in known or order.number in self._finished:
                continue
            if order.line_step == STATION_SEQUENCE[-1]:
                self._finished.add(order.number)
                continue
            self._queue.append(order)
        self._start_next(at_ms)

    def _start_next(self, at_ms: float) -> None:
        if self._current is not None or not self._queue:
            return
        self._current = self._queue.pop(0)
        start_ms = round(max(at_ms, self._line_free_ms))
        self._plan = plan_order(self._current, start_ms, seed=self._seed, settings=self._settings)

    def advance(self, until_ms: int) -> list[StationEvent]:
        emitted: list[StationEvent] = []
        while self._current is not None:
            while self._plan and self._plan[0].ts_ms <= until_ms:
                emitted.append(self._plan.pop(0))
            if self._plan:
                break
            finished = self._current
            self._finished.add(finished.number)
            self._line_free_ms = emitted[-1].ts_ms if emitted else until_ms
            self._current = None
            self._start_next(self._line_free_ms)
        return emitted
