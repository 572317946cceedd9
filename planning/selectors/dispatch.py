"""Reads of customer orders and of what the dispatcher needs: lines, part rates, loads."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import QuerySet, Sum

from mes_site.scope import scope_filter
from planning.algorithms.dispatch import model as pure_dispatch
from planning.choices import CustomerOrderState
from planning.models import (
    CustomerOrder,
    CustomerOrderLine,
    DispatchPolicy,
    LineCostRates,
    LinePartParameters,
)
from production.models import Line

__all__ = [
    "LOADING_STATES",
    "DispatchSetup",
    "backlog_area_ids",
    "customer_order_list",
    "dispatch_setup_get",
    "line_cost_rates_list",
    "line_loads_units",
]

# Customer orders whose units count towards their line's load.
LOADING_STATES = (CustomerOrderState.DISPATCHED, CustomerOrderState.IN_PROGRESS)


def customer_order_list(*, user) -> QuerySet[CustomerOrder]:
    return scope_filter(
        CustomerOrder.objects.select_related("site", "area", "line").prefetch_related(
            "lines__product"
        ),
        user,
        line="line_id",
        site="site_id",
    )


def line_cost_rates_list(*, user) -> QuerySet[LineCostRates]:
    return scope_filter(
        LineCostRates.objects.select_related("line__area__site"),
        user,
        line="line_id",
        site="line__area__site_id",
    )


@dataclass(frozen=True)
class DispatchSetup:
    """The lines of one area as the dispatcher sees them, with the area's cost policy."""

    area_id: int
    lines: dict[str, Line]
    pure_lines: tuple[pure_dispatch.Line, ...]
    weights: pure_dispatch.CostWeights
    config: pure_dispatch.DispatchConfig
    policy_is_default: bool


def dispatch_setup_get(*, area_id: int, lines: Iterable[Line] | None = None) -> DispatchSetup:
    """Lines with their part parameters (time and power per product code), their money rates
    (their own ``LineCostRates``, else the area policy's defaults) and the policy."""
    line_list = (
        list(lines)
        if lines is not None
        else list(Line.objects.filter(area_id=area_id).order_by("code"))
    )
    rates: dict[int, dict[str, pure_dispatch.PartRate]] = defaultdict(dict)
    for line_id, product_code, time_s, power_w in LinePartParameters.objects.filter(
        line__in=line_list
    ).values_list("line_id", "product__code", "time_per_part_s", "power_w"):
        rates[line_id][product_code] = pure_dispatch.PartRate(time_s=time_s, power_w=power_w)
    own_rates = {
        line_id: (hour_rate, energy_price)
        for line_id, hour_rate, energy_price in LineCostRates.objects.filter(
            line__in=line_list
        ).values_list("line_id", "machine_hour_rate", "energy_price_per_kwh")
    }
    policy = DispatchPolicy.objects.filter(area_id=area_id).first()
    default_rates = (
        policy.machine_hour_rate if policy else 60.0,
        policy.energy_price_per_kwh if policy else 0.25,
    )
    weights = pure_dispatch.CostWeights(
        time_weight=policy.time_weight if policy else 1.0,
        energy_weight=policy.energy_weight if policy else 1.0,
        energy_price_per_kwh=policy.energy_price_per_kwh if policy else 0.25,
    )
    config = pure_dispatch.DispatchConfig(
        cost_ratio_threshold=policy.imbalance_threshold if policy else 1.3
    )
    usable = [line for line in line_list if rates.get(line.pk)]
    return DispatchSetup(
        area_id=area_id,
        lines={line.code: line for line in usable},
        pure_lines=tuple(
            pure_dispatch.Line(
                id=line.code,
                part_rates=rates[line.pk],
                capacity_units=line.capacity_units,
                machine_hour_rate=own_rates.get(line.pk, default_rates)[0],
                energy_price_per_kwh=own_rates.get(line.pk, default_rates)[1],
            )
            for line in usable
        ),
        weights=weights,
        config=config,
        policy_is_default=policy is None,
    )


def line_loads_units(*, line_ids: Iterable[int]) -> dict[int, int]:
    """Units of the customer orders dispatched to or in progress on each line."""
    ids = list(line_ids)
    loads = dict.fromkeys(ids, 0)
    for line_id, units in (
        CustomerOrderLine.objects.filter(order__line_id__in=ids, order__state__in=LOADING_STATES)
        .values("order__line_id")
        .annotate(units=Sum("quantity"))
        .values_list("order__line_id", "units")
    ):
        loads[line_id] = int(units or 0)
    return loads


def backlog_area_ids() -> list[int]:
    """Areas with customer orders waiting for capacity (for the periodic retry)."""
    return list(
        CustomerOrder.objects.filter(state=CustomerOrderState.BACKLOG)
        .values_list("area_id", flat=True)
        .distinct()
        .order_by("area_id")
    )
