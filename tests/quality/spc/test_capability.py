"""Capability on a hand-computed example, one-sided specifications, Bissell's interval,
Anderson–Darling beside it, and the bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quality.spc import (
    NonFiniteValueError,
    SpecLimitsError,
    SubgroupSizeError,
    TooFewSubgroupsError,
    ZeroSpreadError,
    capability_analyze,
)

# Two subgroups of 3: R = 2, 2 → R̄ = 2, σ_within = 2/1.693 = 1.18134; mean 10.5;
# overall s = √(5.5/5) = 1.04881; s = 1, 1 → s̄/c4 = 1/0.8862.
SUBGROUPS = [[9.0, 10.0, 11.0], [10.0, 11.0, 12.0]]
SIGMA_WITHIN = 2.0 / 1.693
SIGMA_OVERALL = math.sqrt(1.1)


def test_two_sided_indices_by_hand():
    result = capability_analyze(SUBGROUPS, lower_spec_limit=7.0, upper_spec_limit=13.0, target=10.0)
    assert result.mean == 10.5
    assert result.sigma_within == pytest.approx(SIGMA_WITHIN)
    assert result.sigma_overall == pytest.approx(SIGMA_OVERALL)
    assert result.cp == pytest.approx(6.0 / (6 * SIGMA_WITHIN))  # 0.8465
    assert result.cpu == pytest.approx(2.5 / (3 * SIGMA_WITHIN))  # 0.7054
    assert result.cpl == pytest.approx(3.5 / (3 * SIGMA_WITHIN))  # 0.9876
    assert result.cpk == result.cpu
    assert result.pp == pytest.approx(6.0 / (6 * SIGMA_OVERALL))  # 0.9535
    assert result.ppk == pytest.approx(2.5 / (3 * SIGMA_OVERALL))  # 0.7946
    assert result.cpm == pytest.approx(1 / math.sqrt(1.1 + 0.25))  # 0.8607
    # Bissell (1990): Cpk ± z·√(1/(9N) + Cpk²/(2(N−1))), N = 6
    half_width = 1.959964 * math.sqrt(1 / 54 + result.cpk**2 / 10)
    assert result.cpk_lower == pytest.approx(result.cpk - half_width, rel=1e-6)
    assert result.cpk_upper == pytest.approx(result.cpk + half_width, rel=1e-6)
    assert (result.count, result.subgroups) == (6, 2)


def test_within_sigma_from_the_standard_deviations():
    result = capability_analyze(
        SUBGROUPS, lower_spec_limit=7.0, upper_spec_limit=13.0, method="standard_deviation"
    )
    assert result.sigma_within == pytest.approx(1.0 / 0.8862)


def test_individual_values_use_the_moving_range():
    result = capability_analyze(
        [10.0, 12.0, 11.0, 13.0], lower_spec_limit=5.0, upper_spec_limit=17.0
    )
    assert result.sigma_within == pytest.approx((5 / 3) / 1.128)  # MR̄/d2
    assert str(result.method) == "moving_range"


def test_one_sided_specifications():
    upper_only = capability_analyze(SUBGROUPS, lower_spec_limit=None, upper_spec_limit=13.0)
    assert (upper_only.cp, upper_only.cpl, upper_only.pp, upper_only.cpm) == (
        None,
        None,
        None,
        None,
    )
    assert upper_only.cpk == upper_only.cpu == pytest.approx(2.5 / (3 * SIGMA_WITHIN))
    lower_only = capability_analyze(
        SUBGROUPS, lower_spec_limit=7.0, upper_spec_limit=None, target=10
    )
    assert lower_only.cpk == pytest.approx(3.5 / (3 * SIGMA_WITHIN))
    assert lower_only.cpm is None


def test_normality_is_reported_beside_the_indices():
    rng = np.random.default_rng(7)
    normal = capability_analyze(rng.normal(10, 1, 500), lower_spec_limit=5.0, upper_spec_limit=15.0)
    skewed = capability_analyze(
        rng.exponential(1, 500), lower_spec_limit=None, upper_spec_limit=9.0
    )
    assert normal.normality.is_normal
    assert not skewed.normality.is_normal
    assert skewed.normality.p_value == 0.01
    assert skewed.normality.statistic > normal.normality.statistic


@pytest.mark.parametrize(
    ("data", "limits", "error", "field"),
    [
        ([[1.0, 2.0]], (0.0, 5.0), TooFewSubgroupsError, "values"),
        ([[2.0, 2.0], [2.0, 2.0]], (0.0, 5.0), ZeroSpreadError, "values"),
        (SUBGROUPS, (13.0, 7.0), SpecLimitsError, "upper_spec_limit"),
        (SUBGROUPS, (7.0, 7.0), SpecLimitsError, "upper_spec_limit"),
        (SUBGROUPS, (None, None), SpecLimitsError, "upper_spec_limit"),
        ([[1.0, float("nan")], [1.0, 2.0]], (0.0, 5.0), NonFiniteValueError, "values"),
        ([[1.0, 2.0], [1.0, 2.0, 3.0]], (0.0, 5.0), SubgroupSizeError, "subgroup_size"),
    ],
)
def test_bad_input(data, limits, error, field):
    with pytest.raises(error) as raised:
        capability_analyze(data, lower_spec_limit=limits[0], upper_spec_limit=limits[1])
    assert raised.value.field == field
