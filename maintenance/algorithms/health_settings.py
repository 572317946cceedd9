"""Constants and tunable settings of the equipment health model (pure, Django-free).

The model's pieces live in :mod:`~maintenance.algorithms.anomaly` (baseline, α),
:mod:`~maintenance.algorithms.degradation` (health index, δ, RUL),
:mod:`~maintenance.algorithms.recommendation` (priority) and
:mod:`~maintenance.algorithms.health` (one evaluation); the defaults below are explained there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

MODEL_VERSION = "maint-health-1.0"

SECONDS_PER_HOUR = 3600.0
HOURS_PER_DAY = 24.0

TrendModel = Literal["exponential", "linear"]
_TREND_MODELS: tuple[str, ...] = ("exponential", "linear")


def require_finite(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


@dataclass(frozen=True)
class HealthSettings:
    """Tunable constants of the health model (defaults explained in anomaly and degradation)."""

    kurtosis_floor: float = 3.5
    rms_ratio_floor: float = 2.5
    floor_alpha: float = 0.85
    relative_std_floor: float = 0.01
    failure_rms_ratio: float = 4.0
    trend_model: TrendModel = "exponential"
    trend_window_h: float = 24.0
    excess_floor_fraction: float = 0.01
    trend_min_points: int = 10
    trend_max_points: int = 120
    bootstrap_resamples: int = 200

    def __post_init__(self) -> None:
        for name in (
            "kurtosis_floor",
            "rms_ratio_floor",
            "floor_alpha",
            "relative_std_floor",
            "failure_rms_ratio",
            "trend_window_h",
            "excess_floor_fraction",
        ):
            require_finite(name, getattr(self, name))
        if not 0.0 < self.excess_floor_fraction < 1.0:
            raise ValueError(
                f"excess_floor_fraction must lie in (0, 1), got {self.excess_floor_fraction}"
            )
        if not 0.0 <= self.floor_alpha <= 1.0:
            raise ValueError(f"floor_alpha must lie in [0, 1], got {self.floor_alpha}")
        if self.relative_std_floor < 0:
            raise ValueError(f"relative_std_floor must be ≥ 0, got {self.relative_std_floor}")
        if self.failure_rms_ratio <= 1.0:
            raise ValueError(
                f"failure_rms_ratio must exceed 1 (the healthy level), got {self.failure_rms_ratio}"
            )
        if self.trend_model not in _TREND_MODELS:
            raise ValueError(
                f"trend_model must be one of {_TREND_MODELS}, got {self.trend_model!r}"
            )
        if self.trend_window_h <= 0:
            raise ValueError(f"trend_window_h must be > 0, got {self.trend_window_h}")
        if self.trend_min_points < 3:
            raise ValueError(f"trend_min_points must be ≥ 3, got {self.trend_min_points}")
        if self.trend_max_points < self.trend_min_points:
            raise ValueError("trend_max_points must be ≥ trend_min_points")
        if self.bootstrap_resamples < 20:
            raise ValueError(
                f"bootstrap_resamples must be ≥ 20 for p10/p90, got {self.bootstrap_resamples}"
            )
