"""The synthetic degrading bearing: known failure time, seeded, physically plausible."""

from __future__ import annotations

import math

import numpy as np
import pytest

from maintenance.algorithms.signal import kurtosis, rms
from maintenance.algorithms.synthetic import BearingSpec, DegradationProfile, DegradingBearing

SPEC = BearingSpec()
PROFILE = DegradationProfile(onset_h=100.0, failure_h=300.0)
BEARING = DegradingBearing(SPEC, PROFILE)


def test_expected_rms_ratio_is_one_before_onset_and_the_threshold_at_failure() -> None:
    assert BEARING.expected_rms_ratio(0.0) == 1.0
    assert BEARING.expected_rms_ratio(100.0) == 1.0
    assert BEARING.expected_rms_ratio(300.0) == pytest.approx(4.0, rel=1e-9)
    assert BEARING.expected_rms_ratio(200.0) > 1.0
    assert BEARING.expected_rms_ratio(350.0) > 4.0
    assert BEARING.remaining_useful_life_h(250.0) == 50.0


def test_severity_grows_exponentially_after_onset() -> None:
    rate = BEARING.growth_rate_per_h

    assert BEARING.severity(50.0) == 0.0
    assert BEARING.severity(150.0) == pytest.approx(math.expm1(50 * rate), rel=1e-12)
    assert BEARING.severity(250.0) > BEARING.severity(200.0) > BEARING.severity(150.0)


def test_windows_have_the_configured_shape_and_repeat_with_the_seed() -> None:
    first = BEARING.windows(250.0, 4, np.random.default_rng(5))
    again = BEARING.windows(250.0, 4, np.random.default_rng(5))
    other = BEARING.windows(250.0, 4, np.random.default_rng(6))

    assert first.shape == (4, SPEC.window_length)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert np.isfinite(first).all()


def test_healthy_windows_have_the_healthy_rms_and_sub_gaussian_kurtosis() -> None:
    windows = BEARING.windows(10.0, 64, np.random.default_rng(1))

    mean_square = float(np.mean(rms(windows) ** 2))

    assert mean_square == pytest.approx(SPEC.healthy_mean_square, rel=0.03)
    assert float(np.median(kurtosis(windows))) < 3.0  # sines + noise are not impulsive


@pytest.mark.parametrize("time_h", [220.0, 270.0, 300.0])
def test_measured_rms_ratio_follows_the_expected_curve(time_h: float) -> None:
    windows = BEARING.windows(time_h, 64, np.random.default_rng(int(time_h)))

    measured = math.sqrt(float(np.mean(rms(windows) ** 2)) / SPEC.healthy_mean_square)

    assert measured == pytest.approx(BEARING.expected_rms_ratio(time_h), rel=0.05)


def test_kurtosis_rises_before_the_rms_does() -> None:
    rng = np.random.default_rng(3)
    early = BEARING.windows(215.0, 32, rng)  # expected RMS still < 1.3 × healthy

    assert BEARING.expected_rms_ratio(215.0) < 1.3
    assert float(np.median(kurtosis(early))) > 3.5


def test_profile_and_spec_refuse_impossible_values() -> None:
    with pytest.raises(ValueError, match="must come after onset_h"):
        DegradationProfile(onset_h=10.0, failure_h=5.0)
    with pytest.raises(ValueError, match="failure_rms_ratio must exceed 1"):
        DegradationProfile(onset_h=0.0, failure_h=5.0, failure_rms_ratio=1.0)
    with pytest.raises(ValueError, match="Nyquist"):
        BearingSpec(sample_rate_hz=4_000.0)
    with pytest.raises(ValueError, match="count must be ≥ 1"):
        BEARING.windows(0.0, 0, np.random.default_rng(0))
