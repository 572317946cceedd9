"""One health evaluation of one equipment from vibration features (pure, Django-free).

Model ``MODEL_VERSION`` (stored with every health snapshot). The pieces, in the order a health
evaluation uses them:

1. **Healthy baseline** and 2. **anomaly α**: :mod:`maintenance.algorithms.anomaly`
   (:func:`~maintenance.algorithms.anomaly.baseline_fit`,
   :func:`~maintenance.algorithms.anomaly.anomaly_score`).
3. **Degradation indicator and health index** and 4. **degradation slope δ and RUL**:
   :mod:`maintenance.algorithms.degradation`.
5. **Recommendation**: :mod:`maintenance.algorithms.recommendation`.

The tunable constants are :class:`~maintenance.algorithms.health_settings.HealthSettings` and
:class:`~maintenance.algorithms.recommendation.RecommendationSettings`.

Times are epoch seconds (floats) in arrays; durations are hours (``_h``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from maintenance.algorithms.anomaly import AnomalyScore, HealthyBaseline, anomaly_score
from maintenance.algorithms.degradation import (
    RulEstimate,
    RulState,
    degradation_rate,
    health_index,
    rul_estimate,
)
from maintenance.algorithms.health_settings import MODEL_VERSION, HealthSettings
from maintenance.algorithms.recommendation import (
    MaintenancePriority,
    RecommendationSettings,
    recommend_priority,
)

# --- one evaluation -----------------------------------------------------------------------


@dataclass(frozen=True)
class HealthAssessment:
    """One health evaluation of one equipment: what a health snapshot stores."""

    alpha: float
    degradation_rate_per_h: float | None
    health_index: float
    rms_ratio: float
    rul: RulEstimate
    priority: MaintenancePriority
    anomaly: AnomalyScore
    model_version: str = MODEL_VERSION


def health_assess(
    baseline: HealthyBaseline,
    recent_features: ArrayLike,
    *,
    history_times_s: ArrayLike,
    history_rms_ratios: ArrayLike,
    now_s: float,
    seed: int,
    settings: HealthSettings | None = None,
    recommendation_settings: RecommendationSettings | None = None,
) -> HealthAssessment:
    """Evaluate one equipment at ``now_s``.

    ``recent_features`` are the feature vectors of the windows of this evaluation;
    ``history_*`` are the ``rms_ratio`` values of *earlier* evaluations (this one's is appended
    at ``now_s``). The recommendation uses α and the pessimistic RUL p10.
    """
    settings = settings or HealthSettings()
    anomaly = anomaly_score(baseline, recent_features, settings=settings)
    times = np.append(np.asarray(history_times_s, dtype=np.float64).ravel(), now_s)
    ratios = np.append(np.asarray(history_rms_ratios, dtype=np.float64).ravel(), anomaly.rms_ratio)
    if not np.isfinite(ratios).all() or (ratios <= 0).any():
        raise ValueError("history_rms_ratios must be positive finite numbers")
    failure_ratio = settings.failure_rms_ratio
    # The trend is fitted to the mean-square ratio D², whose excess over 1 is the energy a
    # defect adds on top of the healthy vibration (energies add, amplitudes do not).
    rul = rul_estimate(
        times,
        np.square(ratios),
        now_s=now_s,
        failure_threshold=failure_ratio**2,
        healthy_level=1.0,
        seed=seed,
        settings=settings,
    )
    rate_per_h = degradation_rate(
        times, ratios, now_s=now_s, failure_threshold=failure_ratio, settings=settings
    )
    rul = dataclasses.replace(
        rul,
        degradation_rate_per_h=rate_per_h,
        indicator_now=None if rul.indicator_now is None else math.sqrt(rul.indicator_now),
    )
    if rul.state is RulState.PAST_THRESHOLD:
        pessimistic_rul_h: float | None = 0.0
    elif rul.state is RulState.ESTIMATED:
        pessimistic_rul_h = rul.rul_p10_h
    else:
        pessimistic_rul_h = None
    return HealthAssessment(
        alpha=anomaly.alpha,
        degradation_rate_per_h=rate_per_h,
        health_index=health_index(anomaly.rms_ratio, failure_threshold=failure_ratio),
        rms_ratio=anomaly.rms_ratio,
        rul=rul,
        priority=recommend_priority(
            alpha=anomaly.alpha, rul_h=pessimistic_rul_h, settings=recommendation_settings
        ),
        anomaly=anomaly,
    )
