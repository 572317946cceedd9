"""Time vibration feature extraction and one health evaluation.

Run: ``.venv/bin/python -m bench.maintenance.feature_speed`` (about 10 s).
Prints microseconds per 1024-sample window, one at a time and in batches, and milliseconds per
health evaluation (anomaly α + RUL bootstrap). Best of several repeats, so the figures are the
machine's speed, not the noise of a shared CPU.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from maintenance.algorithms.anomaly import baseline_fit
from maintenance.algorithms.health import health_assess
from maintenance.algorithms.health_settings import HealthSettings
from maintenance.algorithms.signal import (
    FeatureSettings,
    extract_features,
    extract_window_features,
)
from maintenance.algorithms.synthetic import BearingSpec, DegradationProfile, DegradingBearing

REPEATS = 5


def best_seconds(action: Callable[[], object], loops: int) -> float:
    """Best (minimum) mean duration of ``loops`` calls over ``REPEATS`` repeats."""
    timings = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(loops):
            action()
        timings.append((time.perf_counter() - start) / loops)
    return min(timings)


def main() -> None:
    settings = FeatureSettings()
    bearing = DegradingBearing(BearingSpec(), DegradationProfile(onset_h=10.0, failure_h=60.0))
    rng = np.random.default_rng(0)
    windows = bearing.windows(40.0, 1000, rng)

    single_s = best_seconds(lambda: extract_window_features(windows[0], settings), loops=500)
    print(f"features, single window ({settings.window_length} samples): {single_s * 1e6:8.1f} µs")
    for batch_size in (8, 64, 1000):
        batch = windows[:batch_size]
        batch_s = best_seconds(lambda batch=batch: extract_features(batch, settings), loops=20)
        print(
            f"features, batch of {batch_size:4d}: {batch_s * 1e6 / batch_size:8.1f} µs per window"
        )

    generate_s = best_seconds(lambda: bearing.windows(40.0, 8, rng), loops=50)
    print(f"synthetic bearing, 8 windows:      {generate_s * 1e3:8.2f} ms")

    healthy = extract_features(bearing.windows(0.0, 60, rng), settings)
    baseline = baseline_fit(healthy.as_array(), healthy.feature_names)
    recent = extract_features(bearing.windows(50.0, 8, rng), settings).as_array()
    now_s = 1_750_000_000.0
    health_settings = HealthSettings()
    for point_count in (30, 120):
        history_h = np.linspace(-23.0, -0.1, point_count)
        ratios = np.array([bearing.expected_rms_ratio(50.0 + t) for t in history_h])
        state = health_assess(
            baseline,
            recent,
            history_times_s=now_s + history_h * 3600.0,
            history_rms_ratios=ratios,
            now_s=now_s,
            seed=1,
            settings=health_settings,
        ).rul.state
        assess_s = best_seconds(
            lambda history_h=history_h, ratios=ratios: health_assess(
                baseline,
                recent,
                history_times_s=now_s + history_h * 3600.0,
                history_rms_ratios=ratios,
                now_s=now_s,
                seed=1,
                settings=health_settings,
            ),
            loops=10,
        )
        print(
            f"health evaluation, {point_count:3d}-point history, "
            f"{health_settings.bootstrap_resamples} bootstrap refits: {assess_s * 1e3:6.1f} ms "
            f"(RUL state: {state})"
        )


if __name__ == "__main__":
    main()
