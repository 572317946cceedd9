"""A RUL model learned from the fleet's run-to-failure histories (pure, Django-free).

Where similar machines have run to failure (or to a maintenance that replaced the worn part),
their degradation-indicator trajectories teach the mapping *trajectory so far → remaining
life*, which a trend extrapolation of one machine's own points (:mod:`degradation`) cannot.

**Trajectory.** One run is the indicator (vibration RMS ratio ``D`` for a bearing; any
indicator that moves with wear) against time in hours from the run's start (the previous
repair). It is resampled onto a regular grid of ``step_h`` hours (mean of the points in each
step, gaps interpolated), so machines with different sampling rates give the same features.

**Features** (:data:`FEATURE_NAMES`, computed at each cut point from the grid up to that
point): the run's age; the indicator relative to the run's own early level (median of the
first ``reference_steps`` grid values) averaged over the last 5/10/20/40 steps; its slope
over the last 10/20/40/80 steps; its maximum and recent spread; and the recent absolute level.

**Regression.** scikit-learn's ``HistGradientBoostingRegressor`` (least squares, fixed
iterations, seeded) on every cut point of every training run, the target being the RUL capped
at ``cap_h`` (early in life the remaining life is not predictable from wear; the usual
"piecewise-linear" target of the C-MAPSS literature, Heimes 2008). The runs are split into
``folds`` groups by run (never a run's cut points on both sides): one model per fold is trained
on the other runs, and the prediction (p50) is the mean of the fold models.

**Intervals.** The out-of-fold predictions of the runs' last ``calibration_horizon`` ×
``cap_h`` hours — each from a model that never saw that run — are the conformal calibration
set (:mod:`conformal`, per bin of p50): p10/p90 = p50 + the calibrated residual quantiles,
clipped to [0, cap_h]. Honest figures come with every training: RMSE and p10–p90 coverage of
each fold's runs, calibrated on the other folds only (``FleetRulModel.metrics``).

**States** (never a made-up number): ``not_enough_history`` (the run so far covers fewer than
``min_history_steps`` grid steps); ``no_similar_peers`` (a feature lies outside what the
training runs showed, widened by 10 % of its range — the model would be extrapolating);
``estimated``. Training with fewer than ``min_runs`` usable runs raises
:class:`NotEnoughHistory`.

**Storage.** :func:`model_dump` / :func:`model_load`: a JSON header (format version, feature
schema hash, scikit-learn version, payload SHA-256) and a pickled payload. A model whose
format, feature schema or scikit-learn version differs from this code is refused
(:class:`ModelOutOfDate`, "model out of date — retrain") *before* anything is unpickled.
Only load bytes this code wrote (the registry's own rows): pickle runs code on load.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import pickle
import struct
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import sklearn
from numpy.typing import ArrayLike, NDArray
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from maintenance.algorithms.conformal import (
    ConformalCalibration,
    conformal_calibrate,
    conformal_interval,
)

FORMAT_VERSION = "fleet-rul-1"
MODEL_NAME = "fleet"
_MAGIC = b"MESRUL\x00\x01"
_PEER_MARGIN = 0.10  # share of a feature's training range accepted beyond it
# One OpenMP thread per fit/predict: the trees are small, and on a shared machine OpenMP's
# spinning threads made a fit 25× slower (18.7 s against 0.7 s for 12,000 cut points).
_THREADS = 1


class FleetRulState(StrEnum):
    ESTIMATED = "estimated"
    NOT_ENOUGH_HISTORY = "not_enough_history"
    NO_SIMILAR_PEERS = "no_similar_peers"


class NotEnoughHistory(ValueError):
    """Too few usable run-to-failure histories to train (the message says how many)."""


class ModelOutOfDate(ValueError):
    """A stored model from another format, feature schema or scikit-learn version."""


@dataclass(frozen=True)
class FleetRulSettings:
    step_h: float = 1.0
    cap_h: float = 125.0
    reference_steps: int = 20
    min_history_steps: int = 10
    mean_windows: tuple[int, ...] = (5, 10, 20, 40)
    slope_windows: tuple[int, ...] = (10, 20, 40, 80)
    min_runs: int = 5
    folds: int = 5
    calibration_horizon: float = 1.2
    interval_bins: int = 4
    min_per_bin: int = 50
    lower_quantile: float = 0.1
    upper_quantile: float = 0.9
    max_iter: int = 300
    learning_rate: float = 0.05
    max_leaf_nodes: int = 15
    min_samples_leaf: int = 40
    l2_regularization: float = 1.0
    seed: int = 2026

    def __post_init__(self) -> None:
        for name in ("step_h", "cap_h", "calibration_horizon", "learning_rate"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        if self.min_history_steps < 3 or self.reference_steps < 1:
            raise ValueError("min_history_steps must be ≥ 3 and reference_steps ≥ 1")
        if self.min_runs < 2 or self.folds < 2:
            raise ValueError("min_runs and folds must be ≥ 2 (intervals need unseen runs)")
        if not self.mean_windows or not self.slope_windows or min(self.slope_windows) < 3:
            raise ValueError("mean_windows must not be empty; slope windows need ≥ 3 steps")
        if not 0.0 <= self.lower_quantile < self.upper_quantile <= 1.0:
            raise ValueError("need 0 ≤ lower_quantile < upper_quantile ≤ 1")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FleetRulSettings:
        known = {item.name for item in dataclasses.fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        for key in ("mean_windows", "slope_windows"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)


def feature_names(settings: FleetRulSettings) -> tuple[str, ...]:
    return (
        "age_h",
        *(f"relative_level_mean_{window}" for window in settings.mean_windows),
        *(f"relative_level_slope_{window}" for window in settings.slope_windows),
        "relative_level_max",
        "relative_level_std_20",
        "level_mean_10",
    )


def feature_schema_hash(settings: FleetRulSettings) -> str:
    """What a stored model's features must match: format, names, grid and reference."""
    schema = {
        "format": FORMAT_VERSION,
        "features": feature_names(settings),
        "step_h": settings.step_h,
        "reference_steps": settings.reference_steps,
        "cap_h": settings.cap_h,
    }
    return hashlib.sha256(json.dumps(schema, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RunHistory:
    """One run of one machine: indicator samples at ``times_h`` (hours), from ``start_h``.

    ``end_h`` is when the run ended in a failure (or a repair of the worn part); ``None`` for a
    run still going.
    """

    run_id: str
    times_h: NDArray[np.float64]
    indicator: NDArray[np.float64]
    start_h: float
    end_h: float | None = None


def run_history(
    run_id: str,
    times_h: ArrayLike,
    indicator: ArrayLike,
    *,
    start_h: float | None = None,
    end_h: float | None = None,
) -> RunHistory:
    """A validated :class:`RunHistory` (sorted by time; finite positive indicator)."""
    times = np.asarray(times_h, dtype=np.float64).ravel()
    values = np.asarray(indicator, dtype=np.float64).ravel()
    if times.shape != values.shape:
        raise ValueError("times_h and indicator must have the same length")
    if not (np.isfinite(times).all() and np.isfinite(values).all()):
        raise ValueError("times_h and indicator must be finite")
    if (values <= 0).any():
        raise ValueError("the indicator must be positive (a ratio to the healthy level)")
    order = np.argsort(times, kind="stable")
    times, values = times[order], values[order]
    start = float(times[0]) if start_h is None and times.size else (start_h or 0.0)
    if times.size and times[0] < start:
        raise ValueError("samples before the run's start")
    if end_h is not None and times.size and end_h < times[-1]:
        raise ValueError("samples after the run's end")
    return RunHistory(run_id, times, values, float(start), end_h)


def _grid(run: RunHistory, until_h: float, step_h: float) -> NDArray[np.float64]:
    """Mean indicator per step ``(start + (k−1)·step, start + k·step]``, k = 1…, gaps filled."""
    steps = math.floor((until_h - run.start_h) / step_h + 1e-9)
    if steps < 1:
        return np.empty(0)
    mask = run.times_h <= until_h
    index = np.clip(np.ceil((run.times_h[mask] - run.start_h) / step_h - 1e-9), 1, steps)
    index = index.astype(np.int64) - 1
    sums = np.bincount(index, weights=run.indicator[mask], minlength=steps)
    counts = np.bincount(index, minlength=steps)
    filled = counts > 0
    if not filled.any():
        return np.empty(0)
    positions = np.arange(steps)
    return np.interp(positions, positions[filled], sums[filled] / counts[filled])


def _slope(values: NDArray[np.float64]) -> float:
    if values.size < 3:
        return 0.0
    centred = np.arange(values.size) - (values.size - 1) / 2.0
    return float(centred @ (values - values.mean()) / (centred @ centred))


def _features(grid: NDArray[np.float64], settings: FleetRulSettings) -> list[float]:
    reference = float(np.median(grid[: settings.reference_steps]))
    relative = grid / reference
    return [
        grid.size * settings.step_h,
        *(float(relative[-window:].mean()) for window in settings.mean_windows),
        *(_slope(relative[-window:]) for window in settings.slope_windows),
        float(relative.max()),
        float(relative[-20:].std()),
        float(grid[-10:].mean()),
    ]


def run_features(
    run: RunHistory, settings: FleetRulSettings
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Features at every grid step of a finished run from ``min_history_steps`` on, and the
    true (uncapped) RUL at each; empty arrays when the run is too short."""
    if run.end_h is None:
        raise ValueError(f"run {run.run_id} has no end: it cannot teach a remaining life")
    grid = _grid(run, run.end_h, settings.step_h)
    rows = [
        _features(grid[:length], settings)
        for length in range(settings.min_history_steps, grid.size + 1)
    ]
    cut_h = run.start_h + settings.step_h * np.arange(settings.min_history_steps, grid.size + 1)
    if not rows:
        return np.empty((0, len(feature_names(settings)))), np.empty(0)
    return np.array(rows, dtype=np.float64), np.asarray(run.end_h - cut_h, dtype=np.float64)


@dataclass(frozen=True)
class FleetRulEstimate:
    state: FleetRulState
    rul_p10_h: float | None
    rul_p50_h: float | None
    rul_p90_h: float | None
    detail: str
    model: str = MODEL_NAME


@dataclass
class FleetRulModel:
    """The fold models, their conformal calibration and the training's honest figures."""

    settings: FleetRulSettings
    estimators: list[HistGradientBoostingRegressor]
    calibration: ConformalCalibration
    feature_low: tuple[float, ...]
    feature_high: tuple[float, ...]
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def schema_hash(self) -> str:
        return feature_schema_hash(self.settings)

    def predict_matrix(
        self, features: ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """p10, p50, p90 (hours, clipped to [0, cap_h]) for rows of :data:`feature_names`."""
        matrix = np.atleast_2d(np.asarray(features, dtype=np.float64))
        with threadpool_limits(limits=_THREADS, user_api="openmp"):
            p50 = np.mean([estimator.predict(matrix) for estimator in self.estimators], axis=0)
        p50 = np.clip(p50, 0.0, self.settings.cap_h)
        lower, upper = conformal_interval(self.calibration, p50)
        cap = self.settings.cap_h
        return np.clip(lower, 0.0, cap), p50, np.clip(upper, 0.0, cap)

    def outside_peers(self, features: ArrayLike) -> str:
        """Why a feature vector lies outside the training runs ('' when it does not)."""
        row = np.asarray(features, dtype=np.float64).ravel()
        for name, value, low, high in zip(
            feature_names(self.settings), row, self.feature_low, self.feature_high, strict=True
        ):
            margin = _PEER_MARGIN * (high - low)
            if not low - margin <= value <= high + margin:
                return f"{name} {value:.4g} outside the {low:.4g}…{high:.4g} of the training runs"
        return ""

    def estimate(self, run: RunHistory, *, now_h: float) -> FleetRulEstimate:
        """RUL of a running machine at ``now_h`` from its run so far (see the states above)."""
        grid = _grid(run, now_h, self.settings.step_h)
        needed = self.settings.min_history_steps
        if grid.size < needed:
            return FleetRulEstimate(
                FleetRulState.NOT_ENOUGH_HISTORY,
                None,
                None,
                None,
                f"not enough history: {grid.size * self.settings.step_h:g} h of this run "
                f"recorded, {needed * self.settings.step_h:g} h needed",
            )
        features = _features(grid, self.settings)
        why = self.outside_peers(features)
        if why:
            return FleetRulEstimate(
                FleetRulState.NO_SIMILAR_PEERS, None, None, None, f"no similar peers: {why}"
            )
        p10, p50, p90 = (float(values[0]) for values in self.predict_matrix([features]))
        return FleetRulEstimate(
            FleetRulState.ESTIMATED,
            p10,
            p50,
            p90,
            f"fleet model: p50 {p50:.0f} h, {self.calibration.nominal_coverage:.0%} interval "
            f"{p10:.0f}–{p90:.0f} h",
        )


def _fit(settings: FleetRulSettings, features, targets, seed: int) -> HistGradientBoostingRegressor:
    estimator = HistGradientBoostingRegressor(
        max_iter=settings.max_iter,
        learning_rate=settings.learning_rate,
        max_leaf_nodes=settings.max_leaf_nodes,
        min_samples_leaf=settings.min_samples_leaf,
        l2_regularization=settings.l2_regularization,
        early_stopping=False,
        random_state=seed,
    )
    with threadpool_limits(limits=_THREADS, user_api="openmp"):
        return estimator.fit(features, targets)


def fleet_rul_train(
    runs: list[RunHistory], settings: FleetRulSettings | None = None
) -> FleetRulModel:
    """Train the fold models and calibrate the intervals (module docstring). Reproducible:
    the same runs and settings give the same model."""
    settings = settings or FleetRulSettings()
    per_run = [(run, *run_features(run, settings)) for run in runs]
    usable = [(run, features, rul) for run, features, rul in per_run if rul.size]
    if len(usable) < settings.min_runs:
        raise NotEnoughHistory(
            f"not enough history: {len(usable)} run-to-failure histories of at least "
            f"{settings.min_history_steps * settings.step_h:g} h, {settings.min_runs} needed"
        )
    folds = min(settings.folds, len(usable))
    order = np.random.default_rng(settings.seed).permutation(len(usable))
    fold_of_run = np.empty(len(usable), dtype=np.int64)
    fold_of_run[order] = np.arange(len(usable)) % folds
    features = np.vstack([item[1] for item in usable])
    true_rul = np.concatenate([item[2] for item in usable])
    fold = np.concatenate(
        [np.full(item[2].size, fold_of_run[index]) for index, item in enumerate(usable)]
    )
    target = np.minimum(true_rul, settings.cap_h)
    out_of_fold = np.empty_like(target)
    estimators = []
    for index in range(folds):
        train = fold != index
        estimator = _fit(settings, features[train], target[train], settings.seed + index)
        with threadpool_limits(limits=_THREADS, user_api="openmp"):
            held_out = estimator.predict(features[~train])
        out_of_fold[~train] = np.clip(held_out, 0.0, settings.cap_h)
        estimators.append(estimator)
    horizon = true_rul <= settings.calibration_horizon * settings.cap_h
    calibration = _calibrate(settings, out_of_fold[horizon], target[horizon])
    metrics = _cross_validated_metrics(
        settings, out_of_fold[horizon], target[horizon], fold[horizon], folds
    )
    metrics.update(runs=len(usable), cut_points=int(target.size), folds=folds)
    return FleetRulModel(
        settings=settings,
        estimators=estimators,
        calibration=calibration,
        feature_low=tuple(float(value) for value in features.min(axis=0)),
        feature_high=tuple(float(value) for value in features.max(axis=0)),
        metrics=metrics,
    )


def _calibrate(settings: FleetRulSettings, predicted, truth) -> ConformalCalibration:
    return conformal_calibrate(
        predicted,
        truth,
        lower_quantile=settings.lower_quantile,
        upper_quantile=settings.upper_quantile,
        bins=settings.interval_bins,
        min_per_bin=settings.min_per_bin,
    )


def _cross_validated_metrics(
    settings: FleetRulSettings, predicted, truth, fold, folds: int
) -> dict[str, Any]:
    """RMSE and coverage of each fold's (unseen) runs, intervals calibrated on the others."""
    covered = np.zeros(truth.size, dtype=bool)
    width = np.zeros(truth.size)
    for index in range(folds):
        held = fold == index
        if not held.any() or held.all():
            continue
        calibration = _calibrate(settings, predicted[~held], truth[~held])
        lower, upper = conformal_interval(calibration, predicted[held])
        lower = np.clip(lower, 0.0, settings.cap_h)
        upper = np.clip(upper, 0.0, settings.cap_h)
        covered[held] = (lower <= truth[held]) & (truth[held] <= upper)
        width[held] = upper - lower
    errors = predicted - truth
    return {
        "rmse_h": float(math.sqrt(np.mean(errors**2))) if errors.size else None,
        "bias_h": float(np.mean(errors)) if errors.size else None,
        "coverage": float(np.mean(covered)) if errors.size else None,
        "mean_interval_width_h": float(np.mean(width)) if errors.size else None,
        "nominal_coverage": settings.upper_quantile - settings.lower_quantile,
        "scored_cut_points": int(truth.size),
    }


# --- storage ------------------------------------------------------------------------------


def _library_version() -> str:
    return ".".join(sklearn.__version__.split(".")[:2])


def model_header(model: FleetRulModel) -> dict[str, Any]:
    return {
        "format": FORMAT_VERSION,
        "feature_schema_hash": model.schema_hash,
        "sklearn": _library_version(),
        "settings": model.settings.as_dict(),
    }


def model_dump(model: FleetRulModel) -> bytes:
    """Header (JSON) + pickled payload; see :func:`model_load`."""
    payload = pickle.dumps(
        {
            "estimators": model.estimators,
            "calibration": model.calibration.as_dict(),
            "feature_low": model.feature_low,
            "feature_high": model.feature_high,
            "metrics": model.metrics,
        },
        protocol=5,
    )
    header = dict(model_header(model), payload_sha256=hashlib.sha256(payload).hexdigest())
    encoded = json.dumps(header, sort_keys=True).encode()
    return _MAGIC + struct.pack(">I", len(encoded)) + encoded + payload


def header_check(header: dict[str, Any], settings: FleetRulSettings) -> None:
    """Refuse a model this code cannot use (:class:`ModelOutOfDate`)."""
    expected = {
        "format": FORMAT_VERSION,
        "feature_schema_hash": feature_schema_hash(settings),
        "sklearn": _library_version(),
    }
    for key, value in expected.items():
        if header.get(key) != value:
            raise ModelOutOfDate(
                f"model out of date — retrain: its {key} is {header.get(key)!r}, "
                f"this version needs {value!r}"
            )


def model_load(data: bytes) -> FleetRulModel:
    """Load what :func:`model_dump` wrote; ``ModelOutOfDate`` for another version."""
    if not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + 4:
        raise ModelOutOfDate("model out of date — retrain: not a fleet RUL model of this format")
    (length,) = struct.unpack(">I", data[len(_MAGIC) : len(_MAGIC) + 4])
    start = len(_MAGIC) + 4
    try:
        header = json.loads(data[start : start + length])
    except ValueError as error:
        raise ModelOutOfDate(f"model out of date — retrain: unreadable header ({error})") from None
    try:
        settings = FleetRulSettings.from_dict(header.get("settings") or {})
    except (TypeError, ValueError) as error:
        raise ModelOutOfDate(f"model out of date — retrain: its settings ({error})") from None
    header_check(header, settings)
    payload = data[start + length :]
    if hashlib.sha256(payload).hexdigest() != header.get("payload_sha256"):
        raise ModelOutOfDate("model out of date — retrain: the stored payload is damaged")
    content = pickle.loads(payload)  # noqa: S301 — our own checked bytes, see module docstring
    return FleetRulModel(
        settings=settings,
        estimators=list(content["estimators"]),
        calibration=ConformalCalibration.from_dict(content["calibration"]),
        feature_low=tuple(content["feature_low"]),
        feature_high=tuple(content["feature_high"]),
        metrics=dict(content["metrics"]),
    )
