"""Stream simulation: orders arriving over time, dispatched by the online rule.

A discrete-event simulation (the arrival times are passed in). Each line works through its
queue first in, first out, one order after another, an order taking ``Σ_p n_p·t_{p,m}``; an
order's units count towards the line's load from its dispatch until it is finished, so
capacity frees as work completes. Orders that find no room wait in a backlog and are
dispatched (first in, first out, skipping those that still do not fit) whenever an order
finishes.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from planning.algorithms.dispatch.model import (
    CostWeights,
    Decision,
    DispatchConfig,
    DispatchInputError,
    Line,
    Order,
)
from planning.algorithms.dispatch.online import apply_rule, order_costs
from planning.algorithms.dispatch.validation import (
    finite,
    validate_lines,
    validate_order,
    validate_weights,
)


@dataclass(frozen=True, slots=True)
class LineStreamSummary:
    line_id: str
    order_count: int
    units: int
    busy_time_s: float
    max_load_units: int


@dataclass(frozen=True, slots=True)
class StreamResult:
    """Outcome of :func:`simulate_order_stream`; ``decisions`` in dispatch order."""

    lines: tuple[LineStreamSummary, ...]
    decisions: tuple[Decision, ...]
    dispatched_at_s: Mapping[str, float]
    completed_at_s: Mapping[str, float]
    backlog_waits: int
    max_backlog_wait_s: float
    end_s: float

    def unit_share(self, line_id: str) -> float:
        total = sum(item.units for item in self.lines)
        units = next(item.units for item in self.lines if item.line_id == line_id)
        return units / total if total else 0.0


@dataclass(order=True)
class _Event:
    time_s: float
    rank: int
    sequence: int
    kind: str = field(compare=False)
    line_index: int = field(compare=False, default=-1)
    order: Order | None = field(compare=False, default=None)


class _Floor:
    """The lines while the stream runs: their loads, when each is free, what each did, and
    the pending events."""

    def __init__(self, lines: Sequence[Line], weights: CostWeights, config: DispatchConfig) -> None:
        self.lines = lines
        self.weights = weights
        self.threshold = config.cost_ratio_threshold
        self.line_index = {line.id: index for index, line in enumerate(lines)}
        self.loads = {line.id: 0 for line in lines}
        self.free_at = [-math.inf] * len(lines)
        self.order_counts = [0] * len(lines)
        self.unit_counts = [0] * len(lines)
        self.busy = [0.0] * len(lines)
        self.max_loads = [0] * len(lines)
        self.decisions: list[Decision] = []
        self.dispatched_at: dict[str, float] = {}
        self.completed_at: dict[str, float] = {}
        self.events: list[_Event] = []
        self.sequence = itertools.count()

    def add_arrivals(self, arrivals: Sequence[tuple[float, Order]]) -> None:
        for arrival_s, order in arrivals:
            self.events.append(
                _Event(float(arrival_s), 1, next(self.sequence), "arrival", order=order)
            )
        heapq.heapify(self.events)

    def dispatch(self, order: Order, now_s: float) -> bool:
        """Send the order to its line by the online rule; False when no line has room."""
        decision = apply_rule(
            order, order_costs(order, self.lines, self.loads, self.weights), self.threshold
        )
        if decision.line_id is None:
            return False
        self.decisions.append(decision)
        index = self.line_index[decision.line_id]
        line = self.lines[index]
        duration = sum(
            quantity * line.part_rates[part].time_s for part, quantity in order.quantities.items()
        )
        start = max(now_s, self.free_at[index])
        self.free_at[index] = start + duration
        self.loads[line.id] += order.quantity_units
        self.max_loads[index] = max(self.max_loads[index], self.loads[line.id])
        self.order_counts[index] += 1
        self.unit_counts[index] += order.quantity_units
        self.busy[index] += duration
        self.dispatched_at[order.id] = now_s
        heapq.heappush(
            self.events,
            _Event(self.free_at[index], 0, next(self.sequence), "completion", index, order),
        )
        return True

    def complete(self, event: _Event, order: Order) -> None:
        """The order of a completion event is finished: its units leave the line's load."""
        line = self.lines[event.line_index]
        self.loads[line.id] -= order.quantity_units
        self.completed_at[order.id] = event.time_s

    def summaries(self) -> tuple[LineStreamSummary, ...]:
        return tuple(
            LineStreamSummary(
                line.id,
                self.order_counts[i],
                self.unit_counts[i],
                self.busy[i],
                self.max_loads[i],
            )
            for i, line in enumerate(self.lines)
        )


def simulate_order_stream(
    arrivals: Sequence[tuple[float, Order]],
    lines: Sequence[Line],
    *,
    weights: CostWeights | None = None,
    config: DispatchConfig | None = None,
) -> StreamResult:
    """Dispatch orders arriving at the given times (epoch seconds) with the online rule.

    Completions at the same instant as an arrival are processed first (capacity frees before
    the new order is dispatched).
    """
    weights = weights or CostWeights()
    config = config or DispatchConfig()
    _validate_stream(arrivals, lines, weights, config)
    floor = _Floor(lines, weights, config)
    floor.add_arrivals(arrivals)
    backlog: list[tuple[float, Order]] = []
    backlog_waits = 0
    max_wait = 0.0
    end_s = -math.inf
    while floor.events:
        event = heapq.heappop(floor.events)
        assert event.order is not None
        if event.kind == "completion":
            floor.complete(event, event.order)
            end_s = max(end_s, event.time_s)
            backlog, longest_wait_s = _dispatch_backlog(floor, backlog, event.time_s)
            max_wait = max(max_wait, longest_wait_s)
        elif not floor.dispatch(event.order, event.time_s):
            backlog.append((event.time_s, event.order))
            backlog_waits += 1
    return StreamResult(
        floor.summaries(),
        tuple(floor.decisions),
        MappingProxyType(floor.dispatched_at),
        MappingProxyType(floor.completed_at),
        backlog_waits,
        max_wait,
        end_s if math.isfinite(end_s) else 0.0,
    )


def _validate_stream(
    arrivals: Sequence[tuple[float, Order]],
    lines: Sequence[Line],
    weights: CostWeights,
    config: DispatchConfig,
) -> None:
    validate_lines(lines)
    validate_weights(weights, config)
    seen: set[str] = set()
    for arrival_s, order in arrivals:
        finite(arrival_s, f"order {order.id}: arrival time")
        if order.id in seen:
            raise DispatchInputError(f"duplicate order id {order.id!r}")
        seen.add(order.id)
        validate_order(order, lines)


def _dispatch_backlog(
    floor: _Floor, backlog: list[tuple[float, Order]], now_s: float
) -> tuple[list[tuple[float, Order]], float]:
    """Dispatch the waiting orders that now fit (first in, first out); return the orders
    still waiting and the longest wait among those dispatched (0 if none)."""
    still_waiting: list[tuple[float, Order]] = []
    longest_wait_s = 0.0
    for waiting_since, order in backlog:
        if floor.dispatch(order, now_s):
            longest_wait_s = max(longest_wait_s, now_s - waiting_since)
        else:
            still_waiting.append((waiting_since, order))
    return still_waiting, longest_wait_s


def random_order_stream(
    *,
    seed: int,
    order_count: int,
    part_types: Sequence[str],
    mean_interarrival_s: float,
    max_units_per_part: int = 6,
    start_s: float = 0.0,
) -> list[tuple[float, Order]]:
    """Seeded stream of mixed orders: exponential inter-arrival times, 0..max units of each
    part type (at least one unit per order)."""
    if order_count < 0 or mean_interarrival_s <= 0 or max_units_per_part < 1 or not part_types:
        raise DispatchInputError("need order_count ≥ 0, a positive mean, max units ≥ 1, types")
    generator = np.random.default_rng(seed)
    arrival_s = start_s
    stream: list[tuple[float, Order]] = []
    for number in range(order_count):
        arrival_s += float(generator.exponential(mean_interarrival_s))
        quantities: dict[str, int] = {}
        while not quantities:
            drawn = generator.integers(0, max_units_per_part + 1, size=len(part_types))
            quantities = {
                part: int(count) for part, count in zip(part_types, drawn, strict=True) if count
            }
        stream.append((arrival_s, Order(f"O{number:05d}", quantities)))
    return stream
