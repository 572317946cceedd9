"""Batch dispatch: many pending orders at once by an integer linear program.

The program (scipy.optimize.milp / HiGHS) has binary ``x[o, m]`` and a binary backlog
``b[o]``: ``Σ_m x[o, m] + b[o] = 1`` for every order, ``Σ_o q_o·x[o, m] ≤ capacity_m −
load_m`` for every line, minimising ``Σ C[o, m]·x[o, m] + Σ penalty_o·b[o]`` with ``penalty_o
= backlog_penalty_factor · max_m C[o, m]`` — so an order is backlogged only when capacity
forces it. HiGHS on the whole program of 1,000 orders × 20 lines finds poor solutions within
one second, so by default the LP relaxation is solved first and only the orders it splits go
through the integer program; when that answer is not proved within ``target_gap`` of the
optimum (capacity-bound instances with a backlog, where rounding the relaxation can be 20–30 %
off), the whole integer program runs in the time left and the better answer is kept (see
:func:`dispatch_batch`). A time limit bounds the call; if HiGHS returns no solution in time,
the online rule is applied order by order.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from planning.algorithms.dispatch.model import (
    CostWeights,
    DispatchConfig,
    DispatchInputError,
    Line,
    Order,
)
from planning.algorithms.dispatch.online import apply_rule, order_costs
from planning.algorithms.dispatch.validation import (
    finite,
    validate_lines,
    validate_loads,
    validate_order,
    validate_weights,
)


@dataclass(frozen=True, slots=True)
class BatchAssignment:
    order_id: str
    line_id: str | None
    cost: float | None


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Assignments in the order of the input orders.

    ``method`` is ``"lp_then_milp"``, ``"lp_then_whole_milp"`` (the whole program improved on
    or confirmed the relaxation's answer), ``"milp"`` or ``"greedy_fallback"``; ``is_optimal``
    is True when optimality is proved within ``mip_rel_gap``; ``mip_gap`` is the relative gap
    between the solution and the best proven lower bound (the LP bound or HiGHS's dual bound),
    None when the greedy fallback was used; ``lower_bound`` is that bound.
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
    lower_bound: float | None = None


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
    target_gap: float = 0.005,
) -> BatchResult:
    """Assign many pending orders at once, minimising total cost under line capacities.

    Default (``exact=False``, ``method="lp_then_milp"``): HiGHS solves the LP relaxation of
    the integer program; orders the LP assigns whole are fixed, the few it splits between lines
    are settled by the integer program on the capacity left, and ``mip_gap`` is the gap to the
    LP bound (an upper bound of the gap to the optimum). When that gap exceeds ``target_gap``
    (0.5 %), the whole integer program runs in the time left and the better of the two
    answers is kept, its gap taken against the better of the LP bound and HiGHS's dual bound
    (``method="lp_then_whole_milp"``). ``exact=True`` (``method="milp"``)
    hands the whole integer program to HiGHS (``time_limit_s=None``: until optimal within
    ``mip_rel_gap``) and reports HiGHS's own gap. ``time_limit_s`` bounds the whole call; when
    HiGHS returns no solution in time the online rule assigns the orders one by one
    (``method="greedy_fallback"``).
    """
    weights = weights or CostWeights()
    config = config or DispatchConfig()
    loads = _validate_batch(orders, lines, loads_units, weights, config, time_limit_s)
    if finite(target_gap, "target_gap") < 0:
        raise DispatchInputError("target_gap must be >= 0")
    if not orders:
        return BatchResult((), 0.0, 0.0, (), "milp", True, 0.0, "no orders")

    cost, units = _cost_matrix(orders, lines, weights)
    room = np.array([line.capacity_units - loads[line.id] for line in lines], dtype=float)
    penalty = config.backlog_penalty_factor * np.max(np.where(np.isfinite(cost), cost, 0.0), axis=1)
    deadline = None if time_limit_s is None else time.perf_counter() + time_limit_s
    if exact:
        solution = _solve_whole(cost, units, room, penalty, deadline, mip_rel_gap)
    else:
        solution = _solve_relaxation_first(cost, units, room, penalty, deadline, mip_rel_gap)
    if isinstance(solution, str):
        return _greedy_batch(orders, lines, loads, weights, config, solution)
    result = _batch_result(
        orders, lines, cost, penalty, solution, mip_rel_gap, "milp" if exact else "lp_then_milp"
    )
    if exact or result.mip_gap is None or result.mip_gap <= target_gap:
        return result
    return _whole_if_better(
        result, orders, lines, cost, units, room, penalty, deadline, mip_rel_gap
    )


def _whole_if_better(
    relaxed_result: BatchResult,
    orders: Sequence[Order],
    lines: Sequence[Line],
    cost: np.ndarray,
    units: np.ndarray,
    room: np.ndarray,
    penalty: np.ndarray,
    deadline: float | None,
    mip_rel_gap: float,
) -> BatchResult:
    """The whole integer program in the time left; the better answer, its gap against the
    better of the two proven bounds."""
    if deadline is not None and deadline - time.perf_counter() < 0.02:
        return relaxed_result
    whole = _solve_whole(cost, units, room, penalty, deadline, mip_rel_gap)
    if isinstance(whole, str):
        return relaxed_result
    whole_result = _batch_result(orders, lines, cost, penalty, whole, mip_rel_gap, "milp")
    bounds = [relaxed_result.lower_bound, whole_result.lower_bound]
    lower_bound = max(bound for bound in bounds if bound is not None)
    best = min((whole_result, relaxed_result), key=lambda item: item.objective)
    gap = (best.objective - lower_bound) / best.objective if best.objective > 0 else 0.0
    gap = max(gap, 0.0)
    return dataclasses.replace(
        best,
        method="lp_then_whole_milp",
        is_optimal=gap <= mip_rel_gap or (best is whole_result and whole_result.is_optimal),
        mip_gap=gap,
        lower_bound=lower_bound,
        solver_message=whole_result.solver_message,
    )


def _validate_batch(
    orders: Sequence[Order],
    lines: Sequence[Line],
    loads_units: Mapping[str, int],
    weights: CostWeights,
    config: DispatchConfig,
    time_limit_s: float | None,
) -> dict[str, int]:
    """Check the whole call; return each line's load."""
    validate_lines(lines)
    validate_weights(weights, config)
    loads = validate_loads(lines, loads_units)
    seen: set[str] = set()
    for order in orders:
        if order.id in seen:
            raise DispatchInputError(f"duplicate order id {order.id!r}")
        seen.add(order.id)
        validate_order(order, lines)
    if time_limit_s is not None and finite(time_limit_s, "time_limit_s") <= 0:
        raise DispatchInputError("time_limit_s must be > 0")
    return loads


def _cost_matrix(
    orders: Sequence[Order], lines: Sequence[Line], weights: CostWeights
) -> tuple[np.ndarray, np.ndarray]:
    """C[o, m] (inf where line m lacks a part type of order o) and the units of each order."""
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
                weights.time_weight * rate.time_s * line.time_price_per_s
                + weights.energy_weight * rate.energy_kwh * line.energy_price(weights)
            )
    # 0·inf is nan: a line without a part type gets inf only where the order needs that part.
    with np.errstate(invalid="ignore"):
        products = quantities[:, :, None] * unit_cost[None, :, :]
    products = np.where(quantities[:, :, None] > 0, products, 0.0)
    cost = products.sum(axis=1)  # (orders, lines), inf where the line lacks a part type
    units = quantities.sum(axis=1)
    return cost, units


@dataclass(frozen=True, slots=True)
class _Solution:
    """The line of each order (−1: backlog), whether optimality is proved, HiGHS's gap, its
    message and, after the LP relaxation, the LP bound."""

    chosen_line: np.ndarray
    is_optimal: bool
    mip_gap: float | None
    message: str
    lower_bound: float | None = None
    dual_bound: float | None = None


def _time_left(deadline: float | None) -> float | None:
    return None if deadline is None else max(deadline - time.perf_counter(), 0.01)


def _solve_whole(
    cost: np.ndarray,
    units: np.ndarray,
    room: np.ndarray,
    penalty: np.ndarray,
    deadline: float | None,
    mip_rel_gap: float,
) -> _Solution | str:
    """The whole integer program by HiGHS (or HiGHS's message when it found no solution)."""
    chosen_line, status_optimal, gap, message, dual_bound = _solve_assignment(
        np.arange(len(cost)), cost, units, room, penalty, True, _time_left(deadline), mip_rel_gap
    )
    if chosen_line is None:
        return message
    return _Solution(chosen_line, status_optimal, gap, message, dual_bound=dual_bound)


def _solve_relaxation_first(
    cost: np.ndarray,
    units: np.ndarray,
    room: np.ndarray,
    penalty: np.ndarray,
    deadline: float | None,
    mip_rel_gap: float,
) -> _Solution | str:
    """LP relaxation first: its basic solutions split at most about one order per line
    between lines; the orders it assigns whole are fixed, the split ones are settled by a
    small integer program on the capacity left. The LP optimum bounds the gap."""
    relaxed, _, _, message, _ = _solve_assignment(
        np.arange(len(cost)), cost, units, room, penalty, False, _time_left(deadline), 0.0
    )
    if relaxed is None:
        return message
    chosen_line, lower_bound, fractional = _relaxed_choice(relaxed, cost, penalty)
    whole = chosen_line >= 0
    used = np.bincount(chosen_line[whole], weights=units[whole], minlength=cost.shape[1])
    status_optimal = True
    if len(fractional):
        residual, status_optimal, _, message, _ = _solve_assignment(
            fractional, cost, units, room - used, penalty, True, _time_left(deadline), mip_rel_gap
        )
        if residual is None:
            return message
        chosen_line[fractional] = residual[fractional]
    return _Solution(chosen_line, status_optimal, None, message, lower_bound)


def _batch_result(
    orders: Sequence[Order],
    lines: Sequence[Line],
    cost: np.ndarray,
    penalty: np.ndarray,
    solution: _Solution,
    mip_rel_gap: float,
    method: str,
) -> BatchResult:
    assignments: list[BatchAssignment] = []
    total_cost = 0.0
    backlog_penalty = 0.0
    for order_number, order in enumerate(orders):
        line_number = int(solution.chosen_line[order_number])
        if line_number < 0:
            assignments.append(BatchAssignment(order.id, None, None))
            backlog_penalty += float(penalty[order_number])
            continue
        value = float(cost[order_number, line_number])
        assignments.append(BatchAssignment(order.id, lines[line_number].id, value))
        total_cost += value
    objective = total_cost + backlog_penalty
    gap, status_optimal = solution.mip_gap, solution.is_optimal
    lower_bound = solution.dual_bound
    if solution.lower_bound is not None:
        lower_bound = solution.lower_bound
        gap = (objective - solution.lower_bound) / objective if objective > 0 else 0.0
        status_optimal = gap <= mip_rel_gap
    backlogged = tuple(item.order_id for item in assignments if item.line_id is None)
    return BatchResult(
        tuple(assignments),
        total_cost,
        objective,
        backlogged,
        method,
        status_optimal,
        gap,
        solution.message,
        lower_bound,
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
) -> tuple[np.ndarray | None, bool, float | None, str, float | None]:
    """Assign ``order_numbers`` (x[o, m] + b[o] = 1, capacity ``room``) with HiGHS.

    Integer: returns the chosen line per order (−1 backlog, indexed like ``cost``), whether
    HiGHS proved optimality, its gap, message and dual bound. Relaxed: returns the (orders ×
    lines + 1) matrix of LP values instead of the chosen lines.
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
        return None, False, None, message, None
    if not is_integer:
        values = np.zeros((order_count, line_count + 1))
        values[order_of, line_of] = result.x[: len(order_of)]
        values[order_numbers, line_count] = result.x[len(order_of) :]
        return values, result.status == 0, None, message, None
    chosen = np.full(order_count, -1)
    picked = np.nonzero(result.x[: len(order_of)] > 0.5)[0]
    chosen[order_of[picked]] = line_of[picked]
    gap = getattr(result, "mip_gap", None)
    dual_bound = getattr(result, "mip_dual_bound", None)
    return (
        chosen,
        bool(result.status == 0),
        None if gap is None else float(gap),
        message,
        None if dual_bound is None or not np.isfinite(dual_bound) else float(dual_bound),
    )


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
        decision = apply_rule(order, costs, config.cost_ratio_threshold)
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
