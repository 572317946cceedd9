"""MTBF and MTTR of one work unit over one period, per ISO 22400-2 (pure, Django-free).

ISO 22400-2 maintenance KPIs::

    MTBF = Σ TBF / FE        mean operating time between failures
    MTTR = Σ TTR / FE        mean time to repair

FE is the number of failure events in the period, TTR the time to repair of each failure.
TBF, the time between failures, is *operating* time: it counts the time the unit was busy
— actual production time APT plus actual setup time AUST (together AUPT, the ISO processing
time, see :mod:`production.algorithms.oee`) — and not delays, down time, planned down time or
time without data. The caller therefore passes ``production_time_s`` (APT) and
``setup_time_s`` (AUST) summed over the period, not wall-clock time; Σ TBF is their sum.

A repair still in progress at the end of the period is a failure event of the period; its
TTR is the repair time up to the period end (pass it as such). With FE = 0 both KPIs are
undefined and reported as ``None``, never 0 or infinity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "ReliabilityFigures",
    "mean_time_between_failures_s",
    "mean_time_to_repair_s",
    "reliability_figures",
]


def _require_duration(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be ≥ 0 s, got {value}")


def _require_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be ≥ 0, got {value}")


def mean_time_between_failures_s(
    *, operating_time_s: float, failure_event_count: int
) -> float | None:
    """MTBF = Σ TBF / FE, with Σ TBF the operating time (APT + AUST); ``None`` when FE = 0."""
    _require_duration("operating_time_s", operating_time_s)
    _require_count("failure_event_count", failure_event_count)
    if failure_event_count == 0:
        return None
    return operating_time_s / failure_event_count


def mean_time_to_repair_s(*, total_repair_time_s: float, failure_event_count: int) -> float | None:
    """MTTR = Σ TTR / FE; ``None`` when FE = 0 (then Σ TTR must be 0 too)."""
    _require_duration("total_repair_time_s", total_repair_time_s)
    _require_count("failure_event_count", failure_event_count)
    if failure_event_count == 0:
        if total_repair_time_s > 0:
            raise ValueError("repair time without a failure event: FE = 0 but Σ TTR > 0")
        return None
    return total_repair_time_s / failure_event_count


@dataclass(frozen=True)
class ReliabilityFigures:
    """ISO 22400-2 reliability KPIs of one work unit over one period (seconds)."""

    failure_event_count: int
    operating_time_s: float
    total_repair_time_s: float
    mean_time_between_failures_s: float | None
    mean_time_to_repair_s: float | None


def reliability_figures(
    *,
    production_time_s: float,
    setup_time_s: float,
    repair_durations_s: Sequence[float],
) -> ReliabilityFigures:
    """MTBF and MTTR from APT, AUST and one repair duration (TTR) per failure event."""
    _require_duration("production_time_s", production_time_s)
    _require_duration("setup_time_s", setup_time_s)
    for index, duration_s in enumerate(repair_durations_s):
        _require_duration(f"repair_durations_s[{index}]", duration_s)
    failure_event_count = len(repair_durations_s)
    operating_time_s = production_time_s + setup_time_s
    total_repair_time_s = math.fsum(repair_durations_s)
    return ReliabilityFigures(
        failure_event_count=failure_event_count,
        operating_time_s=operating_time_s,
        total_repair_time_s=total_repair_time_s,
        mean_time_between_failures_s=mean_time_between_failures_s(
            operating_time_s=operating_time_s, failure_event_count=failure_event_count
        ),
        mean_time_to_repair_s=mean_time_to_repair_s(
            total_repair_time_s=total_repair_time_s, failure_event_count=failure_event_count
        ),
    )
