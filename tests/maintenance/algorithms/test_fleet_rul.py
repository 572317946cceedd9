"""Fleet RUL model: conformal coverage, training, states, storage and version refusal."""

from __future__ import annotations

import dataclasses
import json
import struct

import numpy as np
import pytest

from maintenance.algorithms.conformal import (
    conformal_calibrate,
    conformal_interval,
    conformal_offsets,
)
from maintenance.algorithms.fleet_rul import (
    FleetRulSettings,
    FleetRulState,
    ModelOutOfDate,
    NotEnoughHistory,
    feature_schema_hash,
    fleet_rul_train,
    model_dump,
    model_load,
    run_history,
)
from maintenance.algorithms.synthetic_runs import synthetic_fleet

FAST = FleetRulSettings(
    cap_h=80.0, max_iter=60, learning_rate=0.1, min_samples_leaf=20, min_per_bin=30, folds=4
)


@pytest.fixture(scope="module")
def trained():
    return fleet_rul_train(synthetic_fleet(24, seed=7), FAST)


# --- conformal ----------------------------------------------------------------------------


def test_split_conformal_covers_80_percent_of_1000_new_draws_within_5_points() -> None:
    rng = np.random.default_rng(11)
    inputs = rng.uniform(0, 10, 2000)
    truths = 3.0 * inputs + rng.standard_t(4, 2000) * (1.0 + 0.3 * inputs)  # heavy tails
    predictions = 3.0 * inputs + 0.5  # a biased model: conformal does not need a good one
    calibration = conformal_calibrate(predictions[:1000], truths[:1000], bins=4)
    lower, upper = conformal_interval(calibration, predictions[1000:])
    coverage = float(np.mean((lower <= truths[1000:]) & (truths[1000:] <= upper)))
    assert abs(coverage - 0.80) <= 0.05
    # Mondrian bins: narrower where the noise is small (first bin) than where it is large.
    first, last = (
        calibration.upper_offsets[index] - calibration.lower_offsets[index] for index in (0, -1)
    )
    assert first < 0.6 * last


def test_conformal_coverage_holds_on_average_over_repeated_draws() -> None:
    rng = np.random.default_rng(3)
    coverages = []
    for _ in range(200):
        residuals = rng.normal(size=60)
        low, high = conformal_offsets(residuals[:50])
        coverages.append(np.mean((low <= residuals[50:]) & (residuals[50:] <= high)))
    assert abs(float(np.mean(coverages)) - 0.80) <= 0.05


def test_conformal_offsets_are_infinite_when_the_calibration_set_is_too_small() -> None:
    assert conformal_offsets([0.3, -0.2, 0.1]) == (float("-inf"), float("inf"))
    with pytest.raises(ValueError, match="at least one"):
        conformal_offsets([])


# --- training and estimates ----------------------------------------------------------------


def test_training_is_reproducible_and_reports_honest_cross_validated_figures(trained) -> None:
    again = fleet_rul_train(synthetic_fleet(24, seed=7), FAST)
    features = np.array([[30.0, 1.2, 1.2, 1.1, 1.05, 0.01, 0.01, 0.01, 0.005, 1.3, 0.05, 1.2]])
    assert np.array_equal(trained.predict_matrix(features)[1], again.predict_matrix(features)[1])
    assert trained.metrics["runs"] == 24
    assert trained.metrics["folds"] == 4
    assert 0.65 <= trained.metrics["coverage"] <= 0.92
    assert trained.metrics["rmse_h"] < 25.0  # the cap (80 h) as an answer scores ~45 h


def test_new_runs_of_the_same_fleet_are_estimated_with_calibrated_intervals(trained) -> None:
    covered = []
    errors = []
    for run in synthetic_fleet(12, seed=99):
        for rul_h in (5.0, 20.0, 40.0, 60.0):
            estimate = trained.estimate(run, now_h=run.end_h - rul_h)
            assert estimate.state is FleetRulState.ESTIMATED, estimate.detail
            assert estimate.model == "fleet"
            assert 0.0 <= estimate.rul_p10_h <= estimate.rul_p50_h <= estimate.rul_p90_h <= 80.0
            covered.append(estimate.rul_p10_h <= rul_h <= estimate.rul_p90_h)
            errors.append(estimate.rul_p50_h - rul_h)
    assert np.mean(covered) >= 0.65
    assert np.sqrt(np.mean(np.square(errors))) < 25.0


def test_a_run_shorter_than_the_minimum_history_says_not_enough_history(trained) -> None:
    run = run_history("young", [1.0, 2.0, 3.0, 4.0], [1.0, 1.01, 0.99, 1.0], start_h=0.0)
    estimate = trained.estimate(run, now_h=4.0)
    assert estimate.state is FleetRulState.NOT_ENOUGH_HISTORY
    assert (estimate.rul_p10_h, estimate.rul_p50_h, estimate.rul_p90_h) == (None, None, None)
    assert estimate.detail == "not enough history: 4 h of this run recorded, 10 h needed"


def test_a_trajectory_unlike_any_training_run_says_no_similar_peers(trained) -> None:
    times = np.arange(1.0, 41.0)
    run = run_history("strange", times, np.linspace(1.0, 30.0, times.size), start_h=0.0)
    estimate = trained.estimate(run, now_h=40.0)
    assert estimate.state is FleetRulState.NO_SIMILAR_PEERS
    assert estimate.rul_p50_h is None
    assert estimate.detail.startswith("no similar peers: ")


def test_too_few_runs_refuse_to_train_with_not_enough_history() -> None:
    with pytest.raises(NotEnoughHistory, match="not enough history: 3 run-to-failure"):
        fleet_rul_train(synthetic_fleet(3, seed=1), FAST)


# --- storage -------------------------------------------------------------------------------


def test_a_dumped_model_loads_and_predicts_the_same(trained) -> None:
    loaded = model_load(model_dump(trained))
    run = synthetic_fleet(1, seed=5)[0]
    assert loaded.estimate(run, now_h=run.end_h - 20) == trained.estimate(run, now_h=run.end_h - 20)
    assert loaded.metrics == trained.metrics


def _with_header(data: bytes, **changes) -> bytes:
    (length,) = struct.unpack(">I", data[8:12])
    header = json.loads(data[12 : 12 + length])
    header.update(changes)
    encoded = json.dumps(header).encode()
    return data[:8] + struct.pack(">I", len(encoded)) + encoded + data[12 + length :]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "fleet-rul-0"}, "its format is 'fleet-rul-0'"),
        ({"sklearn": "0.24"}, "its sklearn is '0.24'"),
        ({"feature_schema_hash": "0123456789abcdef"}, "its feature_schema_hash"),
    ],
)
def test_a_model_from_another_version_is_refused_before_it_is_unpickled(
    trained, change, message
) -> None:
    data = _with_header(model_dump(trained), **change)
    with pytest.raises(ModelOutOfDate, match=f"model out of date — retrain: {message}"):
        model_load(data)


def test_damaged_or_foreign_bytes_are_refused() -> None:
    with pytest.raises(ModelOutOfDate, match="not a fleet RUL model"):
        model_load(b"\x80\x04pickle")
    data = model_dump(fleet_rul_train(synthetic_fleet(6, seed=2), FAST))
    with pytest.raises(ModelOutOfDate, match="damaged"):
        model_load(data[:-10] + b"0123456789")


def test_the_schema_hash_changes_with_the_features() -> None:
    changed = dataclasses.replace(FAST, mean_windows=(5, 10))
    assert feature_schema_hash(changed) != feature_schema_hash(FAST)
    assert feature_schema_hash(dataclasses.replace(FAST, max_iter=10)) == feature_schema_hash(FAST)
