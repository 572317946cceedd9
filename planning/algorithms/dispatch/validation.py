"""Refusing invalid dispatcher input: lines, loads, weights and orders."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from planning.algorithms.dispatch.model import (
    CostWeights,
    DispatchConfig,
    DispatchInputError,
    Line,
    NoCapableLineError,
    NonPositiveQuantityError,
    Order,
    OrderTooLargeError,
    UnknownPartTypeError,
)


def finite(value: float, what: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise DispatchInputError(f"{what} must be a finite number, got {value!r}")
    return number


def validate_lines(lines: Sequence[Line]) -> None:
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
        for name in ("machine_hour_rate", "energy_price_per_kwh"):
            value = getattr(line, name)
            if value is not None and finite(value, f"line {line.id}: {name}") < 0:
                raise DispatchInputError(f"line {line.id}: {name} must be ≥ 0")
        for part_type, rate in line.part_rates.items():
            if finite(rate.time_s, f"line {line.id}, part {part_type}: time_s") <= 0:
                raise DispatchInputError(f"line {line.id}, part {part_type}: time_s must be > 0")
            if finite(rate.power_w, f"line {line.id}, part {part_type}: power_w") < 0:
                raise DispatchInputError(f"line {line.id}, part {part_type}: power_w must be ≥ 0")


def validate_weights(weights: CostWeights, config: DispatchConfig) -> None:
    for name in ("time_weight", "energy_weight", "energy_price_per_kwh"):
        if finite(getattr(weights, name), name) < 0:
            raise DispatchInputError(f"{name} must be ≥ 0")
    if weights.time_weight == 0 and weights.energy_weight == 0:
        raise DispatchInputError("time_weight and energy_weight cannot both be 0")
    if finite(config.cost_ratio_threshold, "cost_ratio_threshold") < 1:
        raise DispatchInputError("cost_ratio_threshold h must be ≥ 1")
    if finite(config.backlog_penalty_factor, "backlog_penalty_factor") <= 1:
        raise DispatchInputError("backlog_penalty_factor must be > 1")


def validate_loads(lines: Sequence[Line], loads_units: Mapping[str, int]) -> dict[str, int]:
    known = {line.id for line in lines}
    for line_id, load in loads_units.items():
        if line_id not in known:
            raise DispatchInputError(f"load given for unknown line {line_id!r}")
        if int(load) != load or load < 0:
            raise DispatchInputError(f"line {line_id}: load must be a non-negative integer")
    return {line.id: int(loads_units.get(line.id, 0)) for line in lines}


def validate_order(order: Order, lines: Sequence[Line]) -> list[Line]:
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
