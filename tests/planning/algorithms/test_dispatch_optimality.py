"""The batch dispatch lands within 0.5 % of the optimum found by exhaustive search.

Random seeded instances of 8–12 orders on 2–3 lines, with capacity that fits every order
and with capacity that forces a backlog (where the LP relaxation's rounding alone used to be
19–29 % off). Pure: no database, no Django.
"""

from __future__ import annotations

import numpy as np
import pytest

from planning.algorithms.dispatch.batch import dispatch_batch
from planning.algorithms.dispatch.model import CostWeights, DispatchConfig, Line, Order, PartRate
from planning.algorithms.dispatch.online import order_costs

WEIGHTS = CostWeights(time_weight=1.0, energy_weight=1.0, energy_price_per_kwh=0.25)
PARTS = ("A", "B", "C")


def random_instance(
    seed: int, *, is_backlogged: bool
) -> tuple[list[Order], tuple[Line, ...], dict[str, int]]:
    generator = np.random.default_rng(seed)
    line_count = int(generator.integers(2, 4))
    order_count = (
        int(generator.integers(8, 13)) if line_count == 2 else int(generator.integers(8, 11))
    )
    orders = []
    for number in range(order_count):
        chosen = generator.choice(PARTS, size=int(generator.integers(1, 4)), replace=False)
        orders.append(
            Order(f"O{number}", {str(part): int(generator.integers(1, 7)) for part in chosen})
        )
    total_units = sum(order.quantity_units for order in orders)
    # Backlogged: the lines hold about 70 % of the units; otherwise all of them with room left.
    share = 0.7 if is_backlogged else 1.4
    capacity = max(
        max(order.quantity_units for order in orders), int(total_units * share / line_count)
    )
    lines = tuple(
        Line(
            f"L{index}",
            {
                part: PartRate(
                    float(generator.integers(60, 300)), float(generator.integers(0, 900))
                )
                for part in PARTS
            },
            capacity_units=capacity,
        )
        for index in range(line_count)
    )
    return orders, lines, {line.id: 0 for line in lines}


def exhaustive_optimum(
    orders: list[Order], lines: tuple[Line, ...], loads: dict[str, int]
) -> tuple[float, int]:
    """Minimum objective (cost + backlog penalty) over every assignment, by enumerating all
    (lines + 1)^orders choices (vectorised), and the number of orders it backlogs."""
    penalty_factor = DispatchConfig().backlog_penalty_factor
    order_count, choice_count = len(orders), len(lines) + 1
    cost = np.zeros((order_count, choice_count))
    for number, order in enumerate(orders):
        line_costs = [item.cost for item in order_costs(order, lines, {}, WEIGHTS)]
        cost[number, : len(lines)] = line_costs
        cost[number, len(lines)] = penalty_factor * max(line_costs)
    units = np.array([order.quantity_units for order in orders], dtype=float)
    room = np.array([line.capacity_units - loads[line.id] for line in lines], dtype=float)
    best, best_backlog = np.inf, 0
    total = choice_count**order_count
    chunk = 1 << 18
    for start in range(0, total, chunk):
        codes = np.arange(start, min(start + chunk, total))
        choices = np.empty((len(codes), order_count), dtype=np.int64)
        rest = codes
        for number in range(order_count):
            choices[:, number] = rest % choice_count
            rest = rest // choice_count
        objective = cost[np.arange(order_count), choices].sum(axis=1)
        feasible = np.ones(len(codes), dtype=bool)
        for line_number in range(len(lines)):
            used = ((choices == line_number) * units).sum(axis=1)
            feasible &= used <= room[line_number] + 1e-9
        objective = np.where(feasible, objective, np.inf)
        index = int(np.argmin(objective))
        if objective[index] < best:
            best = float(objective[index])
            best_backlog = int((choices[index] == len(lines)).sum())
    return best, best_backlog


@pytest.mark.parametrize("is_backlogged", [True, False], ids=["backlog", "no_backlog"])
@pytest.mark.parametrize("seed", range(8))
def test_batch_is_within_half_a_percent_of_exhaustive_search(
    seed: int, is_backlogged: bool
) -> None:
    orders, lines, loads = random_instance(seed, is_backlogged=is_backlogged)
    optimum, optimum_backlog = exhaustive_optimum(orders, lines, loads)

    result = dispatch_batch(orders, lines, loads, weights=WEIGHTS)

    assert (result.objective - optimum) / optimum <= 0.005
    assert len(result.backlogged_order_ids) == optimum_backlog
    # Its reported gap is a proven bound: it covers the real distance to the optimum.
    assert result.mip_gap is not None
    assert (result.objective - optimum) / result.objective <= result.mip_gap + 1e-9
    assert result.mip_gap <= 0.005
    by_id = {order.id: order for order in orders}
    for line in lines:
        used = sum(
            by_id[item.order_id].quantity_units
            for item in result.assignments
            if item.line_id == line.id
        )
        assert used <= line.capacity_units


def test_the_backlogged_instances_do_force_a_backlog() -> None:
    backlogs = [
        exhaustive_optimum(*random_instance(seed, is_backlogged=True))[1] for seed in range(8)
    ]

    assert min(backlogs) >= 1
