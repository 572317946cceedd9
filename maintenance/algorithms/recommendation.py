"""Maintenance priority from anomaly α and remaining useful life (pure, Django-free).

5. **Recommendation** (:func:`recommend_priority`): critical if α > 0.8 or RUL < 7 days; high if
   α > 0.6 or RUL < 30 days; medium if α > 0.4 or RUL < 90 days; otherwise low. The
   evaluation passes the pessimistic RUL p10.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from maintenance.algorithms.health_settings import HOURS_PER_DAY, require_finite


class MaintenancePriority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 (low) … 3 (critical), for comparisons."""
        return _PRIORITY_ORDER.index(self)


_PRIORITY_ORDER: tuple[MaintenancePriority, ...] = (
    MaintenancePriority.LOW,
    MaintenancePriority.MEDIUM,
    MaintenancePriority.HIGH,
    MaintenancePriority.CRITICAL,
)


@dataclass(frozen=True)
class RecommendationSettings:
    """Thresholds of the maintenance recommendation (DESIGN §6.2); RUL limits in hours."""

    critical_alpha: float = 0.8
    critical_rul_h: float = 7 * HOURS_PER_DAY
    high_alpha: float = 0.6
    high_rul_h: float = 30 * HOURS_PER_DAY
    medium_alpha: float = 0.4
    medium_rul_h: float = 90 * HOURS_PER_DAY

    def __post_init__(self) -> None:
        for name in (
            "critical_alpha",
            "critical_rul_h",
            "high_alpha",
            "high_rul_h",
            "medium_alpha",
            "medium_rul_h",
        ):
            require_finite(name, getattr(self, name))
        if not 0.0 <= self.medium_alpha <= self.high_alpha <= self.critical_alpha <= 1.0:
            raise ValueError(
                "alpha thresholds must satisfy 0 ≤ medium ≤ high ≤ critical ≤ 1, got "
                f"{self.medium_alpha}, {self.high_alpha}, {self.critical_alpha}"
            )
        if not 0.0 <= self.critical_rul_h <= self.high_rul_h <= self.medium_rul_h:
            raise ValueError(
                "RUL thresholds must satisfy 0 ≤ critical ≤ high ≤ medium, got "
                f"{self.critical_rul_h}, {self.high_rul_h}, {self.medium_rul_h} h"
            )


# --- recommendation -----------------------------------------------------------------------


def recommend_priority(
    *, alpha: float, rul_h: float | None, settings: RecommendationSettings | None = None
) -> MaintenancePriority:
    """Maintenance priority from α and a RUL in hours (``None`` = unbounded / unknown)."""
    settings = settings or RecommendationSettings()
    require_finite("alpha", alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    if rul_h is not None:
        require_finite("rul_h", rul_h)
        if rul_h < 0:
            raise ValueError(f"rul_h must be ≥ 0, got {rul_h}")
    remaining_h = math.inf if rul_h is None else rul_h
    if alpha > settings.critical_alpha or remaining_h < settings.critical_rul_h:
        return MaintenancePriority.CRITICAL
    if alpha > settings.high_alpha or remaining_h < settings.high_rul_h:
        return MaintenancePriority.HIGH
    if alpha > settings.medium_alpha or remaining_h < settings.medium_rul_h:
        return MaintenancePriority.MEDIUM
    return MaintenancePriority.LOW
