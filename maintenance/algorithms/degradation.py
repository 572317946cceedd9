"""Health index, degradation slope δ and remaining useful life (pure, Django-free).

3. **Degradation indicator and health index**. The indicator is ``D = RMS / baseline RMS``
   (1 when healthy). The health index is ``HI = clip(1 − (D − 1) / (D_fail − 1), 0, 1)`` with
   ``D_fail = failure_rms_ratio`` (4.0 by default; set it per equipment class, e.g. the ISO

4. **Degradation slope δ and RUL** (:func:`degradation_rate`, :func:`rul_estimate`) from the
   (time, indicator) history over the last ``trend_window_h`` hours (24 h by default). δ is the
   Theil–Sen (robust median-of-pairwise-slopes) slope of the indicator divided by
   ``D_fail − D_healthy``: the share of the health index lost per hour (> 0 while degrading).
   The RUL trend model is exponential with a known offset, ``D(t) = D_healthy + exp(a + b·t)``
   — rolling-element bearing degradation signals grow roughly exponentially once a defect has
   formed (Gebraeel, Lawley, Li & Ryan, IIE Transactions 37 (2005) 543–557) — fitted as a
   Theil–Sen line through ``(t, log(D − D_healthy))`` over the points whose excess is above
   ``excess_floor_fraction`` (1 %) of the failure excess, i.e. from where the indicator has
   left the healthy band. A linear model (``trend_model="linear"``) is available for
   indicators that drift linearly. For vibration, :func:`health_assess` fits the mean-square
   ratio ``D²`` (threshold ``D_fail²``): a defect *adds energy* to the healthy vibration, so
   the excess ``D² − 1`` is the quantity that grows exponentially; on the synthetic bearing
   this lowers the RUL RMSE near failure from 19 h (fitting ``D``) to 14 h
   (docs/benchmarks/maintenance.md).
   RUL = time from ``now`` until the fitted trend reaches the threshold. Its p10/p50/p90 are
   quantiles over a bootstrap of the fitted points (``bootstrap_resamples`` Theil–Sen refits,
   numpy generator seeded by the caller); they reflect the scatter of the points, not a wrong
   model, so their coverage is below the nominal 80 % (measured in the benchmark). States:
   not enough data (fewer than ``trend_min_points`` points or no time span) → no numbers;
   already past the threshold (median of the last 3 points, or the fitted value at ``now``, at
   or above it) → RUL 0; not degrading (no point above the healthy band yet, or slope ≤ 0) →
   RUL ``None`` (unbounded). A bootstrap quantile whose refits do not rise is also ``None``.

Times are epoch seconds (floats) in arrays; durations are hours (``_h``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from maintenance.algorithms.health_settings import (
    SECONDS_PER_HOUR,
    HealthSettings,
    require_finite,
)

# Bootstrap refits are evaluated in chunks to bound memory (chunk × points² floats).
_BOOTSTRAP_CHUNK = 50


class RulState(StrEnum):
    ESTIMATED = "estimated"
    NOT_ENOUGH_DATA = "not_enough_data"
    NOT_DEGRADING = "not_degrading"
    PAST_THRESHOLD = "past_threshold"


# --- health index -------------------------------------------------------------------------


def health_index(
    indicator: float, *, failure_threshold: float, healthy_level: float = 1.0
) -> float:
    """``clip(1 − (D − D_healthy) / (D_fail − D_healthy), 0, 1)``: 1 healthy, 0 at failure."""
    require_finite("indicator", indicator)
    require_finite("failure_threshold", failure_threshold)
    require_finite("healthy_level", healthy_level)
    if failure_threshold <= healthy_level:
        raise ValueError(
            f"failure_threshold ({failure_threshold}) must exceed healthy_level ({healthy_level})"
        )
    value = 1.0 - (indicator - healthy_level) / (failure_threshold - healthy_level)
    return min(max(value, 0.0), 1.0)


# --- trend and RUL ------------------------------------------------------------------------


@dataclass(frozen=True)
class RulEstimate:
    """Remaining useful life in hours from ``now`` (``None`` = unbounded / not estimated).

    ``degradation_rate_per_h`` is δ, the share of the health index lost per hour (None only
    when there is not enough data); ``indicator_now`` is the fitted trend value at ``now``.
    """

    state: RulState
    rul_p10_h: float | None
    rul_p50_h: float | None
    rul_p90_h: float | None
    degradation_rate_per_h: float | None
    indicator_now: float | None
    point_count: int
    trend_model: str


def _pairwise_slopes(times_h: NDArray[np.float64], values: NDArray[np.float64]) -> NDArray[Any]:
    time_steps = times_h[np.newaxis, :] - times_h[:, np.newaxis]
    value_steps = values[np.newaxis, :] - values[:, np.newaxis]
    with np.errstate(divide="ignore", invalid="ignore"):
        slopes = value_steps / time_steps
    slopes[time_steps == 0] = np.nan
    return slopes


def _theil_sen(times_h: NDArray[np.float64], values: NDArray[np.float64]) -> tuple[float, float]:
    """Theil–Sen slope and intercept (``median(y − slope·t)``)."""
    rows, columns = np.triu_indices(times_h.shape[0], k=1)
    slope = float(np.nanmedian(_pairwise_slopes(times_h, values)[rows, columns]))
    intercept = float(np.median(values - slope * times_h))
    return slope, intercept


def _bootstrap_theil_sen(
    times_h: NDArray[np.float64],
    values: NDArray[np.float64],
    resamples: int,
    rng: np.random.Generator,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Slopes and intercepts of Theil–Sen refits on bootstrap resamples of the pairs."""
    point_count = times_h.shape[0]
    slopes_matrix = _pairwise_slopes(times_h, values)
    rows, columns = np.triu_indices(point_count, k=1)
    indices = rng.integers(0, point_count, size=(resamples, point_count))
    slopes = np.empty(resamples)
    for start in range(0, resamples, _BOOTSTRAP_CHUNK):
        chunk = indices[start : start + _BOOTSTRAP_CHUNK]
        pair_slopes = slopes_matrix[chunk[:, rows], chunk[:, columns]]
        with np.errstate(all="ignore"):
            all_nan = np.isnan(pair_slopes).all(axis=1)
            pair_slopes[all_nan] = 0.0  # a resample of one repeated time has no slope
            slopes[start : start + chunk.shape[0]] = np.nanmedian(pair_slopes, axis=1)
    intercepts = np.median(values[indices] - slopes[:, np.newaxis] * times_h[indices], axis=1)
    return slopes, intercepts


def _thin(
    times_h: NDArray[np.float64], values: NDArray[np.float64], max_points: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """At most ``max_points`` points: medians of equal-width time bins (robust to spikes)."""
    if times_h.shape[0] <= max_points:
        return times_h, values
    edges = np.linspace(times_h[0], times_h[-1], max_points + 1)
    bins = np.clip(np.searchsorted(edges, times_h, side="right") - 1, 0, max_points - 1)
    thinned_times = []
    thinned_values = []
    for index in np.unique(bins):
        members = bins == index
        thinned_times.append(float(np.median(times_h[members])))
        thinned_values.append(float(np.median(values[members])))
    return np.asarray(thinned_times, dtype=np.float64), np.asarray(thinned_values, dtype=np.float64)


def _quantile_or_none(values: NDArray[np.float64], quantile: float) -> float | None:
    value = float(np.quantile(values, quantile, method="inverted_cdf"))
    return value if math.isfinite(value) else None


def _validated_history(
    times_s: ArrayLike,
    indicator: ArrayLike,
    now_s: float,
    failure_threshold: float,
    healthy_level: float,
    settings: HealthSettings,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Points of the trend window, sorted, times in hours relative to ``now_s`` (≤ 0)."""
    require_finite("now_s", now_s)
    require_finite("failure_threshold", failure_threshold)
    require_finite("healthy_level", healthy_level)
    if failure_threshold <= healthy_level:
        raise ValueError(
            f"failure_threshold ({failure_threshold}) must exceed healthy_level ({healthy_level})"
        )
    times = np.asarray(times_s, dtype=np.float64).ravel()
    values = np.asarray(indicator, dtype=np.float64).ravel()
    if times.shape != values.shape:
        raise ValueError(
            f"times_s and indicator must have the same length, got {times.size} and {values.size}"
        )
    if not (np.isfinite(times).all() and np.isfinite(values).all()):
        raise ValueError("times_s and indicator must be finite (drop missing points first)")
    if times.size and times.max() > now_s:
        raise ValueError(
            f"indicator point at {times.max()} s lies after now_s = {now_s} s; pass the "
            "evaluation time as now_s"
        )
    recent = times >= now_s - settings.trend_window_h * SECONDS_PER_HOUR
    order = np.argsort(times[recent], kind="stable")
    times_h = (times[recent][order] - now_s) / SECONDS_PER_HOUR
    return _thin(times_h, values[recent][order], settings.trend_max_points)


def degradation_rate(
    times_s: ArrayLike,
    indicator: ArrayLike,
    *,
    now_s: float,
    failure_threshold: float,
    healthy_level: float = 1.0,
    settings: HealthSettings | None = None,
) -> float | None:
    """δ: Theil–Sen slope of the indicator over the trend window ÷ (threshold − healthy level).

    The share of the health index lost per hour (> 0 while degrading); ``None`` with fewer than
    ``trend_min_points`` points or no time span in the window.
    """
    settings = settings or HealthSettings()
    times_h, values = _validated_history(
        times_s, indicator, now_s, failure_threshold, healthy_level, settings
    )
    if times_h.shape[0] < settings.trend_min_points or times_h[-1] - times_h[0] <= 0:
        return None
    slope, _ = _theil_sen(times_h, values)
    return slope / (failure_threshold - healthy_level)


def rul_estimate(
    times_s: ArrayLike,
    indicator: ArrayLike,
    *,
    now_s: float,
    failure_threshold: float,
    healthy_level: float = 1.0,
    seed: int,
    settings: HealthSettings | None = None,
) -> RulEstimate:
    """RUL p10/p50/p90 and δ from a degradation indicator history (see the module docstring).

    ``times_s`` are epoch seconds (any order, none after ``now_s``); ``indicator`` rises with
    degradation from ``healthy_level`` towards ``failure_threshold``. Only the last
    ``settings.trend_window_h`` hours before ``now_s`` are used.

    Exponential model: ``D(t) = healthy_level + exp(a + b·t)`` (Gebraeel's model with a known
    offset), a Theil–Sen line through ``(t, log(D − healthy_level))`` over the points whose
    excess ``D − healthy_level`` exceeds ``excess_floor_fraction`` of the failure excess — the
    fit starts where the indicator has left the healthy band. Fewer such points than
    ``trend_min_points`` means no degradation is visible yet: state "not degrading".
    """
    settings = settings or HealthSettings()
    times_h, values = _validated_history(
        times_s, indicator, now_s, failure_threshold, healthy_level, settings
    )
    point_count = int(times_h.shape[0])

    def finished(
        state: RulState,
        rul_h: float | None,
        rate_per_h: float | None,
        indicator_now: float | None,
    ) -> RulEstimate:
        return RulEstimate(
            state=state,
            rul_p10_h=rul_h,
            rul_p50_h=rul_h,
            rul_p90_h=rul_h,
            degradation_rate_per_h=rate_per_h,
            indicator_now=indicator_now,
            point_count=point_count,
            trend_model=settings.trend_model,
        )

    if point_count < settings.trend_min_points or times_h[-1] - times_h[0] <= 0:
        return finished(RulState.NOT_ENOUGH_DATA, None, None, None)

    linear_slope, _ = _theil_sen(times_h, values)
    rate_per_h = linear_slope / (failure_threshold - healthy_level)
    latest_level = float(np.median(values[-3:]))
    if latest_level >= failure_threshold:
        return finished(RulState.PAST_THRESHOLD, 0.0, rate_per_h, latest_level)

    if settings.trend_model == "exponential":
        excess_floor = settings.excess_floor_fraction * (failure_threshold - healthy_level)
        above_floor = values - healthy_level > excess_floor
        fit_times_h = times_h[above_floor]
        if fit_times_h.shape[0] < settings.trend_min_points or np.ptp(fit_times_h) <= 0:
            return finished(RulState.NOT_DEGRADING, None, rate_per_h, latest_level)
        fit_values = np.log(values[above_floor] - healthy_level)
        failure_level = math.log(failure_threshold - healthy_level)
    else:
        fit_times_h = times_h
        fit_values = values
        failure_level = failure_threshold
    slope, intercept = _theil_sen(fit_times_h, fit_values)
    fitted_now = intercept  # now is t = 0
    if settings.trend_model == "exponential":
        indicator_now = healthy_level + math.exp(fitted_now)
    else:
        indicator_now = fitted_now
    if fitted_now >= failure_level:
        return finished(RulState.PAST_THRESHOLD, 0.0, rate_per_h, indicator_now)
    if slope <= 0:
        return finished(RulState.NOT_DEGRADING, None, rate_per_h, indicator_now)

    rng = np.random.default_rng(seed)
    slopes, intercepts = _bootstrap_theil_sen(
        fit_times_h, fit_values, settings.bootstrap_resamples, rng
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing_h = np.where(slopes > 0, (failure_level - intercepts) / slopes, np.inf)
    remaining_h = np.maximum(crossing_h, 0.0)
    return RulEstimate(
        state=RulState.ESTIMATED,
        rul_p10_h=_quantile_or_none(remaining_h, 0.1),
        rul_p50_h=_quantile_or_none(remaining_h, 0.5),
        rul_p90_h=_quantile_or_none(remaining_h, 0.9),
        degradation_rate_per_h=rate_per_h,
        indicator_now=indicator_now,
        point_count=point_count,
        trend_model=settings.trend_model,
    )
