"""What-if of a dispatch decision: the lines' queues simulated forward (pure).

Each line works through its orders first in, first out, one after another, an order taking
``Σ n_p·t_{p,m}`` and ``Σ n_p·E_{p,m}`` kWh (as in :mod:`.stream`). The forecast per line:
when it finishes, its energy and its cost in money (the line's rates, α = β = 1), and when
each order is done.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from planning.algorithms.dispatch.model import CostWeights, Line, Order


@dataclass(frozen=True, slots=True)
class LineForecast:
    line_id: str
    busy_s: float
    energy_kwh: float
    cost: float
    completion_s: Mapping[str, float]


def line_queues_forecast(
    lines: Sequence[Line],
    queues: Mapping[str, Sequence[Order]],
    *,
    weights: CostWeights | None = None,
) -> tuple[LineForecast, ...]:
    """Per line: its queue run first in, first out from time 0 (seconds from now)."""
    weights = weights or CostWeights()
    result = []
    for line in lines:
        clock = energy = cost = 0.0
        completion: dict[str, float] = {}
        for order in queues.get(line.id, ()):
            for part_type, quantity in order.quantities.items():
                rate = line.part_rates.get(part_type)
                if rate is None:
                    raise ValueError(f"line {line.id} does not make {part_type}")
                clock += quantity * rate.time_s
                energy += quantity * rate.energy_kwh
                cost += quantity * (
                    rate.time_s * line.time_price_per_s
                    + rate.energy_kwh * line.energy_price(weights)
                )
            completion[order.id] = clock
        result.append(LineForecast(line.id, clock, energy, cost, completion))
    return tuple(result)
