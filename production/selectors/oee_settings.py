"""The OEE settings the monitoring selectors and services read (with their defaults)."""

from __future__ import annotations

from django.conf import settings


def micro_stop_threshold_s() -> float:
    """Stops shorter than this are minor stops (ADET, no reason asked). Default 120 s."""
    return float(getattr(settings, "OEE_MICRO_STOP_THRESHOLD_S", 120.0))


def close_delay_s() -> float:
    """A period is closed (snapshot stored) this long after it ends. At least the threshold."""
    return max(float(getattr(settings, "OEE_CLOSE_DELAY_S", 300.0)), micro_stop_threshold_s())


def live_max_age_s() -> float:
    """A live accumulator is rebuilt from the database at least this often (calendar edits)."""
    return float(getattr(settings, "OEE_LIVE_MAX_AGE_S", 60.0))
