"""Split-conformal prediction intervals around a point prediction (pure, Django-free).

Given point predictions ``ŷ`` and the true values ``y`` of a **calibration set the model has
not been trained on**, the residuals ``r = y − ŷ`` tell how far the truth lies from a
prediction. For a new prediction, ``[ŷ + r_(k_lo), ŷ + r_(k_hi)]`` with the order statistics
``k_lo = ⌊α_lo·(n + 1)⌋`` and ``k_hi = ⌈α_hi·(n + 1)⌉`` of the ``n`` sorted residuals covers a
new true value with probability at least ``α_hi − α_lo`` when the new case is exchangeable with
the calibration cases (Vovk, Gammerman & Shafer 2005; Lei et al., JASA 113 (2018) 1094–1111 —
the finite-sample correction is the ``n + 1``). With α_lo = 0.1 and α_hi = 0.9 these are the
p10 and p90 of the RUL, p50 being the prediction itself. Where ``k_lo < 1`` the lower bound is
−∞, where ``k_hi > n`` the upper bound is +∞ (too few residuals for the nominal level).

The errors of a RUL model grow with the RUL (a machine about to fail is easier to time than
one in mid-life), so the residuals are calibrated **per bin of the prediction** (Mondrian
conformal prediction, Vovk et al. 2005 §4.5): equal-count bins of ``ŷ`` over the calibration
set, each with its own offsets, so the interval is narrow near failure and wide far from it,
and the coverage holds within each bin, not only on average.

Pure numpy; the calibration is a frozen dataclass that serialises to JSON (``as_dict``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray


@dataclass(frozen=True)
class ConformalCalibration:
    """Offsets of the interval bounds per bin of the prediction.

    ``bin_edges`` are the ``len(lower_offsets) − 1`` inner edges between the bins (ascending);
    a prediction ``ŷ`` falls in bin ``searchsorted(bin_edges, ŷ, side="right")``.
    """

    lower_quantile: float
    upper_quantile: float
    bin_edges: tuple[float, ...]
    lower_offsets: tuple[float, ...]
    upper_offsets: tuple[float, ...]
    residual_counts: tuple[int, ...]

    @property
    def nominal_coverage(self) -> float:
        return self.upper_quantile - self.lower_quantile

    def as_dict(self) -> dict[str, Any]:
        def finite_or_text(value: float) -> float | str:
            return value if math.isfinite(value) else str(value)

        return {
            "lower_quantile": self.lower_quantile,
            "upper_quantile": self.upper_quantile,
            "bin_edges": list(self.bin_edges),
            "lower_offsets": [finite_or_text(value) for value in self.lower_offsets],
            "upper_offsets": [finite_or_text(value) for value in self.upper_offsets],
            "residual_counts": list(self.residual_counts),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConformalCalibration:
        return cls(
            lower_quantile=float(data["lower_quantile"]),
            upper_quantile=float(data["upper_quantile"]),
            bin_edges=tuple(float(value) for value in data["bin_edges"]),
            lower_offsets=tuple(float(value) for value in data["lower_offsets"]),
            upper_offsets=tuple(float(value) for value in data["upper_offsets"]),
            residual_counts=tuple(int(value) for value in data["residual_counts"]),
        )


def _order_statistic(sorted_residuals: NDArray[np.float64], rank: int) -> float:
    """The ``rank``-th smallest residual (1-based); ±∞ outside 1…n."""
    if rank < 1:
        return -math.inf
    if rank > sorted_residuals.size:
        return math.inf
    return float(sorted_residuals[rank - 1])


def conformal_offsets(
    residuals: ArrayLike, *, lower_quantile: float = 0.1, upper_quantile: float = 0.9
) -> tuple[float, float]:
    """Split-conformal offsets ``(r_(⌊α_lo(n+1)⌋), r_(⌈α_hi(n+1)⌉))`` of ``residuals = y − ŷ``."""
    values = np.sort(np.asarray(residuals, dtype=np.float64).ravel())
    if values.size == 0:
        raise ValueError("conformal calibration needs at least one residual")
    if not np.isfinite(values).all():
        raise ValueError("residuals must be finite")
    if not 0.0 <= lower_quantile < upper_quantile <= 1.0:
        raise ValueError(
            f"need 0 ≤ lower_quantile < upper_quantile ≤ 1, got {lower_quantile}, {upper_quantile}"
        )
    count = values.size
    # A small tolerance keeps e.g. 0.9 · 1000 = 900.0000000000001 from rounding up a rank.
    lower_rank = math.floor(lower_quantile * (count + 1) + 1e-9)
    upper_rank = math.ceil(upper_quantile * (count + 1) - 1e-9)
    return _order_statistic(values, lower_rank), _order_statistic(values, upper_rank)


def conformal_calibrate(
    predictions: ArrayLike,
    truths: ArrayLike,
    *,
    lower_quantile: float = 0.1,
    upper_quantile: float = 0.9,
    bins: int = 1,
    min_per_bin: int = 30,
) -> ConformalCalibration:
    """Calibrate interval offsets on a held-out set (see the module docstring).

    ``bins`` equal-count bins of the prediction, fewer where a bin would hold fewer than
    ``min_per_bin`` residuals (at least one bin).
    """
    predicted = np.asarray(predictions, dtype=np.float64).ravel()
    true = np.asarray(truths, dtype=np.float64).ravel()
    if predicted.shape != true.shape:
        raise ValueError("predictions and truths must have the same length")
    if predicted.size == 0:
        raise ValueError("conformal calibration needs at least one case")
    if not (np.isfinite(predicted).all() and np.isfinite(true).all()):
        raise ValueError("predictions and truths must be finite")
    if bins < 1 or min_per_bin < 1:
        raise ValueError("bins and min_per_bin must be ≥ 1")
    bin_count = max(1, min(bins, predicted.size // min_per_bin))
    edges = np.unique(np.quantile(predicted, np.arange(1, bin_count) / bin_count))
    which = np.searchsorted(edges, predicted, side="right")
    lower_offsets: list[float] = []
    upper_offsets: list[float] = []
    counts: list[int] = []
    for index in range(edges.size + 1):
        residuals = (true - predicted)[which == index]
        if residuals.size == 0:  # only when quantile edges coincide; unique() removed those
            residuals = true - predicted
        lower, upper = conformal_offsets(
            residuals, lower_quantile=lower_quantile, upper_quantile=upper_quantile
        )
        lower_offsets.append(lower)
        upper_offsets.append(upper)
        counts.append(int(residuals.size))
    return ConformalCalibration(
        lower_quantile=lower_quantile,
        upper_quantile=upper_quantile,
        bin_edges=tuple(float(edge) for edge in edges),
        lower_offsets=tuple(lower_offsets),
        upper_offsets=tuple(upper_offsets),
        residual_counts=tuple(counts),
    )


def conformal_interval(
    calibration: ConformalCalibration, predictions: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Lower and upper bounds around each prediction (±∞ where the calibration set was small)."""
    predicted = np.asarray(predictions, dtype=np.float64).ravel()
    which = np.searchsorted(np.asarray(calibration.bin_edges), predicted, side="right")
    lower = predicted + np.asarray(calibration.lower_offsets)[which]
    upper = predicted + np.asarray(calibration.upper_offsets)[which]
    return lower, upper
