"""The published two-line study, reproduced with the online dispatch rule.

Line 1: part A 218 s / 843 W, part B 156 s / 569 W, part C 128 s / 572 W.
Line 2: part A 156 s / 562 W, part B 154 s / 558 W, part C 127 s / 571 W.
Capacity 40 units per line. Costs in money: the demo's rates, line 1 0.50 per machine-hour,
line 2 0.65 per machine-hour, energy 0.40 per kWh on both (``--seconds`` gives the seed's
units instead: time term in seconds, energy at 0.25 per kWh).

A seeded stream of mixed orders (0–6 parts of each type, at least one part, exponential
inter-arrival times) is dispatched for h ∈ {1.0, 1.3} and (α, β) ∈ {(1, 1), (1, 2), (2, 1)}
by the discrete-event simulation of planning.algorithms.dispatch.stream.simulate_order_stream:
each line works through its queue first in, first out, so capacity frees as orders finish;
orders that find no room wait in a backlog.

Run:  .venv/bin/python -m bench.scheduling.two_line_study [--orders N] [--seed S]
      [--mean-interarrival-s T] [--seconds]
"""

from __future__ import annotations

import argparse

from planning.algorithms.dispatch.model import (
    CostWeights,
    DispatchConfig,
    DispatchRule,
    Line,
    PartRate,
)
from planning.algorithms.dispatch.stream import random_order_stream, simulate_order_stream

STUDY_LINES = (
    Line("line1", {"A": PartRate(218, 843), "B": PartRate(156, 569), "C": PartRate(128, 572)}),
    Line("line2", {"A": PartRate(156, 562), "B": PartRate(154, 558), "C": PartRate(127, 571)}),
)
DEMO_RATES = {"line1": (0.50, 0.40), "line2": (0.65, 0.40)}
MONEY_LINES = tuple(
    Line(
        line.id,
        line.part_rates,
        line.capacity_units,
        machine_hour_rate=DEMO_RATES[line.id][0],
        energy_price_per_kwh=DEMO_RATES[line.id][1],
    )
    for line in STUDY_LINES
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mean-interarrival-s", type=float, default=1000.0)
    parser.add_argument("--seconds", action="store_true", help="the seed's units, no rates")
    arguments = parser.parse_args()
    lines = STUDY_LINES if arguments.seconds else MONEY_LINES
    arrivals = random_order_stream(
        seed=arguments.seed,
        order_count=arguments.orders,
        part_types=("A", "B", "C"),
        mean_interarrival_s=arguments.mean_interarrival_s,
    )
    units = sum(order.quantity_units for _, order in arrivals)
    print(
        f"{arguments.orders} orders, {units} units, seed {arguments.seed}, mean inter-arrival "
        f"{arguments.mean_interarrival_s:g} s, capacity 40 units per line"
    )
    print(
        "| h | (α, β) | orders line 1 | orders line 2 | units line 1 | units line 2 | "
        "line 2 share of units | cheapest-line decisions | lowest-load decisions | "
        "backlog waits | last order done (h) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    cases = [
        (threshold, weights)
        for threshold in (1.3, 1.0)
        for weights in ((1.0, 1.0), (1.0, 2.0), (2.0, 1.0))
    ]
    for threshold, (alpha, beta) in cases:
        result = simulate_order_stream(
            arrivals,
            lines,
            weights=CostWeights(time_weight=alpha, energy_weight=beta, energy_price_per_kwh=0.25),
            config=DispatchConfig(cost_ratio_threshold=threshold),
        )
        line1, line2 = result.lines
        cheapest = sum(1 for item in result.decisions if item.rule == DispatchRule.CHEAPEST_LINE)
        lowest = sum(1 for item in result.decisions if item.rule == DispatchRule.LOWEST_LOAD)
        print(
            f"| {threshold:g} | ({alpha:g}, {beta:g}) | {line1.order_count} | "
            f"{line2.order_count} | {line1.units} | {line2.units} | "
            f"{result.unit_share('line2'):.3f} | {cheapest} | {lowest} | "
            f"{result.backlog_waits} | {result.end_s / 3600:.1f} |"
        )


if __name__ == "__main__":
    main()
