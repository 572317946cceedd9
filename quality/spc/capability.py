"""Process capability: Cp, Cpk (within-subgroup sigma), Pp, Ppk (overall sigma), Cpm, a
confidence interval for Cpk and an Anderson–Darling normality check beside them.

Formulas: Montgomery, *Introduction to Statistical Quality Control*, 7th ed., chapter 8;
AIAG, *Statistical Process Control* reference manual, 2nd ed., 2005 (Cp/Cpk from the within
sigma R̄/d2, s̄/c4 or MR̄/d2; Pp/Ppk from the overall sample standard deviation); Cpm from
Chan, Cheng & Spiring, *Journal of Quality Technology* 20(3), 1988 (overall sigma and the
distance of the mean from the target). The Cpk interval is Bissell's normal approximation:
A. F. Bissell, "How reliable is your capability index?", *Applied Statistics* 39(3), 1990,
331–340: Cpk ± z·√(1/(9N) + Cpk²/(2(N − 1))). One-sided specifications give only the index of
their side (Cpk = Cpu or Cpl) and no Cp, Pp or Cpm.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from quality.spc.constants import constants_for
from quality.spc.errors import (
    NonFiniteValueError,
    SpcError,
    SpecLimitsError,
    SubgroupSizeError,
    TooFewSubgroupsError,
    ZeroSpreadError,
)

NORMALITY_ALPHA = 0.05


class WithinSigmaMethod(enum.StrEnum):
    RANGE = "range"  # R̄/d2
    STANDARD_DEVIATION = "standard_deviation"  # s̄/c4
    MOVING_RANGE = "moving_range"  # MR̄/d2 (n = 2), for individual values


@dataclass(frozen=True)
class Normality:
    """Anderson–Darling against the normal distribution (scipy.stats.anderson). The p-value is
    interpolated from the published tables and so clipped to 0.01 … 0.15."""

    statistic: float
    p_value: float
    is_normal: bool  # p > 0.05: no evidence against normality


@dataclass(frozen=True)
class Capability:
    count: int
    subgroups: int
    mean: float
    sigma_within: float
    sigma_overall: float
    lower_spec_limit: float | None
    upper_spec_limit: float | None
    target: float | None
    cp: float | None
    cpu: float | None
    cpl: float | None
    cpk: float
    pp: float | None
    ppu: float | None
    ppl: float | None
    ppk: float
    cpm: float | None
    cpk_lower: float  # Bissell's interval at ``confidence``
    cpk_upper: float
    confidence: float
    normality: Normality
    method: WithinSigmaMethod


def spec_limits_check(lower: float | None, upper: float | None) -> None:
    """At least one limit, finite, and LSL < USL when both are given."""
    if lower is None and upper is None:
        raise SpecLimitsError("Capability needs at least one specification limit.")
    for name, limit in (("lower_spec_limit", lower), ("upper_spec_limit", upper)):
        if limit is not None and not math.isfinite(limit):
            raise SpecLimitsError("A specification limit must be a finite number.", field=name)
    if lower is not None and upper is not None and lower >= upper:
        raise SpecLimitsError(f"LSL ({lower}) must be below USL ({upper}).")


def within_sigma(data: np.ndarray, method: WithinSigmaMethod) -> float:
    if method == WithinSigmaMethod.MOVING_RANGE:
        flat = data.ravel()
        return float(np.mean(np.abs(np.diff(flat)))) / constants_for(2).d2
    table = constants_for(data.shape[1])
    if method == WithinSigmaMethod.RANGE:
        return float(np.mean(data.max(axis=1) - data.min(axis=1))) / table.d2
    return float(np.mean(data.std(axis=1, ddof=1))) / table.c4


def capability_analyze(
    data: Sequence | np.ndarray,
    *,
    lower_spec_limit: float | None,
    upper_spec_limit: float | None,
    target: float | None = None,
    method: WithinSigmaMethod | str | None = None,
    confidence: float = 0.95,
) -> Capability:
    """Capability of ``data``: a k × n array of subgroups, or individual values (1-D).

    The default within-sigma method is R̄/d2 for subgroups and MR̄/d2 for individual values."""
    spec_limits_check(lower_spec_limit, upper_spec_limit)
    if not 0.0 < confidence < 1.0:
        raise SpcError("The confidence level lies between 0 and 1.", field="confidence")
    try:
        array = np.asarray(data, dtype=float)
    except ValueError as error:
        raise SubgroupSizeError("Subgroups must all have the same number of values.") from error
    if not np.all(np.isfinite(array)):
        raise NonFiniteValueError("Every value must be a finite number (no NaN).")
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        raise SubgroupSizeError("Give subgroups (a list of lists) or individual values.")
    individual = array.shape[1] == 1
    if method is None:
        method = WithinSigmaMethod.MOVING_RANGE if individual else WithinSigmaMethod.RANGE
    method = WithinSigmaMethod(method)
    if individual and method != WithinSigmaMethod.MOVING_RANGE:
        raise SubgroupSizeError(f"Individual values need the moving range, not {method}.")
    subgroups = array.shape[0]
    if subgroups < 2:
        raise TooFewSubgroupsError(f"Capability needs at least 2 subgroups; {subgroups} given.")
    flat = array.ravel()
    sigma_within = within_sigma(array, method)
    sigma_overall = float(np.std(flat, ddof=1))
    if sigma_within <= 0.0 or sigma_overall <= 0.0:
        raise ZeroSpreadError("The values have no spread: every capability index would be ∞.")
    mean = float(flat.mean())
    lower, upper = lower_spec_limit, upper_spec_limit
    cp, cpu, cpl, cpk = _indices(mean, sigma_within, lower, upper)
    pp, ppu, ppl, ppk = _indices(mean, sigma_overall, lower, upper)
    cpm = None
    if target is not None and lower is not None and upper is not None:
        cpm = (upper - lower) / (6.0 * math.sqrt(sigma_overall**2 + (mean - target) ** 2))
    count = flat.size
    z = float(stats.norm.ppf(0.5 + confidence / 2.0))
    half_width = z * math.sqrt(1.0 / (9.0 * count) + cpk**2 / (2.0 * (count - 1)))
    return Capability(
        count=count,
        subgroups=subgroups,
        mean=mean,
        sigma_within=sigma_within,
        sigma_overall=sigma_overall,
        lower_spec_limit=lower,
        upper_spec_limit=upper,
        target=target,
        cp=cp,
        cpu=cpu,
        cpl=cpl,
        cpk=cpk,
        pp=pp,
        ppu=ppu,
        ppl=ppl,
        ppk=ppk,
        cpm=cpm,
        cpk_lower=cpk - half_width,
        cpk_upper=cpk + half_width,
        confidence=confidence,
        normality=normality_check(flat),
        method=method,
    )


def _indices(
    mean: float, sigma: float, lower: float | None, upper: float | None
) -> tuple[float | None, float | None, float | None, float]:
    spread = None if lower is None or upper is None else (upper - lower) / (6.0 * sigma)
    upper_index = None if upper is None else (upper - mean) / (3.0 * sigma)
    lower_index = None if lower is None else (mean - lower) / (3.0 * sigma)
    worst = min(index for index in (upper_index, lower_index) if index is not None)
    return spread, upper_index, lower_index, worst


def normality_check(values: np.ndarray) -> Normality:
    if len(values) < 3:
        raise TooFewSubgroupsError("A normality check needs at least 3 values.")
    result = stats.anderson(values, dist="norm", method="interpolate")
    p_value = float(result.pvalue)
    return Normality(
        statistic=float(result.statistic),
        p_value=p_value,
        is_normal=p_value > NORMALITY_ALPHA,
    )
