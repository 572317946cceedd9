"""Settings of the maintenance app with their defaults (override in ``mes_site/settings.py``).

All are read at call time, so tests can change them with ``override_settings``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from maintenance.algorithms.health_settings import HealthSettings
from maintenance.algorithms.recommendation import RecommendationSettings
from maintenance.algorithms.signal import FeatureSettings

DEFAULTS: dict[str, object] = {
    # Health evaluation
    "MAINTENANCE_FEATURE_SIGNAL_PREFIX": "vibration_",
    "MAINTENANCE_BASELINE_WINDOWS": 60,
    "MAINTENANCE_RECENT_WINDOWS_MAX": 32,
    "MAINTENANCE_RECENT_WINDOWS_MIN": 8,
    "MAINTENANCE_RECENT_MAX_AGE_S": 600.0,
    "MAINTENANCE_SNAPSHOT_MIN_INTERVAL_S": 60.0,
    "MAINTENANCE_FAILURE_RMS_RATIO": 4.0,
    "MAINTENANCE_TREND_WINDOW_H": 24.0,
    "MAINTENANCE_BOOTSTRAP_RESAMPLES": 200,
    # Recommendation thresholds (DESIGN §6.2); RUL limits in days
    "MAINTENANCE_CRITICAL_ALPHA": 0.8,
    "MAINTENANCE_CRITICAL_RUL_DAYS": 7.0,
    "MAINTENANCE_HIGH_ALPHA": 0.6,
    "MAINTENANCE_HIGH_RUL_DAYS": 30.0,
    "MAINTENANCE_MEDIUM_ALPHA": 0.4,
    "MAINTENANCE_MEDIUM_RUL_DAYS": 90.0,
    # Closed loop
    "MAINTENANCE_ANOMALY_ALPHA": 0.6,
    "MAINTENANCE_EPISODE_COOLDOWN_H": 24.0,
    "MAINTENANCE_PREDICTIVE_DURATION_H": 4.0,
    "MAINTENANCE_PROCUREMENT_STALE_H": 24.0,
    # Fleet RUL model (train_rul): RUL cap (= the medium horizon, 90 days) and grid step
    "MAINTENANCE_FLEET_RUL_CAP_H": 2160.0,
    "MAINTENANCE_FLEET_RUL_STEP_H": 1.0,
    # Corrective orders from stops (maintenance.services.corrective)
    "MAINTENANCE_FAILURE_REASON_CODES": ("BREAKDOWN",),
    "MAINTENANCE_UNCLASSIFIED_STOP_S": 600.0,
    "MAINTENANCE_CORRECTIVE_LOOKBACK_H": 24.0,
    # Sensor drift (maintenance.services.drift; maintenance.algorithms.drift.DriftSettings)
    "MAINTENANCE_DRIFT_WINDOW_S": 3600.0,
    "MAINTENANCE_DRIFT_CUSUM_K": 1.0,
    "MAINTENANCE_DRIFT_CUSUM_H": 12.0,
    "MAINTENANCE_DRIFT_CALIBRATION_DURATION_H": 1.0,
    # Raw windows posted to the MES
    "MAINTENANCE_RAW_SAMPLE_RATE_HZ": 10_000.0,
    "MAINTENANCE_RAW_WINDOW_LENGTH": 1024,
}


def setting(name: str):
    return getattr(settings, name, DEFAULTS[name])


@dataclass(frozen=True)
class HealthConfig:
    """Everything one health evaluation needs from the settings."""

    feature_signal_prefix: str
    baseline_windows: int
    recent_windows_max: int
    recent_windows_min: int
    recent_max_age_s: float
    snapshot_min_interval_s: float
    anomaly_alpha: float
    episode_cooldown_h: float
    health: HealthSettings
    recommendation: RecommendationSettings


def health_config() -> HealthConfig:
    hours_per_day = 24.0
    return HealthConfig(
        feature_signal_prefix=str(setting("MAINTENANCE_FEATURE_SIGNAL_PREFIX")),
        baseline_windows=int(setting("MAINTENANCE_BASELINE_WINDOWS")),
        recent_windows_max=int(setting("MAINTENANCE_RECENT_WINDOWS_MAX")),
        recent_windows_min=int(setting("MAINTENANCE_RECENT_WINDOWS_MIN")),
        recent_max_age_s=float(setting("MAINTENANCE_RECENT_MAX_AGE_S")),
        snapshot_min_interval_s=float(setting("MAINTENANCE_SNAPSHOT_MIN_INTERVAL_S")),
        anomaly_alpha=float(setting("MAINTENANCE_ANOMALY_ALPHA")),
        episode_cooldown_h=float(setting("MAINTENANCE_EPISODE_COOLDOWN_H")),
        health=HealthSettings(
            failure_rms_ratio=float(setting("MAINTENANCE_FAILURE_RMS_RATIO")),
            trend_window_h=float(setting("MAINTENANCE_TREND_WINDOW_H")),
            bootstrap_resamples=int(setting("MAINTENANCE_BOOTSTRAP_RESAMPLES")),
        ),
        recommendation=RecommendationSettings(
            critical_alpha=float(setting("MAINTENANCE_CRITICAL_ALPHA")),
            critical_rul_h=float(setting("MAINTENANCE_CRITICAL_RUL_DAYS")) * hours_per_day,
            high_alpha=float(setting("MAINTENANCE_HIGH_ALPHA")),
            high_rul_h=float(setting("MAINTENANCE_HIGH_RUL_DAYS")) * hours_per_day,
            medium_alpha=float(setting("MAINTENANCE_MEDIUM_ALPHA")),
            medium_rul_h=float(setting("MAINTENANCE_MEDIUM_RUL_DAYS")) * hours_per_day,
        ),
    )


def feature_settings(sample_rate_hz: float | None = None) -> FeatureSettings:
    """The feature definition of the stored vibration signals (bands of DEFAULT_BANDS)."""
    return FeatureSettings(
        sample_rate_hz=float(sample_rate_hz or setting("MAINTENANCE_RAW_SAMPLE_RATE_HZ")),
        window_length=int(setting("MAINTENANCE_RAW_WINDOW_LENGTH")),
    )
