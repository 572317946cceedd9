"""Shewhart control charts: X̄–R, X̄–S, I–MR (variables) and p, np, c, u (attributes).

Limits come from a baseline (``limits_compute``) and are applied to any later data
(``chart_points``): the stored limits of a characteristic never move with the data they judge.
Formulas: Montgomery, *Introduction to Statistical Quality Control*, 7th ed., chapters 6–7
(constants in ``quality.spc.constants``). p and u accept a different subgroup size per point
(the limits then differ per point); np needs one constant size.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from quality.spc.constants import constants_for
from quality.spc.errors import (
    CountError,
    NonFiniteValueError,
    SubgroupSizeError,
    TooFewSubgroupsError,
    ZeroSpreadError,
)


class ChartType(enum.StrEnum):
    XBAR_R = "xbar_r"
    XBAR_S = "xbar_s"
    I_MR = "i_mr"
    P = "p"
    NP = "np"
    C = "c"
    U = "u"

    @property
    def is_variables(self) -> bool:
        return self in VARIABLES_CHARTS


VARIABLES_CHARTS = frozenset({ChartType.XBAR_R, ChartType.XBAR_S, ChartType.I_MR})
SIGMA_LIMIT = 3.0


@dataclass(frozen=True)
class ControlLimits:
    """The limits of one chart, computed from a baseline; JSON-friendly (``as_dict``).

    ``center_line`` is X̄̄, X̄, p̄, n·p̄, c̄ or ū. ``sigma_within`` is the process sigma estimated
    from R̄/d2, s̄/c4 or MR̄/d2 (variables charts only). ``dispersion_center`` is R̄, s̄ or MR̄
    and the dispersion limits are those of the R, S or MR chart."""

    chart_type: ChartType
    subgroup_size: int | None  # None: p and u with sizes given per point
    center_line: float
    sigma_within: float | None = None
    dispersion_center: float | None = None
    dispersion_lower: float | None = None
    dispersion_upper: float | None = None
    location_lower: float | None = None  # constant limits (variables, np, c)
    location_upper: float | None = None
    baseline_subgroups: int = 0

    def as_dict(self) -> dict:
        data = asdict(self)
        data["chart_type"] = str(self.chart_type)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ControlLimits:
        return cls(**{**data, "chart_type": ChartType(data["chart_type"])})

    def location_limits(self, sizes: np.ndarray | None = None) -> LocationLimits:
        """Lower and upper limit and the sigma of the plotted statistic, per point."""
        count = 1 if sizes is None else len(sizes)
        if self.location_lower is not None and self.location_upper is not None:
            lower = np.full(count, self.location_lower)
            upper = np.full(count, self.location_upper)
            sigma = (upper - self.center_line) / SIGMA_LIMIT
            return LocationLimits(lower=lower, upper=upper, sigma=sigma)
        if sizes is None:
            raise SubgroupSizeError(f"A {self.chart_type} chart needs the size of each subgroup.")
        sizes = np.asarray(sizes, dtype=float)
        if self.chart_type == ChartType.P:
            sigma = np.sqrt(self.center_line * (1.0 - self.center_line) / sizes)
            upper_cap = 1.0
        else:  # u
            sigma = np.sqrt(self.center_line / sizes)
            upper_cap = math.inf
        lower = np.maximum(self.center_line - SIGMA_LIMIT * sigma, 0.0)
        upper = np.minimum(self.center_line + SIGMA_LIMIT * sigma, upper_cap)
        return LocationLimits(lower=lower, upper=upper, sigma=sigma)


@dataclass(frozen=True)
class LocationLimits:
    lower: np.ndarray
    upper: np.ndarray
    sigma: np.ndarray  # sigma of the plotted statistic: the zones are its multiples


@dataclass(frozen=True)
class ChartPoints:
    """The plotted points of a chart and their limits, one entry per subgroup."""

    statistic: np.ndarray  # X̄, x, p, np, c or u
    lower: np.ndarray
    upper: np.ndarray
    sigma: np.ndarray
    center_line: float
    dispersion: np.ndarray | None = None  # R, s or MR (MR[0] is NaN: no range yet)


# --- input checks -----------------------------------------------------------------------------


def _finite(values, *, field: str = "values") -> np.ndarray:
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as error:
        raise SubgroupSizeError(
            "Subgroups must all have the same number of values.", field=field
        ) from error
    if not np.all(np.isfinite(array)):
        raise NonFiniteValueError("Every value must be a finite number (no NaN).", field=field)
    return array


def _subgroups(subgroups, *, expected_size: int | None) -> np.ndarray:
    """A k × n array of variables subgroups, checked."""
    if len(subgroups) and any(np.ndim(group) == 0 for group in subgroups):
        raise SubgroupSizeError("Each subgroup must be a list of values.")
    if len({len(group) for group in subgroups}) > 1:
        raise SubgroupSizeError("Subgroups must all have the same number of values.")
    array = _finite(subgroups)
    if array.ndim != 2:
        raise SubgroupSizeError("Subgroups must be a list of lists of values.")
    n = array.shape[1]
    if expected_size is not None and n != expected_size:
        raise SubgroupSizeError(f"Subgroups must have {expected_size} values, not {n}.")
    constants_for(n)  # raises outside 2 … 25
    return array


def _enough(count: int, *, minimum: int = 2) -> None:
    if count < minimum:
        raise TooFewSubgroupsError(
            f"Control limits need at least {minimum} subgroups; {count} given."
        )


def _attribute_counts(counts, sizes, *, defectives: bool) -> tuple[np.ndarray, np.ndarray]:
    counts = _finite(counts, field="counts")
    sizes = _finite(sizes, field="sizes")
    if counts.ndim != 1 or counts.shape != sizes.shape:
        raise SubgroupSizeError("Give one subgroup size per count.", field="sizes")
    if np.any(sizes <= 0):
        raise SubgroupSizeError("Subgroup sizes must be positive.", field="sizes")
    if np.any(counts < 0):
        raise CountError("Counts cannot be negative.")
    if defectives and np.any(counts > sizes):
        raise CountError("A subgroup cannot have more defectives than inspected units.")
    return counts, sizes


# --- statistics per subgroup ------------------------------------------------------------------


def moving_ranges(values: np.ndarray) -> np.ndarray:
    """|x_i − x_{i−1}|, with NaN for the first point (it has no range)."""
    ranges = np.full(len(values), np.nan)
    ranges[1:] = np.abs(np.diff(values))
    return ranges


def _statistics(chart_type: ChartType, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if chart_type == ChartType.I_MR:
        return data, moving_ranges(data)
    means = data.mean(axis=1)
    if chart_type == ChartType.XBAR_R:
        return means, data.max(axis=1) - data.min(axis=1)
    return means, data.std(axis=1, ddof=1)


# --- limits from a baseline -------------------------------------------------------------------


def limits_compute(
    chart_type: ChartType | str,
    *,
    subgroups: Sequence | None = None,
    values: Sequence[float] | None = None,
    counts: Sequence[float] | None = None,
    sizes: Sequence[float] | None = None,
    subgroup_size: int | None = None,
) -> ControlLimits:
    """Control limits from a baseline.

    X̄–R and X̄–S take ``subgroups`` (k × n); I–MR takes ``values``; p, np, c and u take
    ``counts`` (defectives or defects) and ``sizes`` (units inspected; c needs none)."""
    chart_type = ChartType(chart_type)
    if chart_type in (ChartType.XBAR_R, ChartType.XBAR_S):
        data = _subgroups(subgroups if subgroups is not None else [], expected_size=subgroup_size)
        _enough(len(data))
        return _variables_limits(chart_type, data)
    if chart_type == ChartType.I_MR:
        data = _finite(values if values is not None else [])
        if data.ndim != 1:
            raise SubgroupSizeError("An I–MR chart takes single values.", field="values")
        _enough(len(data))
        return _variables_limits(chart_type, data)
    units: Sequence[float] = [] if sizes is None else sizes
    if chart_type == ChartType.C and sizes is None:
        units = [1.0] * len(counts or [])  # a c chart counts defects per unit
    data, sizes_array = _attribute_counts(
        counts if counts is not None else [],
        units,
        defectives=chart_type in (ChartType.P, ChartType.NP),
    )
    _enough(len(data))
    return _attribute_limits(chart_type, data, sizes_array)


def _variables_limits(chart_type: ChartType, data: np.ndarray) -> ControlLimits:
    location, dispersion = _statistics(chart_type, data)
    n = 2 if chart_type == ChartType.I_MR else data.shape[1]
    table = constants_for(n)
    center = float(location.mean())
    spread = float(np.nanmean(dispersion))
    if spread <= 0.0:
        raise ZeroSpreadError(
            "The baseline has no spread (every range is zero): limits would be meaningless."
        )
    if chart_type == ChartType.XBAR_S:
        factor, lower, upper, sigma = table.A3, table.B3, table.B4, spread / table.c4
    elif chart_type == ChartType.XBAR_R:
        factor, lower, upper, sigma = table.A2, table.D3, table.D4, spread / table.d2
    else:
        factor, lower, upper, sigma = table.E2, table.D3, table.D4, spread / table.d2
    return ControlLimits(
        chart_type=chart_type,
        subgroup_size=1 if chart_type == ChartType.I_MR else n,
        center_line=center,
        sigma_within=sigma,
        dispersion_center=spread,
        dispersion_lower=lower * spread,
        dispersion_upper=upper * spread,
        location_lower=center - factor * spread,
        location_upper=center + factor * spread,
        baseline_subgroups=len(data),
    )


def _attribute_limits(
    chart_type: ChartType, counts: np.ndarray, sizes: np.ndarray
) -> ControlLimits:
    total = float(counts.sum())
    if chart_type == ChartType.C:
        center = total / len(counts)
        if center <= 0.0:
            raise ZeroSpreadError("The baseline has no defects: c̄ = 0 gives no limits.")
        sigma = math.sqrt(center)
        return _constant_attribute(chart_type, None, center, sigma, len(counts))
    rate = total / float(sizes.sum())
    if chart_type == ChartType.U:
        if rate <= 0.0:
            raise ZeroSpreadError("The baseline has no defects: ū = 0 gives no limits.")
        return ControlLimits(chart_type, None, rate, baseline_subgroups=len(counts))
    if rate <= 0.0 or rate >= 1.0:
        raise ZeroSpreadError(
            "The baseline's fraction defective is 0 or 1: p̄(1 − p̄) = 0 gives no limits."
        )
    if chart_type == ChartType.P:
        return ControlLimits(chart_type, None, rate, baseline_subgroups=len(counts))
    if np.any(sizes != sizes[0]):
        raise SubgroupSizeError(
            "An np chart needs one constant subgroup size; use a p chart for varying sizes.",
            field="sizes",
        )
    n = int(sizes[0])
    sigma = math.sqrt(n * rate * (1.0 - rate))
    return _constant_attribute(chart_type, n, n * rate, sigma, len(counts))


def _constant_attribute(
    chart_type: ChartType, n: int | None, center: float, sigma: float, baseline: int
) -> ControlLimits:
    return ControlLimits(
        chart_type=chart_type,
        subgroup_size=n,
        center_line=center,
        location_lower=max(center - SIGMA_LIMIT * sigma, 0.0),
        location_upper=center + SIGMA_LIMIT * sigma,
        baseline_subgroups=baseline,
    )


# --- applying stored limits -------------------------------------------------------------------


def chart_points(
    limits: ControlLimits,
    *,
    subgroups: Sequence | None = None,
    values: Sequence[float] | None = None,
    counts: Sequence[float] | None = None,
    sizes: Sequence[float] | None = None,
) -> ChartPoints:
    """The plotted statistic of each subgroup with the limits of ``limits`` (from a baseline)."""
    chart_type = limits.chart_type
    if chart_type in (ChartType.XBAR_R, ChartType.XBAR_S):
        data = _subgroups(subgroups or [], expected_size=limits.subgroup_size)
        location, dispersion = _statistics(chart_type, data)
        point_sizes = None
    elif chart_type == ChartType.I_MR:
        data = _finite(values if values is not None else [])
        location, dispersion = _statistics(chart_type, data)
        point_sizes = None
    else:
        if chart_type == ChartType.C and sizes is None:
            sizes = [1.0] * len(counts or [])
        data, point_sizes = _attribute_counts(
            counts if counts is not None else [],
            sizes if sizes is not None else [],
            defectives=chart_type in (ChartType.P, ChartType.NP),
        )
        if chart_type == ChartType.NP and np.any(point_sizes != limits.subgroup_size):
            raise SubgroupSizeError(
                f"This np chart needs subgroups of {limits.subgroup_size} units.", field="sizes"
            )
        location = data / point_sizes if chart_type in (ChartType.P, ChartType.U) else data
        dispersion = None
    if len(location) == 0:
        empty = np.array([])
        return ChartPoints(empty, empty, empty, empty, limits.center_line, dispersion)
    bounds = limits.location_limits(point_sizes if point_sizes is not None else location)
    return ChartPoints(
        statistic=location,
        lower=bounds.lower,
        upper=bounds.upper,
        sigma=bounds.sigma,
        center_line=limits.center_line,
        dispersion=dispersion,
    )
