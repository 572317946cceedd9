"""Multi-line order dispatch (pure, Django-free), DESIGN §6.4.

Units. For part type ``p`` on line ``m`` the line gives the time per part ``t_{p,m}`` in
seconds and the power drawn while making it ``P_{p,m}`` in watts (as the published two-line
study does). The energy per part is ``E_{p,m} = P_{p,m}·t_{p,m} / 3.6e6`` in kWh, and with the
energy price ``c_e`` (currency per kWh) the cost of an order ``n`` on line ``m`` is::

    C_m = α·Σ_p n_p·t_{p,m}  +  β·Σ_p n_p·E_{p,m}·c_e
          time term (s)          energy term (currency)

``α`` (``time_weight``, per second) and ``β`` (``energy_weight``) weigh the two terms; only the
*ratio* of costs between lines is used by the online rule, so scaling both changes nothing.
With the study's numbers the energy term is about 1e-5 of the time term (a part takes ~0.03 kWh,
i.e. under a cent at 0.25/kWh, against ~150 s), so (α, β) move decisions only with a very
large β. The module reports both terms so the weighting can be judged.

Online rule (:func:`dispatch_order`). Among the lines that can make every part type of the
order and still have room (``load + quantity ≤ capacity``, 40 units by default): when the
highest cost is more than ``h`` times the lowest (``max C / min C > h``, h = 1.3 by default)
the order goes to the cheapest line; otherwise to the line with the lowest current load (in
units). Ties: among equally cheap lines the lower load wins, among equally loaded lines the
lower cost wins, then the line listed first. A single line with room takes the order; no room
anywhere gives a backlog decision.

Batch mode (:func:`dispatch_batch`): an integer linear program (scipy.optimize.milp / HiGHS)
with binary ``x[o, m]`` and a binary backlog ``b[o]``: ``Σ_m x[o, m] + b[o] = 1`` for every
order, ``Σ_o q_o·x[o, m] ≤ capacity_m − load_m`` for every line, minimising
``Σ C[o, m]·x[o, m] + Σ penalty_o·b[o]`` with ``penalty_o = backlog_penalty_factor ·
max_m C[o, m]`` — so an order is backlogged only when capacity forces it. HiGHS on the whole
program of 1,000 orders × 20 lines finds poor solutions within one second, so by default the
LP relaxation is solved first and only the orders it splits go through the integer program
(see :func:`dispatch_batch`). A time limit bounds the call; if HiGHS returns no solution in
time, the online rule is applied order by order.

Stream simulation (:func:`simulate_order_stream`): a discrete-event simulation of orders
arriving over time (the times are passed in). Each line works through its queue first in,
first out, one order after another, an order taking ``Σ_p n_p·t_{p,m}``; an order's units count
towards the line's load from its dispatch until it is finished, so capacity frees as work
completes. Orders that find no room wait in a backlog and are dispatched (first in, first
out, skipping those that still do not fit) whenever an order finishes.
"""

from __future__ import annotations

import enum
import heapq
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

__all__ = [
    "BatchAssignment",
    "BatchResult",
    "CostWeights",
    "Decision",
    "DispatchConfig",
    "DispatchInputError",
    "DispatchRule",
    "Line",
    "LineCost",
    "LineStreamSummary",
    "NoCapableLineError",
    "NonPositiveQuantityError",
    "Order",
    "OrderTooLargeError",
    "PartRate",
    "StreamResult",
    "UnknownPartTypeError",
    "dispatch_batch",
    "dispatch_order",
    "order_costs",
    "random_order_stream",
    "simulate_order_stream",
]

JOULES_PER_KWH = 3.6e6


class DispatchInputError(ValueError):
    """Invalid lines, loads, weights or orders."""


class NonPositiveQuantityError(DispatchInputError):
    """An order asks for zero or a negative number of parts of a type (or for nothing)."""


class UnknownPartTypeError(DispatchInputError):
    """An order names a part type no line makes."""


class NoCapableLineError(DispatchInputError):
    """No single line makes every part type of the order."""


class OrderTooLargeError(DispatchInputError):
    """The order has more units than any capable line can ever hold."""


@dataclass(frozen=True, slots=True)
class PartRate:
    """Time (s) and power (W) to make one part of a type on a line."""

    time_s: float
    power_w: float

    @property
    def energy_kwh(self) -> float:
        return self.power_w * self.time_s / JOULES_PER_KWH


@dataclass(frozen=True, slots=True)
class Line:
    id: str
    part_rates: Mapping[str, PartRate]
    capacity_units: int = 40

    def __post_init__(self) -> None:
        object.__setattr__(self, "part_rates", MappingProxyType(dict(self.part_rates)))


@dataclass(frozen=True, slots=True)
class Order:
    id: str
    quantities: Mapping[str, int]

    def __post_init__(self) -> None:
        object.__setattr__(self, "quantities", MappingProxyType(dict(self.quantities)))

    @property
    def quantity_units(self) -> int:
        return sum(self.quantities.values())


@dataclass(frozen=True, slots=True)
class CostWeights:
    """α (``time_weight``), β (``energy_weight``) and c_e (``energy_price_per_kwh``)."""

    time_weight: float = 1.0
    energy_weight: float = 1.0
    energy_price_per_kwh: float = 0.25


@dataclass(frozen=True, slots=True)
class DispatchConfig:
    """``cost_ratio_threshold`` is h; ``backlog_penalty_factor`` scales the ILP's penalty."""

    cost_ratio_threshold: float = 1.3
    backlog_penalty_factor: float = 10.0


class DispatchRule(enum.StrEnum):
    CHEAPEST_LINE = "cheapest_line"
    LOWEST_LOAD = "lowest_load"
    ONLY_LINE_WITH_CAPACITY = "only_line_with_capacity"
    BACKLOG = "backlog"


@dataclass(frozen=True, slots=True)
class LineCost:
    """Cost of one order on one line (``cost`` is None when the line lacks a part type)."""

    line_id: str
    processing_time_s: float | None
    energy_kwh: float | None
    time_cost: float | None
    energy_cost: float | None
    cost: float | None
    load_units: int
    capacity_units: int
    has_capacity: bool
    can_make_order: bool


@dataclass(frozen=True, slots=True)
class Decision:
    order_id: str
    line_id: str | None
    rule: DispatchRule
    cost_ratio: float | None
    threshold: float
    line_costs: tuple[LineCost, ...]
    message: str

    @property
    def is_backlogged(self) -> bool:
        return self.line_id is None


# --------------------------------------------------------------------------------------------
# Validation and costs
# --------------------------------------------------------------------------------------------


def _finite(value: float, what: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise DispatchInputError(f"{what} must be a finite number, got {value!r}")
    return number


def _validate_lines(lines: Sequence[Line]) -> None:
    if not lines:
        raise DispatchInputError("at least one line is needed")
    seen: set[str] = set()
    for line in lines:
        if line.id in seen:
            raise DispatchInputError(f"duplicate line id {line.id!r}")
        seen.add(line.id)
        if int(line.capacity_units) != line.capacity_units or line.capacity_units <= 0:
            raise DispatchInputError(f"line {line.id}: capacity_units must be a positive integer")
        if not line.part_rates:
            raise DispatchInputError(f"line {line.id}: no part rates")
        for part_type, rate in line.part_rates.items():
            if _finite(rate.time_s, f"line {line.id}, part {part_type}: time_s") <= 0:
                raise DispatchInputError(f"line {line.id}, part {part_type}: time_s must be > 0")
            if _finite(rate.power_w, f"line {line.id}, part {part_type}: power_w") < 0:
                raise DispatchInputError(f"line {line.id}, part {part_type}: power_w must be ≥ 0")


def _validate_weights(weights: CostWeights, config: DispatchConfig) -> None:
    for name in ("time_weight", "energy_weight", "energy_price_per_kwh"):
        if _finite(getattr(weights, name), name) < 0:
            raise DispatchInputError(f"{name} must be ≥ 0")
    if weights.time_weight == 0 and weights.energy_weight == 0:
        raise DispatchInputError("time_weight and energy_weight cannot both be 0")
    if _finite(config.cost_ratio_threshold, "cost_ratio_threshold") < 1:
        raise DispatchInputError("cost_ratio_threshold h must be ≥ 1")
    if _finite(config.backlog_penalty_factor, "backlog_penalty_factor") <= 1:
        raise DispatchInputError("backlog_penalty_factor must be > 1")


def _validate_loads(lines: Sequence[Line], loads_units: Mapping[str, int]) -> dict[str, int]:
    known = {line.id for line in lines}
    for line_id, load in loads_units.items():
        if line_id not in known:
            raise DispatchInputError(f"load given for unknown line {line_id!r}")
        if int(load) != load or load < 0:
            raise DispatchInputError(f"line {line_id}: load must be a non-negative integer")
    return {line.id: int(loads_units.get(line.id, 0)) for line in lines}


def _validate_order(order: Order, lines: Sequence[Line]) -> list[Line]:
    """Check the order; return the lines that make every one of its part types."""
    if not order.quantities:
        raise NonPositiveQuantityError(f"order {order.id}: no parts ordered")
    for part_type, quantity in order.quantities.items():
        if isinstance(quantity, bool) or int(quantity) != quantity:
            raise NonPositiveQuantityError(
                f"order {order.id}: quantity of {part_type} must be a whole number, "
                f"got {quantity!r}"
            )
        if quantity <= 0:
            raise NonPositiveQuantityError(
                f"order {order.id}: quantity of {part_type} must be > 0, got {quantity}"
            )
    known_types = {part_type for line in lines for part_type in line.part_rates}
    unknown = sorted(set(order.quantities) - known_types)
    if unknown:
        raise UnknownPartTypeError(
            f"order {order.id}: no line makes part type(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(known_types))})"
        )
    capable = [line for line in lines if all(part in line.part_rates for part in order.quantities)]
    if not capable:
        raise NoCapableLineError(
            f"order {order.id}: no single line makes all of {', '.join(sorted(order.quantities))}"
        )
    largest = max(line.capacity_units for line in capable)
    if order.quantity_units > largest:
        raise OrderTooLargeError(
            f"order {order.id}: {order.quantity_units} units exceed the largest line capacity "
            f"({largest} units); split the order"
        )
    return capable


def order_costs(
    order: Order,
    lines: Sequence[Line],
    loads_units: Mapping[str, int],
    weights: CostWeights,
) -> tuple[LineCost, ...]:
    """The cost terms of ``order`` on every line (no validation: see :func:`dispatch_order`)."""
    result: list[LineCost] = []
    for line in lines:
        load = int(loads_units.get(line.id, 0))
        has_capacity = load + order.quantity_units <= line.capacity_units
        if not all(part in line.part_rates for part in order.quantities):
            result.append(
                LineCost(
                    line.id, None, None, None, None, None, load, line.capacity_units, False, False
                )
            )
            continue
        processing_time_s = 0.0
        energy_kwh = 0.0
        for part_type, quantity in order.quantities.items():
            rate = line.part_rates[part_type]
            processing_time_s += quantity * rate.time_s
            energy_kwh += quantity * rate.energy_kwh
        time_cost = weights.time_weight * processing_time_s
        energy_cost = weights.energy_weight * energy_kwh * weights.energy_price_per_kwh
        result.append(
            LineCost(
                line.id,
                processing_time_s,
                energy_kwh,
                time_cost,
                energy_cost,
                time_cost + energy_cost,
                load,
                line.capacity_units,
                has_capacity,
                True,
            )
        )
    return tuple(result)


def _cost_ratio(costs: Sequence[float]) -> float:
    highest, lowest = max(costs), min(costs)
    if lowest <= 0:
        return 1.0 if highest <= 0 else math.inf
    return highest / lowest


def _apply_rule(order: Order, line_costs: tuple[LineCost, ...], threshold: float) -> Decision:
    # Positions keep the caller's line order for the last tie-break.
    open_lines = [(position, item) for position, item in enumerate(line_costs) if item.has_capacity]
    if not open_lines:
        return Decision(
            order.id,
            None,
            DispatchRule.BACKLOG,
            None,
            threshold,
            line_costs,
            f"order {order.id} ({order.quantity_units} units) backlogged: no line has room "
            f"({_loads_text(line_costs)})",
        )
    if len(open_lines) == 1:
        _, only = open_lines[0]
        return Decision(
            order.id,
            only.line_id,
            DispatchRule.ONLY_LINE_WITH_CAPACITY,
            None,
            threshold,
            line_costs,
            f"order {order.id} → {only.line_id}: the only line with room "
            f"({_loads_text(line_costs)})",
        )
    costs = [item.cost for _, item in open_lines if item.cost is not None]
    ratio = _cost_ratio(costs)
    costs_text = ", ".join(
        f"{item.line_id} {item.cost:.1f}" for _, item in open_lines if item.cost is not None
    )
    if ratio > threshold:
        _, chosen = min(open_lines, key=lambda pair: (pair[1].cost, pair[1].load_units, pair[0]))
        rule = DispatchRule.CHEAPEST_LINE
        reason = f"cost ratio {ratio:.3f} > h {threshold:g}: the cheapest line"
    else:
        _, chosen = min(open_lines, key=lambda pair: (pair[1].load_units, pair[1].cost, pair[0]))
        rule = DispatchRule.LOWEST_LOAD
        reason = f"cost ratio {ratio:.3f} ≤ h {threshold:g}: the line with the lowest load"
    return Decision(
        order.id,
        chosen.line_id,
        rule,
        ratio,
        threshold,
        line_costs,
        f"order {order.id} → {chosen.line_id}: {reason} (costs {costs_text}; "
        f"{_loads_text(line_costs)})",
    )


def _loads_text(line_costs: Sequence[LineCost]) -> str:
    return "loads " + ", ".join(
        f"{item.line_id} {item.load_units}/{item.capacity_units}" for item in line_costs
    )


def dispatch_order(
    order: Order,
    lines: Sequence[Line],
    loads_units: Mapping[str, int],
    *,
    weights: CostWeights | None = None,
    config: DispatchConfig | None = None,
) -> Decision:
    """Choose the line for one order (or backlog it) with the online rule.

    ``loads_units`` gives each line's current load in units (missing lines: 0). Raises a
    :class:`DispatchInputError` subclass for a bad order or bad lines.
    """
    weights = weights or CostWeights()
    config = config or DispatchConfig()
    _validate_lines(lines)
    _validate_weights(weights, config)
    loads = _validate_loads(lines, loads_units)
    _validate_order(order, lines)
    return _apply_rule(
        order, order_costs(order, lines, loads, weights), config.cost_ratio_threshold
    )


# --------------------------------------------------------------------------------------------
# Batch mode
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatchAssignment:
    order_id: str
    line_id: str | None
    cost: float | None


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Assignments in the order of the input orders.

    ``method`` is ``"lp_then_milp"``, ``"milp"`` or ``"greedy_fallback"``; ``is_optimal`` is
    True when optimality is proved within ``mip_rel_gap``; ``mip_gap`` is the relative gap
    between the solution and a proven lower bound (the LP bound, or HiGHS's dual bound), None
    when the greedy fallback was used.
    ``total_cost`` sums the costs of the assigned orders; ``objective`` adds the backlog
    penalties.
    """

    assignments: tuple[BatchAssignment, ...]
    total_cost: float
    objective: float
    backlogged_order_ids: tuple[str, ...]
    method: str
    is_optimal: bool
    mip_gap: float | None
    solver_message: str


def dispatch_batch(
    orders: Sequence[Order],
    lines: Sequence[Line],
    loads_units: Mapping[str, int],
    *,
    weights: CostWeights | None = None,
    config: DispatchConfig | None = None,
    time_limit_s: float | None = 1.0,
    mip_rel_gap: float = 1e-4,
    exact: bool = False,
) -> BatchResult:
    """Assign many pending orders at once, minimising total cost under line capacities.

    Default (``exact=False``, ``method="lp_then_milp"``): HiGHS solves the LP relaxation of
    the integer program; orders the LP assigns whole are fixed, the few it splits between lines
    are settled by the integer program on the capacity left, and ``mip_gap`` is the gap to the
    LP bound (an upper bound of the gap to the optimum). ``exact=True`` (``method="milp"``)
    hands the whole integer program to HiGHS (``time_limit_s=None``: until optimal within
    ``mip_rel_gap``) and reports HiGHS's own gap. ``time_limit_s`` bounds the whole call; when
    HiGHS returns no solution in time the online rule assigns the orders one by one
    (``method="greedy_fallback"``).
    """
    weights = weights or CostWeights()
    config = config or DispatchConfig()
    _validate_lines(lines)
    _validate_weights(weights, config)
    loads = _validate_loads(lines, loads_units)
    seen: set[str] = set()
    for order in orders:
        if order.id in seen:
            raise DispatchInputError(f"duplicate order id {order.id!r}")
        seen.add(order.id)
        _validate_order(order, lines)
    if time_limit_s is not None and _finite(time_limit_s, "time_limit_s") <= 0:
        raise DispatchInputError("time_limit_s must be > 0")
    if not orders:
        return BatchResult((), 0.0, 0.0, (), "milp", True, 0.0, "no orders")

    line_count = len(lines)
    part_types = sorted({part for line in lines for part in line.part_rates})
    part_index = {part: index for index, part in enumerate(part_types)}
    quantities = np.zeros((len(orders), len(part_types)))
    for order_number, order in enumerate(orders):
        for part_type, quantity in order.quantities.items():
            quantities[order_number, part_index[part_type]] = quantity
    unit_cost = np.full((len(part_types), line_count), np.inf)
    for line_number, line in enumerate(lines):
        for part_type, rate in line.part_rates.items():
            unit_cost[part_index[part_type], line_number] = (
                weights.time_weight * rate.time_s
                + weights.energy_weight * rate.energy_kwh * weights.energy_price_per_kwh
            )
    # 0·inf is nan: a line without a part type gets inf only where the order needs that part.
    with np.errstate(invalid="ignore"):
        products = quantities[:, :, None] * unit_cost[None, :, :]
    products = np.where(quantities[:, :, None] > 0, products, 0.0)
    cost = products.sum(axis=1)  # (orders, lines), inf where the line lacks a part type
    units = quantities.sum(axis=1)
    room = np.array([line.capacity_units - loads[line.id] for line in lines], dtype=float)
    penalty = config.backlog_penalty_factor * np.max(np.where(np.isfinite(cost), cost, 0.0), axis=1)
    deadline = None if time_limit_s is None else time.perf_counter() + time_limit_s

    def remaining_time() -> float | None:
        return None if deadline is None else max(deadline - time.perf_counter(), 0.01)

    lower_bound: float | None = None
    if exact:
        chosen_line, status_optimal, gap, message = _solve_assignment(
            np.arange(len(orders)), cost, units, room, penalty, True, remaining_time(), mip_rel_gap
        )
        if chosen_line is None:
            return _greedy_batch(orders, lines, loads, weights, config, message)
    else:
        # LP relaxation first: its basic solutions split at most about one order per line
        # between lines; the orders it assigns whole are fixed, the split ones are settled by
        # a small integer program on the capacity left. The LP optimum bounds the gap.
        relaxed, _, _, message = _solve_assignment(
            np.arange(len(orders)), cost, units, room, penalty, False, remaining_time(), 0.0
        )
        if relaxed is None:
            return _greedy_batch(orders, lines, loads, weights, config, message)
        chosen_line, lower_bound, fractional = _relaxed_choice(relaxed, cost, penalty)
        whole = chosen_line >= 0
        used = np.bincount(chosen_line[whole], weights=units[whole], minlength=line_count)
        status_optimal = True
        if len(fractional):
            residual, status_optimal, _, message = _solve_assignment(
                fractional, cost, units, room - used, penalty, True, remaining_time(), mip_rel_gap
            )
            if residual is None:
                return _greedy_batch(orders, lines, loads, weights, config, message)
            chosen_line[fractional] = residual[fractional]
        gap = None

    assignments: list[BatchAssignment] = []
    total_cost = 0.0
    backlog_penalty = 0.0
    for order_number, order in enumerate(orders):
        line_number = int(chosen_line[order_number])
        if line_number < 0:
            assignments.append(BatchAssignment(order.id, None, None))
            backlog_penalty += float(penalty[order_number])
            continue
        value = float(cost[order_number, line_number])
        assignments.append(BatchAssignment(order.id, lines[line_number].id, value))
        total_cost += value
    objective = total_cost + backlog_penalty
    if lower_bound is not None:
        gap = (objective - lower_bound) / objective if objective > 0 else 0.0
        status_optimal = gap <= mip_rel_gap
    backlogged = tuple(item.order_id for item in assignments if item.line_id is None)
    return BatchResult(
        tuple(assignments),
        total_cost,
        objective,
        backlogged,
        "milp" if exact else "lp_then_milp",
        status_optimal,
        gap,
        message,
    )


def _relaxed_choice(
    relaxed: np.ndarray, cost: np.ndarray, penalty: np.ndarray
) -> tuple[np.ndarray, float, np.ndarray]:
    """From an LP solution (order × (lines + backlog) values): the line of each order the LP
    assigns whole (−1 backlog, −2 split), the LP objective, and the split orders."""
    order_count = cost.shape[0]
    values = relaxed  # shape (orders, lines + 1); the last column is the backlog
    objective = float(
        np.nansum(np.where(np.isfinite(cost), cost, 0.0) * values[:, :-1])
        + np.dot(penalty, values[:, -1])
    )
    best = np.argmax(values, axis=1)
    whole = values[np.arange(order_count), best] > 1 - 1e-6
    chosen = np.where(best == cost.shape[1], -1, best)
    chosen = np.where(whole, chosen, -2)
    return chosen, objective, np.nonzero(~whole)[0]


def _solve_assignment(
    order_numbers: np.ndarray,
    cost: np.ndarray,
    units: np.ndarray,
    room: np.ndarray,
    penalty: np.ndarray,
    is_integer: bool,
    time_limit_s: float | None,
    mip_rel_gap: float,
) -> tuple[np.ndarray | None, bool, float | None, str]:
    """Assign ``order_numbers`` (x[o, m] + b[o] = 1, capacity ``room``) with HiGHS.

    Integer: returns the chosen line per order (−1 backlog, indexed like ``cost``), whether
    HiGHS proved optimality, its gap and message. Relaxed: returns the (orders × lines + 1)
    matrix of LP values instead of the chosen lines.
    """
    order_count, line_count = cost.shape
    selected_cost = cost[order_numbers]
    allowed = np.isfinite(selected_cost) & (units[order_numbers, None] <= room[None, :] + 1e-9)
    local_order, line_of = np.nonzero(allowed)
    order_of = order_numbers[local_order]
    selected = len(order_numbers)
    variable_count = len(order_of) + selected
    objective = np.concatenate([cost[order_of, line_of], penalty[order_numbers]])
    backlog_columns = len(order_of) + np.arange(selected)
    assign_rows = sparse.csr_array(
        (
            np.ones(variable_count),
            (
                np.concatenate([local_order, np.arange(selected)]),
                np.concatenate([np.arange(len(order_of)), backlog_columns]),
            ),
        ),
        shape=(selected, variable_count),
    )
    capacity_rows = sparse.csr_array(
        (units[order_of], (line_of, np.arange(len(order_of)))),
        shape=(line_count, variable_count),
    )
    constraints = [
        LinearConstraint(assign_rows, np.ones(selected), np.ones(selected)),
        LinearConstraint(capacity_rows, np.full(line_count, -np.inf), np.maximum(room, 0.0)),
    ]
    options: dict[str, float] = {"mip_rel_gap": mip_rel_gap}
    if time_limit_s is not None:
        options["time_limit"] = time_limit_s
    result = milp(
        objective,
        integrality=np.full(variable_count, 1 if is_integer else 0),
        bounds=Bounds(0, 1),
        constraints=constraints,
        options=options,
    )
    message = str(result.message)
    if result.x is None:
        return None, False, None, message
    if not is_integer:
        values = np.zeros((order_count, line_count + 1))
        values[order_of, line_of] = result.x[: len(order_of)]
        values[order_numbers, line_count] = result.x[len(order_of) :]
        return values, result.status == 0, None, message
    chosen = np.full(order_count, -1)
    picked = np.nonzero(result.x[: len(order_of)] > 0.5)[0]
    chosen[order_of[picked]] = line_of[picked]
    gap = getattr(result, "mip_gap", None)
    return chosen, bool(result.status == 0), None if gap is None else float(gap), message


def _greedy_batch(
    orders: Sequence[Order],
    lines: Sequence[Line],
    loads: dict[str, int],
    weights: CostWeights,
    config: DispatchConfig,
    solver_message: str,
) -> BatchResult:
    loads = dict(loads)
    assignments: list[BatchAssignment] = []
    total_cost = 0.0
    penalty_total = 0.0
    for order in orders:
        costs = order_costs(order, lines, loads, weights)
        decision = _apply_rule(order, costs, config.cost_ratio_threshold)
        if decision.line_id is None:
            assignments.append(BatchAssignment(order.id, None, None))
            penalty_total += config.backlog_penalty_factor * max(
                item.cost for item in costs if item.cost is not None
            )
            continue
        line_cost = next(item for item in costs if item.line_id == decision.line_id)
        assert line_cost.cost is not None
        loads[decision.line_id] += order.quantity_units
        assignments.append(BatchAssignment(order.id, decision.line_id, line_cost.cost))
        total_cost += line_cost.cost
    backlogged = tuple(item.order_id for item in assignments if item.line_id is None)
    return BatchResult(
        tuple(assignments),
        total_cost,
        total_cost + penalty_total,
        backlogged,
        "greedy_fallback",
        False,
        None,
        f"integer program gave no solution ({solver_message}); online rule applied",
    )


# --------------------------------------------------------------------------------------------
# Stream simulation
# --------------------------------------------------------------------------------------------


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
    _validate_lines(lines)
    _validate_weights(weights, config)
    seen: set[str] = set()
    for arrival_s, order in arrivals:
        _finite(arrival_s, f"order {order.id}: arrival time")
        if order.id in seen:
            raise DispatchInputError(f"duplicate order id {order.id!r}")
        seen.add(order.id)
        _validate_order(order, lines)

    line_index = {line.id: index for index, line in enumerate(lines)}
    loads = {line.id: 0 for line in lines}
    free_at = [-math.inf] * len(lines)
    order_counts = [0] * len(lines)
    unit_counts = [0] * len(lines)
    busy = [0.0] * len(lines)
    max_loads = [0] * len(lines)
    decisions: list[Decision] = []
    dispatched_at: dict[str, float] = {}
    completed_at: dict[str, float] = {}
    backlog: list[tuple[float, Order]] = []
    backlog_waits = 0
    max_wait = 0.0
    events: list[_Event] = []
    sequence = 0
    for arrival_s, order in arrivals:
        events.append(_Event(float(arrival_s), 1, sequence, "arrival", order=order))
        sequence += 1
    heapq.heapify(events)
    end_s = -math.inf

    def dispatch(order: Order, now_s: float) -> bool:
        nonlocal sequence
        decision = _apply_rule(
            order, order_costs(order, lines, loads, weights), config.cost_ratio_threshold
        )
        if decision.line_id is None:
            return False
        decisions.append(decision)
        index = line_index[decision.line_id]
        line = lines[index]
        duration = sum(
            quantity * line.part_rates[part].time_s for part, quantity in order.quantities.items()
        )
        start = max(now_s, free_at[index])
        free_at[index] = start + duration
        loads[line.id] += order.quantity_units
        max_loads[index] = max(max_loads[index], loads[line.id])
        order_counts[index] += 1
        unit_counts[index] += order.quantity_units
        busy[index] += duration
        dispatched_at[order.id] = now_s
        heapq.heappush(events, _Event(free_at[index], 0, sequence, "completion", index, order))
        sequence += 1
        return True

    while events:
        event = heapq.heappop(events)
        assert event.order is not None
        if event.kind == "completion":
            line = lines[event.line_index]
            loads[line.id] -= event.order.quantity_units
            completed_at[event.order.id] = event.time_s
            end_s = max(end_s, event.time_s)
            still_waiting: list[tuple[float, Order]] = []
            for waiting_since, order in backlog:
                if dispatch(order, event.time_s):
                    max_wait = max(max_wait, event.time_s - waiting_since)
                else:
                    still_waiting.append((waiting_since, order))
            backlog = still_waiting
        elif not dispatch(event.order, event.time_s):
            backlog.append((event.time_s, event.order))
            backlog_waits += 1
    summaries = tuple(
        LineStreamSummary(line.id, order_counts[i], unit_counts[i], busy[i], max_loads[i])
        for i, line in enumerate(lines)
    )
    return StreamResult(
        summaries,
        tuple(decisions),
        MappingProxyType(dispatched_at),
        MappingProxyType(completed_at),
        backlog_waits,
        max_wait,
        end_s if math.isfinite(end_s) else 0.0,
    )


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
