"""Healthy baseline and anomaly α from vibration features (pure, Django-free).

1. **Healthy baseline** (:func:`baseline_fit`), learned per equipment from feature vectors of
   windows recorded while the machine is known to be healthy (e.g. after commissioning or an
   overhaul): the mean vector, a shrunk covariance and the baseline RMS. Each feature is
   standardised by its spread, floored at ``relative_std_floor`` (1 %) of its mean, so a feature
   that happened to be very steady cannot turn a negligible change into an alarm. The
   correlation matrix is shrunk towards the identity with the Ledoit–Wolf (2004) formula, which
   keeps the matrix invertible and its inverse stable when features are strongly correlated
   (RMS, peak-to-peak and band energies are). At least ``max(30, 5 · n_features)`` windows are
   needed (:func:`minimum_baseline_windows`): 30 for a stable mean, and n/p ≥ 5 because the
   smallest eigenvalue of a sample covariance of white data shrinks to about (1 − √(p/n))² of
   its true value (Marchenko–Pastur) — ≥ 0.31 at n/p = 5 — and the inverse covariance, which
   the Mahalanobis distance uses, is only as trustworthy as that eigenvalue.

2. **Anomaly α** (:func:`anomaly_score`). The operating point is the per-feature *median* of
   the recent windows, and ``d²`` its squared Mahalanobis distance from the baseline mean.
   ``α = F_χ²(d²; k)`` with k the number of features: the share of healthy windows that lie
   closer to the healthy centre than the current operating point. Because a median of several
   windows is far less noisy than one window, a healthy machine scores α ≈ 0; a single window
   (n = 1) is accepted but its α is uniformly spread on [0, 1] while healthy, so decisions should
   use ≥ 8 windows. Floor rule (DESIGN §6.2): if the median kurtosis exceeds 3.5 or the median
   RMS exceeds 2.5 × the baseline RMS, α is raised to at least ``floor_alpha`` = 0.85 — just
   above the "critical" threshold 0.8, because both conditions are classic alarm levels on

Times are epoch seconds (floats) in arrays; durations are hours (``_h``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from maintenance.algorithms.health_settings import MODEL_VERSION, HealthSettings


class BaselineError(ValueError):
    """A healthy baseline cannot be learned (too few windows, unusable features)."""


# --- baseline -----------------------------------------------------------------------------


def minimum_baseline_windows(feature_count: int) -> int:
    """Fewest healthy windows a baseline of ``feature_count`` features is learned from."""
    if feature_count < 1:
        raise ValueError(f"feature_count must be ≥ 1, got {feature_count}")
    return max(30, 5 * feature_count)


def _read_only(array: NDArray[np.float64]) -> NDArray[np.float64]:
    array.setflags(write=False)
    return array


@dataclass(frozen=True)
class HealthyBaseline:
    """What healthy looks like for one equipment (arrays are read-only)."""

    feature_names: tuple[str, ...]
    mean: NDArray[np.float64]
    covariance: NDArray[np.float64]
    precision: NDArray[np.float64]
    rms: float
    window_count: int
    shrinkage: float
    model_version: str = MODEL_VERSION

    @property
    def feature_count(self) -> int:
        return len(self.feature_names)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (lists of floats) for storage."""
        return {
            "feature_names": list(self.feature_names),
            "mean": self.mean.tolist(),
            "covariance": self.covariance.tolist(),
            "rms": self.rms,
            "window_count": self.window_count,
            "shrinkage": self.shrinkage,
            "model_version": self.model_version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HealthyBaseline:
        """Rebuild from :meth:`as_dict` output; the precision matrix is recomputed."""
        try:
            feature_names = tuple(str(name) for name in data["feature_names"])
            mean = np.asarray(data["mean"], dtype=np.float64)
            covariance = np.asarray(data["covariance"], dtype=np.float64)
            baseline_rms = float(data["rms"])
            window_count = int(data["window_count"])
            shrinkage = float(data["shrinkage"])
            model_version = str(data["model_version"])
        except (KeyError, TypeError, ValueError) as error:
            raise BaselineError(f"stored baseline is incomplete or malformed: {error}") from error
        feature_count = len(feature_names)
        if mean.shape != (feature_count,) or covariance.shape != (feature_count, feature_count):
            raise BaselineError(
                f"stored baseline shapes do not match its {feature_count} feature names"
            )
        if not (np.isfinite(mean).all() and np.isfinite(covariance).all()):
            raise BaselineError("stored baseline holds non-finite numbers")
        return cls(
            feature_names=feature_names,
            mean=_read_only(mean),
            covariance=_read_only(covariance),
            precision=_read_only(_invert_covariance(covariance)),
            rms=baseline_rms,
            window_count=window_count,
            shrinkage=shrinkage,
            model_version=model_version,
        )


def _invert_covariance(covariance: NDArray[np.float64]) -> NDArray[np.float64]:
    try:
        eigenvalues = np.linalg.eigvalsh(covariance)
        if eigenvalues.min() <= 0:
            raise BaselineError("baseline covariance is not positive definite")
        return np.asarray(np.linalg.inv(covariance), dtype=np.float64)
    except np.linalg.LinAlgError as error:
        raise BaselineError(f"baseline covariance cannot be inverted: {error}") from error


def _ledoit_wolf_shrinkage(standardised: NDArray[np.float64]) -> float:
    """Ledoit–Wolf (2004) shrinkage intensity towards ``μ·I`` for centred data ``[n, p]``."""
    n_windows, n_features = standardised.shape
    sample_covariance = standardised.T @ standardised / n_windows
    target_scale = np.trace(sample_covariance) / n_features
    dispersion = np.sum(np.square(sample_covariance - target_scale * np.eye(n_features)))
    if dispersion <= 0:
        return 0.0
    squared_norms = np.sum(np.square(standardised), axis=1)
    quadratic = np.einsum("ij,jk,ik->i", standardised, sample_covariance, standardised)
    per_window = np.square(squared_norms) - 2 * quadratic + np.sum(np.square(sample_covariance))
    estimation_error = float(np.sum(per_window)) / n_windows**2
    return float(min(estimation_error, dispersion) / dispersion)


def baseline_fit(
    feature_matrix: ArrayLike,
    feature_names: Sequence[str],
    *,
    settings: HealthSettings | None = None,
) -> HealthyBaseline:
    """Learn a healthy baseline from ``[n_windows, n_features]`` feature vectors.

    ``feature_names`` must include ``"rms"`` (and ``"kurtosis"`` for the floor rule), as
    :class:`~maintenance.algorithms.signal.FeatureBatch` provides. Raises :class:`BaselineError`
    when fewer than :func:`minimum_baseline_windows` windows are given or a feature is
    identically zero.
    """
    settings = settings or HealthSettings()
    names = tuple(feature_names)
    matrix = np.asarray(feature_matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] != len(names):
        raise BaselineError(
            f"feature_matrix must be [n_windows, {len(names)}] for {len(names)} feature names, "
            f"got shape {matrix.shape}"
        )
    for required in ("rms", "kurtosis"):
        if required not in names:
            raise BaselineError(f"feature {required!r} is required, got {names}")
    if len(set(names)) != len(names):
        raise BaselineError(f"feature names must be unique, got {names}")
    n_windows, n_features = matrix.shape
    needed = minimum_baseline_windows(n_features)
    if n_windows < needed:
        raise BaselineError(
            f"not enough data: a baseline of {n_features} features needs at least {needed} "
            f"healthy windows, got {n_windows}"
        )
    if not np.isfinite(matrix).all():
        raise BaselineError("feature_matrix holds NaN or infinite values")
    mean = matrix.mean(axis=0)
    spread = np.maximum(matrix.std(axis=0), settings.relative_std_floor * np.abs(mean))
    if np.any(spread <= 0):
        dead = [names[index] for index in np.flatnonzero(spread <= 0)]
        raise BaselineError(f"feature(s) {dead} are identically zero over the baseline windows")
    standardised = (matrix - mean) / spread
    shrinkage = _ledoit_wolf_shrinkage(standardised)
    sample_correlation = standardised.T @ standardised / n_windows
    # Each standardised variance is 1, except where the spread was floored (< 1): raising it to
    # 1 is what makes the floor hold in the covariance too.
    np.fill_diagonal(sample_correlation, 1.0)
    shrunk = (1 - shrinkage) * sample_correlation + shrinkage * np.eye(n_features)
    covariance = shrunk * np.outer(spread, spread)
    baseline_rms = float(mean[names.index("rms")])
    if baseline_rms <= 0:
        raise BaselineError("baseline RMS must be positive")
    return HealthyBaseline(
        feature_names=names,
        mean=_read_only(mean),
        covariance=_read_only(covariance),
        precision=_read_only(_invert_covariance(covariance)),
        rms=baseline_rms,
        window_count=n_windows,
        shrinkage=shrinkage,
    )


# --- anomaly ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnomalyScore:
    """α and the numbers behind it, for the explanation shown to users."""

    alpha: float
    chi_square_alpha: float
    mahalanobis_distance: float
    rms_ratio: float
    kurtosis: float
    is_floor_rule_fired: bool
    window_count: int


def anomaly_score(
    baseline: HealthyBaseline,
    feature_matrix: ArrayLike,
    *,
    settings: HealthSettings | None = None,
) -> AnomalyScore:
    """α ∈ [0, 1] of the recent windows ``[n_windows, n_features]`` (or one feature vector)."""
    settings = settings or HealthSettings()
    matrix = np.asarray(feature_matrix, dtype=np.float64)
    if matrix.ndim == 1:
        matrix = matrix[np.newaxis, :]
    if matrix.ndim != 2 or matrix.shape[1] != baseline.feature_count or matrix.shape[0] == 0:
        raise ValueError(
            f"feature_matrix must be [n_windows ≥ 1, {baseline.feature_count}] matching the "
            f"baseline features {baseline.feature_names}, got shape {matrix.shape}"
        )
    if not np.isfinite(matrix).all():
        raise ValueError("feature_matrix holds NaN or infinite values")
    operating_point = np.median(matrix, axis=0)
    deviation = operating_point - baseline.mean
    squared_distance = max(float(deviation @ baseline.precision @ deviation), 0.0)
    chi_square_alpha = float(stats.chi2.cdf(squared_distance, df=baseline.feature_count))
    rms_ratio = float(operating_point[baseline.feature_names.index("rms")] / baseline.rms)
    median_kurtosis = float(operating_point[baseline.feature_names.index("kurtosis")])
    is_floor_rule_fired = (
        median_kurtosis > settings.kurtosis_floor or rms_ratio > settings.rms_ratio_floor
    )
    alpha = max(chi_square_alpha, settings.floor_alpha) if is_floor_rule_fired else chi_square_alpha
    return AnomalyScore(
        alpha=min(max(alpha, 0.0), 1.0),
        chi_square_alpha=chi_square_alpha,
        mahalanobis_distance=math.sqrt(squared_distance),
        rms_ratio=rms_ratio,
        kurtosis=median_kurtosis,
        is_floor_rule_fired=is_floor_rule_fired,
        window_count=int(matrix.shape[0]),
    )
