"""The online dispatch rule: the cost of an order on each line, then cost or load decides.

Cost. With line ``m``'s machine-hour rate ``r_m`` (currency per hour) and energy price
``c_m`` (currency per kWh) the cost of an order ``n`` on line ``m`` is::

    C_m = α·Σ_p n_p·t_{p,m}·r_m/3600  +  β·Σ_p n_p·E_{p,m}·c_m
          time term (currency)           energy term (currency)

``α`` (``time_weight``) and ``β`` (``energy_weight``) are dimensionless weights of the two
money terms; only the *ratio* of costs between lines is used by the online rule, so scaling
both changes nothing. With rates that put both terms in the same order of magnitude, (α, β)
decide which line is cheaper when one line is dearer by the hour and the other by the kWh.
The module reports both terms so the weighting can be judged. (A line without a rate counts
its time term in seconds: see :mod:`.model`.)

Rule (:func:`dispatch_order`). Among the lines that can make every part type of the order and
still have room (``load + quantity ≤ capacity``, 40 units by default): when the highest cost
is more than ``h`` times the lowest (``max C / min C > h``, h = 1.3 by default) the order goes
to the cheapest line; otherwise to the line with the lowest current load (in units). Ties:
among equally cheap lines the lower load wins, among equally loaded lines the lower cost wins,
then the line listed first. A single line with room takes the order; no room anywhere gives a
backlog decision.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from planning.algorithms.dispatch.model import (
    CostWeights,
    Decision,
    DispatchConfig,
    DispatchRule,
    Line,
    LineCost,
    Order,
)
from planning.algorithms.dispatch.validation import (
    validate_lines,
    validate_loads,
    validate_order,
    validate_weights,
)


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
        time_cost = weights.time_weight * processing_time_s * line.time_price_per_s
        energy_cost = weights.energy_weight * energy_kwh * line.energy_price(weights)
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
                line.machine_hour_rate,
                line.energy_price(weights),
            )
        )
    return tuple(result)


def _cost_ratio(costs: Sequence[float]) -> float:
    highest, lowest = max(costs), min(costs)
    if lowest <= 0:
        return 1.0 if highest <= 0 else math.inf
    return highest / lowest


def apply_rule(order: Order, line_costs: tuple[LineCost, ...], threshold: float) -> Decision:
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
    validate_lines(lines)
    validate_weights(weights, config)
    loads = validate_loads(lines, loads_units)
    validate_order(order, lines)
    return apply_rule(order, order_costs(order, lines, loads, weights), config.cost_ratio_threshold)
