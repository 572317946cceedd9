"""Healthy baseline, anomaly α, health index, δ, RUL and the maintenance recommendation."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from maintenance.algorithms.anomaly import (
    BaselineError,
    HealthyBaseline,
    anomaly_score,
    baseline_fit,
    minimum_baseline_windows,
)
from maintenance.algorithms.degradation import (
    RulState,
    degradation_rate,
    health_index,
    rul_estimate,
)
from maintenance.algorithms.health import health_assess
from maintenance.algorithms.health_settings import MODEL_VERSION, HealthSettings
from maintenance.algorithms.recommendation import (
    MaintenancePriority,
    RecommendationSettings,
    recommend_priority,
)
from maintenance.algorithms.signal import FeatureSettings, extract_features
from maintenance.algorithms.synthetic import BearingSpec, DegradationProfile, DegradingBearing

NAMES = ("rms", "peak_to_peak", "kurtosis", "crest_factor", "band_a", "band_b")
MEAN = np.array([1.0, 4.0, 3.0, 2.8, 0.5, 0.2])
STD = np.array([0.05, 0.3, 0.15, 0.2, 0.05, 0.02])
HOUR_S = 3600.0
NOW_S = 1_750_000_000.0  # an arbitrary evaluation instant (epoch seconds)


# RMS, peak-to-peak and the band energies move together, as they do on a real machine.
CORRELATION = np.array(
    [
        [1.0, 0.9, 0.0, 0.0, 0.6, 0.5],
        [0.9, 1.0, 0.0, 0.0, 0.5, 0.4],
        [0.0, 0.0, 1.0, 0.3, 0.0, 0.0],
        [0.0, 0.0, 0.3, 1.0, 0.0, 0.0],
        [0.6, 0.5, 0.0, 0.0, 1.0, 0.3],
        [0.5, 0.4, 0.0, 0.0, 0.3, 1.0],
    ]
)
COVARIANCE = CORRELATION * np.outer(STD, STD)


def healthy_features(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).multivariate_normal(MEAN, COVARIANCE, size=count)


@pytest.fixture(scope="module")
def baseline() -> HealthyBaseline:
    return baseline_fit(healthy_features(300), NAMES)


# --- baseline -----------------------------------------------------------------------------


def test_baseline_holds_the_mean_the_rms_and_an_invertible_covariance(
    baseline: HealthyBaseline,
) -> None:
    features = healthy_features(300)

    np.testing.assert_allclose(baseline.mean, features.mean(axis=0), rtol=1e-12)
    assert baseline.rms == pytest.approx(features[:, 0].mean(), rel=1e-12)
    assert baseline.window_count == 300
    assert baseline.feature_names == NAMES
    assert 0.0 <= baseline.shrinkage <= 1.0
    np.testing.assert_allclose(baseline.covariance, baseline.covariance.T, atol=1e-15)
    assert np.linalg.eigvalsh(baseline.covariance).min() > 0
    np.testing.assert_allclose(baseline.precision @ baseline.covariance, np.eye(6), atol=1e-9)
    assert baseline.model_version == MODEL_VERSION
    assert not baseline.mean.flags.writeable


def test_shrinkage_is_strong_for_few_windows_and_weak_for_many() -> None:
    few = baseline_fit(healthy_features(minimum_baseline_windows(6), seed=1), NAMES)
    many = baseline_fit(healthy_features(5000, seed=1), NAMES)

    assert few.shrinkage > many.shrinkage
    assert many.shrinkage < 0.01


def test_minimum_baseline_windows_is_thirty_or_five_per_feature() -> None:
    assert minimum_baseline_windows(1) == 30
    assert minimum_baseline_windows(6) == 30
    assert minimum_baseline_windows(8) == 40
    assert minimum_baseline_windows(20) == 100


def test_too_few_windows_is_not_enough_data() -> None:
    with pytest.raises(
        BaselineError, match=r"not enough data: .* at least 30 healthy windows, got 29"
    ):
        baseline_fit(healthy_features(29), NAMES)

    assert baseline_fit(healthy_features(30), NAMES).window_count == 30


def test_baseline_refuses_unusable_features() -> None:
    features = healthy_features(50)
    with pytest.raises(BaselineError, match="'rms' is required"):
        baseline_fit(features, ("a", "b", "kurtosis", "c", "d", "e"))
    with pytest.raises(BaselineError, match="shape"):
        baseline_fit(features[:, :5], NAMES)
    with_nan = features.copy()
    with_nan[3, 2] = np.nan
    with pytest.raises(BaselineError, match="NaN"):
        baseline_fit(with_nan, NAMES)
    zero_band = features.copy()
    zero_band[:, 5] = 0.0
    with pytest.raises(BaselineError, match="band_b"):
        baseline_fit(zero_band, NAMES)


def test_a_feature_that_never_moved_is_floored_not_divided_by_zero() -> None:
    features = healthy_features(50)
    features[:, 1] = 4.0  # e.g. a clipped sensor's peak-to-peak

    steady = baseline_fit(features, NAMES)

    assert steady.covariance[1, 1] == pytest.approx((0.01 * 4.0) ** 2, rel=1e-12)
    nudged = steady.mean.copy()
    nudged[1] *= 1.01  # a 1 % change of the steady feature is one floored spread, no alarm
    assert anomaly_score(steady, nudged).alpha < 0.2
    assert np.isfinite(steady.precision).all()


def test_baseline_survives_a_round_trip_through_its_dict(baseline: HealthyBaseline) -> None:
    restored = HealthyBaseline.from_dict(baseline.as_dict())

    assert restored.feature_names == baseline.feature_names
    np.testing.assert_array_equal(restored.mean, baseline.mean)
    np.testing.assert_array_equal(restored.covariance, baseline.covariance)
    np.testing.assert_allclose(restored.precision, baseline.precision, rtol=1e-12)
    assert restored.rms == baseline.rms
    with pytest.raises(BaselineError, match="malformed"):
        HealthyBaseline.from_dict({"feature_names": ["rms"]})


# --- anomaly ------------------------------------------------------------------------------


def test_healthy_windows_score_near_zero(baseline: HealthyBaseline) -> None:
    score = anomaly_score(baseline, healthy_features(16, seed=99))

    assert score.alpha < 0.05
    assert score.is_floor_rule_fired is False
    assert score.window_count == 16
    assert score.rms_ratio == pytest.approx(1.0, abs=0.05)


def test_a_four_sigma_shift_in_one_feature_scores_high(baseline: HealthyBaseline) -> None:
    shifted = healthy_features(16, seed=5)
    shifted[:, 4] += 4 * STD[4]

    score = anomaly_score(baseline, shifted)

    assert score.alpha > 0.85
    assert score.mahalanobis_distance > 3.0
    assert score.is_floor_rule_fired is False
    assert score.alpha == score.chi_square_alpha


def test_alpha_is_the_chi_square_cdf_of_the_squared_distance(baseline: HealthyBaseline) -> None:
    from scipy import stats

    vector = MEAN + np.array([0.02, 0.1, 0.05, -0.1, 0.01, 0.0])

    score = anomaly_score(baseline, vector)

    deviation = vector - baseline.mean
    squared = float(deviation @ baseline.precision @ deviation)
    assert score.chi_square_alpha == pytest.approx(stats.chi2.cdf(squared, df=6), rel=1e-12)
    assert score.mahalanobis_distance == pytest.approx(math.sqrt(squared), rel=1e-12)


def _wide_kurtosis_baseline() -> HealthyBaseline:
    # Kurtosis varies a lot in this baseline, so 3.6 is statistically unremarkable (χ² α small)
    # and only the floor rule can raise α.
    features = healthy_features(200, seed=3)
    features[:, 2] = np.random.default_rng(4).normal(3.0, 1.0, size=200)
    features[:, 0] = np.random.default_rng(6).normal(1.0, 0.8, size=200)
    return baseline_fit(features, NAMES)


def test_kurtosis_above_three_and_a_half_raises_alpha_to_the_floor() -> None:
    wide = _wide_kurtosis_baseline()
    vector = wide.mean.copy()
    vector[2] = 3.6

    score = anomaly_score(wide, vector)

    assert score.chi_square_alpha < 0.1
    assert score.is_floor_rule_fired is True
    assert score.alpha == 0.85


def test_kurtosis_just_below_the_rule_leaves_alpha_alone() -> None:
    wide = _wide_kurtosis_baseline()
    vector = wide.mean.copy()
    vector[2] = 3.4

    score = anomaly_score(wide, vector)

    assert score.is_floor_rule_fired is False
    assert score.alpha == score.chi_square_alpha
    assert score.alpha < 0.1


def test_rms_above_two_and_a_half_times_baseline_raises_alpha_to_the_floor() -> None:
    wide = _wide_kurtosis_baseline()
    vector = wide.mean.copy()
    vector[0] = 2.6 * wide.rms

    score = anomaly_score(wide, vector, settings=HealthSettings(floor_alpha=0.9))

    assert score.rms_ratio == pytest.approx(2.6)
    assert score.is_floor_rule_fired is True
    assert score.alpha >= 0.9


def test_anomaly_refuses_mismatched_or_non_finite_features(baseline: HealthyBaseline) -> None:
    with pytest.raises(ValueError, match="matching the baseline features"):
        anomaly_score(baseline, np.ones((4, 5)))
    with pytest.raises(ValueError, match="NaN"):
        anomaly_score(baseline, np.full(6, np.nan))


@settings(max_examples=80, deadline=None)
@given(
    vectors=arrays(
        np.float64, (3, 6), elements=st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
    )
)
def test_alpha_always_lies_between_zero_and_one(vectors: np.ndarray) -> None:
    baseline = baseline_fit(healthy_features(60, seed=8), NAMES)

    score = anomaly_score(baseline, vectors)

    assert 0.0 <= score.alpha <= 1.0
    assert 0.0 <= score.chi_square_alpha <= 1.0


# --- health index -------------------------------------------------------------------------


def test_health_index_is_one_when_healthy_and_zero_at_failure() -> None:
    assert health_index(1.0, failure_threshold=4.0) == 1.0
    assert health_index(2.5, failure_threshold=4.0) == pytest.approx(0.5)
    assert health_index(4.0, failure_threshold=4.0) == 0.0
    assert health_index(6.0, failure_threshold=4.0) == 0.0
    assert health_index(0.8, failure_threshold=4.0) == 1.0
    with pytest.raises(ValueError, match="must exceed healthy_level"):
        health_index(1.0, failure_threshold=1.0)


# --- δ and RUL ----------------------------------------------------------------------------


def exponential_history(
    failure_h: float,
    now_h: float,
    *,
    growth_per_h: float = 0.02,
    noise: float = 0.0,
    step_h: float = 0.5,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """D(t) = 1 + 3·exp(b·(t − failure_h)): reaches the threshold 4 exactly at failure_h."""
    times_h = np.arange(0.0, now_h + 1e-9, step_h)
    excess = 3.0 * np.exp(growth_per_h * (times_h - failure_h))
    if noise:
        excess *= np.exp(np.random.default_rng(seed).normal(0.0, noise, times_h.size))
    return NOW_S + (times_h - now_h) * HOUR_S, 1.0 + excess


def test_noise_free_exponential_degradation_gives_the_exact_rul() -> None:
    times_s, indicator = exponential_history(failure_h=300.0, now_h=250.0)

    estimate = rul_estimate(times_s, indicator, now_s=NOW_S, failure_threshold=4.0, seed=1)

    assert estimate.state is RulState.ESTIMATED
    assert estimate.rul_p10_h == pytest.approx(50.0, rel=1e-9)
    assert estimate.rul_p50_h == pytest.approx(50.0, rel=1e-9)
    assert estimate.rul_p90_h == pytest.approx(50.0, rel=1e-9)
    assert estimate.indicator_now == pytest.approx(1 + 3 * math.exp(-0.02 * 50), rel=1e-9)


def test_noisy_exponential_degradation_keeps_the_true_failure_inside_p10_p90() -> None:
    # 4 cut points (100 … 10 h before failure) × 20 noise draws. The bootstrap interval is a
    # nominal 80 % interval; with the right model it covers the true failure time about that
    # often (0.75–0.93 per cut point when measured over 40 draws), so ≥ 70 % of the 80 cases.
    covered = []
    for now_h in (200.0, 240.0, 270.0, 290.0):
        for noise_seed in range(20):
            times_s, indicator = exponential_history(
                failure_h=300.0, now_h=now_h, noise=0.1, seed=noise_seed
            )
            estimate = rul_estimate(
                times_s, indicator, now_s=NOW_S, failure_threshold=4.0, seed=noise_seed
            )
            assert estimate.state is RulState.ESTIMATED
            assert estimate.rul_p10_h is not None
            assert estimate.rul_p50_h is not None
            assert estimate.rul_p90_h is not None
            assert estimate.rul_p10_h <= estimate.rul_p50_h <= estimate.rul_p90_h
            covered.append(estimate.rul_p10_h <= 300.0 - now_h <= estimate.rul_p90_h)

    assert sum(covered) / len(covered) >= 0.7


def test_same_seed_gives_the_same_interval_and_another_seed_may_not() -> None:
    times_s, indicator = exponential_history(failure_h=300.0, now_h=260.0, noise=0.1)

    first = rul_estimate(times_s, indicator, now_s=NOW_S, failure_threshold=4.0, seed=3)
    again = rul_estimate(times_s, indicator, now_s=NOW_S, failure_threshold=4.0, seed=3)
    other = rul_estimate(times_s, indicator, now_s=NOW_S, failure_threshold=4.0, seed=4)

    assert first == again
    assert (first.rul_p10_h, first.rul_p90_h) != (other.rul_p10_h, other.rul_p90_h)


def test_linear_model_recovers_a_linear_drift_and_its_slope() -> None:
    times_h = np.arange(0.0, 20.0, 0.25)
    indicator = 1.0 + 0.05 * times_h  # reaches 4.0 at t = 60 h
    linear = HealthSettings(trend_model="linear")

    estimate = rul_estimate(
        NOW_S + (times_h - 20.0) * HOUR_S,
        indicator,
        now_s=NOW_S,
        failure_threshold=4.0,
        seed=0,
        settings=linear,
    )

    assert estimate.state is RulState.ESTIMATED
    assert estimate.rul_p50_h == pytest.approx(40.0, rel=1e-9)
    assert estimate.degradation_rate_per_h == pytest.approx(0.05 / 3.0, rel=1e-9)


def test_too_few_points_is_not_enough_data_without_numbers() -> None:
    times_s, indicator = exponential_history(failure_h=300.0, now_h=290.0, step_h=0.5)

    estimate = rul_estimate(
        times_s[-5:], indicator[-5:], now_s=NOW_S, failure_threshold=4.0, seed=0
    )

    assert estimate.state is RulState.NOT_ENOUGH_DATA
    assert estimate.rul_p10_h is None
    assert estimate.rul_p50_h is None
    assert estimate.rul_p90_h is None
    assert estimate.degradation_rate_per_h is None
    assert estimate.point_count == 5


def test_points_outside_the_trend_window_do_not_count() -> None:
    times_s = NOW_S - np.arange(40, 0, -1) * 2 * HOUR_S  # 80 h of history, 12 in the last 24 h
    indicator = np.full(40, 1.5)

    estimate = rul_estimate(
        times_s,
        indicator,
        now_s=NOW_S,
        failure_threshold=4.0,
        seed=0,
        settings=HealthSettings(trend_min_points=13),
    )

    assert estimate.state is RulState.NOT_ENOUGH_DATA
    assert estimate.point_count == 12


def test_improving_indicator_is_not_degrading_and_has_no_rul() -> None:
    times_h = np.arange(0.0, 20.0, 0.5)
    indicator = 2.0 - 0.02 * times_h

    estimate = rul_estimate(
        NOW_S + (times_h - 20.0) * HOUR_S, indicator, now_s=NOW_S, failure_threshold=4.0, seed=0
    )

    assert estimate.state is RulState.NOT_DEGRADING
    assert estimate.rul_p10_h is None
    assert estimate.rul_p50_h is None
    assert estimate.rul_p90_h is None
    assert estimate.degradation_rate_per_h is not None
    assert estimate.degradation_rate_per_h < 0


def test_healthy_noise_inside_the_healthy_band_is_not_degrading() -> None:
    times_h = np.arange(0.0, 20.0, 0.5)
    indicator = 1.0 + np.random.default_rng(2).normal(0.0, 0.005, times_h.size)

    estimate = rul_estimate(
        NOW_S + (times_h - 20.0) * HOUR_S, indicator, now_s=NOW_S, failure_threshold=4.0, seed=0
    )

    assert estimate.state is RulState.NOT_DEGRADING
    assert estimate.rul_p50_h is None


def test_indicator_already_beyond_the_threshold_gives_rul_zero() -> None:
    times_h = np.arange(0.0, 20.0, 0.5)
    indicator = np.where(times_h < 18.5, 2.0, 4.5)  # a sudden jump in the last three points

    estimate = rul_estimate(
        NOW_S + (times_h - 20.0) * HOUR_S, indicator, now_s=NOW_S, failure_threshold=4.0, seed=0
    )

    assert estimate.state is RulState.PAST_THRESHOLD
    assert estimate.rul_p10_h == 0.0
    assert estimate.rul_p50_h == 0.0
    assert estimate.rul_p90_h == 0.0


def test_trend_fitted_past_the_threshold_gives_rul_zero() -> None:
    times_s, indicator = exponential_history(failure_h=300.0, now_h=310.0)

    estimate = rul_estimate(times_s, indicator, now_s=NOW_S, failure_threshold=4.0, seed=0)

    assert estimate.state is RulState.PAST_THRESHOLD
    assert estimate.rul_p50_h == 0.0


def test_long_histories_are_thinned_to_the_point_cap() -> None:
    times_s, indicator = exponential_history(failure_h=300.0, now_h=280.0, step_h=0.01)

    estimate = rul_estimate(times_s, indicator, now_s=NOW_S, failure_threshold=4.0, seed=0)

    assert estimate.point_count == 120
    assert estimate.rul_p50_h == pytest.approx(20.0, rel=1e-3)


def test_rul_refuses_bad_input() -> None:
    times_s, indicator = exponential_history(failure_h=300.0, now_h=250.0)
    with pytest.raises(ValueError, match="after now_s"):
        rul_estimate(times_s, indicator, now_s=NOW_S - HOUR_S, failure_threshold=4.0, seed=0)
    with pytest.raises(ValueError, match="same length"):
        rul_estimate(times_s, indicator[:-1], now_s=NOW_S, failure_threshold=4.0, seed=0)
    with pytest.raises(ValueError, match="must exceed healthy_level"):
        rul_estimate(times_s, indicator, now_s=NOW_S, failure_threshold=1.0, seed=0)
    broken = indicator.copy()
    broken[4] = np.nan
    with pytest.raises(ValueError, match="finite"):
        rul_estimate(times_s, broken, now_s=NOW_S, failure_threshold=4.0, seed=0)


def test_degradation_rate_is_the_health_index_lost_per_hour() -> None:
    times_h = np.arange(0.0, 24.0, 1.0)
    indicator = 1.0 + 0.03 * times_h

    rate = degradation_rate(
        NOW_S + (times_h - 23.0) * HOUR_S, indicator, now_s=NOW_S, failure_threshold=4.0
    )

    assert rate == pytest.approx(0.01, rel=1e-12)
    assert degradation_rate([NOW_S], [1.0], now_s=NOW_S, failure_threshold=4.0) is None


# --- recommendation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alpha", "rul_h", "expected"),
    [
        (0.81, None, MaintenancePriority.CRITICAL),
        (0.8, None, MaintenancePriority.HIGH),
        (0.0, 167.9, MaintenancePriority.CRITICAL),
        (0.0, 168.0, MaintenancePriority.HIGH),
        (0.61, None, MaintenancePriority.HIGH),
        (0.6, None, MaintenancePriority.MEDIUM),
        (0.0, 719.0, MaintenancePriority.HIGH),
        (0.0, 720.0, MaintenancePriority.MEDIUM),
        (0.41, None, MaintenancePriority.MEDIUM),
        (0.4, None, MaintenancePriority.LOW),
        (0.0, 2159.0, MaintenancePriority.MEDIUM),
        (0.0, 2160.0, MaintenancePriority.LOW),
        (0.0, 0.0, MaintenancePriority.CRITICAL),
        (0.3, 5000.0, MaintenancePriority.LOW),
    ],
)
def test_recommendation_thresholds(
    alpha: float, rul_h: float | None, expected: MaintenancePriority
) -> None:
    assert recommend_priority(alpha=alpha, rul_h=rul_h) is expected


def test_recommendation_thresholds_are_settings() -> None:
    strict = RecommendationSettings(critical_alpha=0.5, high_alpha=0.3, medium_alpha=0.1)

    assert (
        recommend_priority(alpha=0.55, rul_h=None, settings=strict) is MaintenancePriority.CRITICAL
    )
    assert recommend_priority(alpha=0.55, rul_h=None) is MaintenancePriority.MEDIUM
    with pytest.raises(ValueError, match="medium ≤ high ≤ critical"):
        RecommendationSettings(critical_alpha=0.5, high_alpha=0.7)


def test_recommendation_refuses_alpha_outside_zero_one_and_negative_rul() -> None:
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\]"):
        recommend_priority(alpha=1.2, rul_h=None)
    with pytest.raises(ValueError, match="rul_h must be ≥ 0"):
        recommend_priority(alpha=0.1, rul_h=-1.0)


_alphas = st.floats(0.0, 1.0)
_ruls = st.one_of(st.none(), st.floats(0.0, 1e5))


def _rul_order(rul_h: float | None) -> float:
    return math.inf if rul_h is None else rul_h


@settings(max_examples=200, deadline=None)
@given(first=_alphas, second=_alphas, rul_h=_ruls)
def test_recommendation_never_drops_when_alpha_rises(
    first: float, second: float, rul_h: float | None
) -> None:
    low, high = sorted((first, second))

    assert (
        recommend_priority(alpha=low, rul_h=rul_h).rank
        <= recommend_priority(alpha=high, rul_h=rul_h).rank
    )


@settings(max_examples=200, deadline=None)
@given(alpha=_alphas, first=_ruls, second=_ruls)
def test_recommendation_never_drops_when_rul_shrinks(
    alpha: float, first: float | None, second: float | None
) -> None:
    shorter, longer = sorted((first, second), key=_rul_order)

    assert (
        recommend_priority(alpha=alpha, rul_h=shorter).rank
        >= recommend_priority(alpha=alpha, rul_h=longer).rank
    )


# --- one evaluation on the synthetic bearing ----------------------------------------------


def test_health_assess_on_a_healthy_then_failing_bearing() -> None:
    feature_settings = FeatureSettings()
    bearing = DegradingBearing(BearingSpec(), DegradationProfile(onset_h=10.0, failure_h=60.0))
    rng = np.random.default_rng(21)
    healthy = extract_features(bearing.windows(0.0, 60, rng), feature_settings)
    baseline = baseline_fit(healthy.as_array(), healthy.feature_names)

    now_healthy = extract_features(bearing.windows(5.0, 8, rng), feature_settings)
    calm = health_assess(
        baseline,
        now_healthy.as_array(),
        history_times_s=NOW_S + (np.arange(0.0, 5.0, 0.5) - 5.0) * HOUR_S,
        history_rms_ratios=np.ones(10),
        now_s=NOW_S,
        seed=0,
    )
    assert calm.priority is MaintenancePriority.LOW
    assert calm.health_index > 0.95
    assert calm.rul.state is RulState.NOT_DEGRADING
    assert calm.model_version == MODEL_VERSION

    history_h = np.arange(20.0, 50.0, 1.0)
    history_ratios = [
        float(np.median(extract_features(bearing.windows(t, 8, rng), feature_settings).rms))
        / baseline.rms
        for t in history_h
    ]
    late = extract_features(bearing.windows(50.0, 8, rng), feature_settings)
    failing = health_assess(
        baseline,
        late.as_array(),
        history_times_s=NOW_S + (history_h - 50.0) * HOUR_S,
        history_rms_ratios=history_ratios,
        now_s=NOW_S,
        seed=0,
    )
    assert failing.priority is MaintenancePriority.CRITICAL
    assert failing.alpha >= 0.85
    assert failing.anomaly.kurtosis > 3.5
    assert failing.rul.state is RulState.ESTIMATED
    assert failing.rul.rul_p50_h is not None
    assert 0.5 * 10.0 <= failing.rul.rul_p50_h <= 2.0 * 10.0  # true RUL: 10 h
    assert failing.degradation_rate_per_h is not None
    assert failing.degradation_rate_per_h > 0
    assert failing.health_index < calm.health_index
    assert dataclasses.asdict(failing)["rul"]["state"] == RulState.ESTIMATED
