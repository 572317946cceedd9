"""Raw vibration windows sent to the MES instead of features: the MES computes the features.

:func:`raw_window_ingest` checks the window (length, finite samples, not constant — the
errors of :mod:`maintenance.algorithms.signal`, each with its own code), computes the
features with the same code as the edge agent and stores them as readings of the
equipment's ``vibration_<feature>`` signals at the window's timestamp — exactly what the
edge agent would have published — then asks for a (debounced) health refresh.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from maintenance import selectors
from maintenance.algorithms.signal import (
    ConstantSignalError,
    NonFiniteSampleError,
    SignalError,
    VibrationFeatures,
    WindowLengthError,
    extract_window_features,
)
from maintenance.conf import feature_settings, setting
from mes_site.errors import NotFound, ValidationFailed
from production.models import Equipment
from workers import store
from workers.choices import QUALITY_GOOD
from workers.hooks import vibration_features_stored

SIGNAL_ERROR_CODES: dict[type[SignalError], str] = {
    NonFiniteSampleError: "non_finite_samples",
    ConstantSignalError: "constant_signal",
    WindowLengthError: "wrong_window_length",
}
MAX_FUTURE = timedelta(minutes=5)


def _signal_error_code(error: SignalError) -> str:
    for error_type, code in SIGNAL_ERROR_CODES.items():
        if isinstance(error, error_type):
            return code
    return "invalid_window"


def raw_window_features(
    *, samples: Sequence[float] | np.ndarray, sample_rate_hz: float
) -> VibrationFeatures:
    """Features of one raw window; ``ValidationFailed`` with a specific code when it is bad."""
    expected_rate_hz = float(setting("MAINTENANCE_RAW_SAMPLE_RATE_HZ"))
    if not (isinstance(sample_rate_hz, int | float) and math.isfinite(sample_rate_hz)):
        raise ValidationFailed("sample_rate_hz must be a finite number.", code="invalid_rate")
    if abs(sample_rate_hz - expected_rate_hz) > 1e-6 * expected_rate_hz:
        raise ValidationFailed(
            f"Windows must be sampled at {expected_rate_hz:g} Hz (the healthy baseline and the "
            f"band energies are defined for it), got {sample_rate_hz:g} Hz.",
            code="wrong_sample_rate",
            detail={"expected_hz": expected_rate_hz, "got_hz": sample_rate_hz},
        )
    definition = feature_settings(sample_rate_hz)
    try:
        array = np.asarray(samples, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValidationFailed(
            f"samples must be a list of numbers: {error}", code="invalid_window"
        ) from error
    try:
        return extract_window_features(array, definition)
    except SignalError as error:
        raise ValidationFailed(
            str(error),
            code=_signal_error_code(error),
            detail={"window_length": definition.window_length, "got_length": int(array.size)},
        ) from error


def raw_window_ingest(
    *,
    equipment_id: int,
    ts: datetime,
    samples: Sequence[float] | np.ndarray,
    sample_rate_hz: float,
) -> dict[str, float]:
    """Compute and store the features of one raw window; returns them by feature name.

    Idempotent: the same window (equipment, ts) stored twice is stored once.
    """
    equipment = Equipment.objects.filter(pk=equipment_id).first()
    if equipment is None:
        raise NotFound(f"No equipment {equipment_id}.")
    if ts.tzinfo is None:
        raise ValidationFailed("ts must carry a time zone (UTC).")
    now = timezone.now()
    if ts > now + MAX_FUTURE:
        raise ValidationFailed(f"ts {ts.isoformat()} lies in the future.", code="ts_in_future")
    retention_days = float(getattr(settings, "INGEST_RETENTION_DAYS", 30))
    if ts < now - timedelta(days=retention_days):
        raise ValidationFailed(
            f"ts {ts.isoformat()} is older than the telemetry retention of "
            f"{retention_days:g} days.",
            code="too_old",
        )
    features = raw_window_features(samples=samples, sample_rate_hz=sample_rate_hz)
    signal_ids = selectors.feature_signal_ids(
        equipment_id=equipment_id, feature_names=features.feature_names
    )
    values = features.as_dict()
    rows = [
        (signal_ids[name], ts, float(value), None, QUALITY_GOOD) for name, value in values.items()
    ]
    store.partitions_ensure(store.partitions_for_range(ts, ts))
    with transaction.atomic():
        store.readings_write(rows)
        transaction.on_commit(lambda: vibration_features_stored(equipment_id=equipment_id))
    return values
