"""What the dispatcher takes and gives: lines, orders, cost weights, the decision of the
online rule with its cost terms, and the input errors.

Units. For part type ``p`` on line ``m`` the line gives the time per part ``t_{p,m}`` in
seconds and the power drawn while making it ``P_{p,m}`` in watts (as the published two-line
study does). The energy per part is ``E_{p,m} = P_{p,m}·t_{p,m} / 3.6e6`` in kWh.

Money. A line has a machine-hour rate ``r_m`` (currency per hour the line works) and an
energy price ``c_m`` (currency per kWh), so both cost terms are money and α, β are
dimensionless weights: ``C_m = α·Σ n_p·t_{p,m}·r_m/3600 + β·Σ n_p·E_{p,m}·c_m``. A line
without a rate (``machine_hour_rate=None``) counts its time term in seconds (one unit per
second), a line without a price takes ``CostWeights.energy_price_per_kwh``; the MES always
passes both from the database.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

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
    machine_hour_rate: float | None = None
    energy_price_per_kwh: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "part_rates", MappingProxyType(dict(self.part_rates)))

    @property
    def time_price_per_s(self) -> float:
        """Money per second of work (1 per second when the line has no rate)."""
        return 1.0 if self.machine_hour_rate is None else self.machine_hour_rate / 3600.0

    def energy_price(self, weights: CostWeights) -> float:
        """Money per kWh: the line's price, else the weights' default."""
        if self.energy_price_per_kwh is None:
            return weights.energy_price_per_kwh
        return self.energy_price_per_kwh


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
    """α (``time_weight``), β (``energy_weight``), both dimensionless, and the default
    energy price c_e (``energy_price_per_kwh``) for lines without their own."""

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
    """Cost of one order on one line (``cost`` is None when the line lacks a part type).
    ``time_cost`` and ``energy_cost`` are money (weighted); the line's rates come along."""

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
    machine_hour_rate: float | None = None
    energy_price_per_kwh: float | None = None


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
