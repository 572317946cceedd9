"""Control limits of every chart type on hand-computed examples (constants from Montgomery,
Introduction to Statistical Quality Control, 7th ed., Appendix VI = ASTM E2587 Table 1), the
table itself against its defining formulas, the bad input, and the shift property."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from quality.spc import (
    ControlLimits,
    CountError,
    NonFiniteValueError,
    SubgroupSizeError,
    TooFewSubgroupsError,
    ZeroSpreadError,
    chart_points,
    constants_for,
    limits_compute,
)
from tests.test_architecture import FORBIDDEN_IN_PURE_MODULES, framework_modules_pulled_in

SUBGROUPS = [[1.0, 2.0, 3.0], [2.0, 3.0, 4.0], [3.0, 4.0, 5.0]]  # X̄ = 2, 3, 4; R = 2; s = 1


def test_the_spc_package_loads_no_framework():
    root = Path(__file__).resolve().parents[3]
    paths = sorted(path.relative_to(root).as_posix() for path in root.glob("quality/spc/*.py"))
    assert "quality/spc/rules.py" in paths
    assert framework_modules_pulled_in(paths) == [], FORBIDDEN_IN_PURE_MODULES


@pytest.mark.parametrize("n", range(2, 26))
def test_table_constants_match_their_formulas(n):
    table = constants_for(n)
    c4 = math.sqrt(2.0 / (n - 1)) * math.gamma(n / 2) / math.gamma((n - 1) / 2)
    tolerance = 0.0021  # the table is rounded to three decimals
    assert table.c4 == pytest.approx(c4, abs=0.0001)
    assert pytest.approx(3 / (table.d2 * math.sqrt(n)), abs=tolerance) == table.A2
    assert pytest.approx(1 + 3 * table.d3 / table.d2, abs=tolerance) == table.D4
    assert pytest.approx(max(0.0, 1 - 3 * table.d3 / table.d2), abs=tolerance) == table.D3
    assert pytest.approx(3 / (c4 * math.sqrt(n)), abs=tolerance) == table.A3
    assert pytest.approx(1 + 3 * math.sqrt(1 - c4**2) / c4, abs=tolerance) == table.B4
    assert pytest.approx(max(0.0, 1 - 3 * math.sqrt(1 - c4**2) / c4), abs=tolerance) == table.B3
    assert pytest.approx(3 / table.d2, abs=tolerance) == table.E2


def test_table_values_as_published():
    assert (constants_for(5).A2, constants_for(5).D4, constants_for(5).d2) == (0.577, 2.114, 2.326)
    assert (constants_for(7).D3, constants_for(6).B3, constants_for(10).c4) == (
        0.076,
        0.030,
        0.9727,
    )
    assert constants_for(2).E2 == 2.660
    with pytest.raises(SubgroupSizeError):
        constants_for(26)


def test_xbar_r_limits():
    limits = limits_compute("xbar_r", subgroups=SUBGROUPS)
    assert limits.center_line == 3.0
    assert limits.dispersion_center == 2.0
    assert limits.location_upper == pytest.approx(3.0 + 1.023 * 2.0)  # A2(3) = 1.023
    assert limits.location_lower == pytest.approx(3.0 - 1.023 * 2.0)
    assert limits.dispersion_upper == pytest.approx(2.574 * 2.0)  # D4(3)
    assert limits.dispersion_lower == 0.0  # D3(3) = 0
    assert limits.sigma_within == pytest.approx(2.0 / 1.693)  # R̄/d2


def test_xbar_s_limits():
    limits = limits_compute("xbar_s", subgroups=SUBGROUPS)
    assert limits.dispersion_center == pytest.approx(1.0)
    assert limits.location_upper == pytest.approx(3.0 + 1.954)  # A3(3)
    assert limits.location_lower == pytest.approx(3.0 - 1.954)
    assert limits.dispersion_upper == pytest.approx(2.568)  # B4(3)
    assert limits.sigma_within == pytest.approx(1.0 / 0.8862)  # s̄/c4


def test_individuals_moving_range_limits():
    limits = limits_compute("i_mr", values=[10.0, 12.0, 11.0, 13.0])  # MR = 2, 1, 2
    assert limits.center_line == 11.5
    assert limits.dispersion_center == pytest.approx(5 / 3)
    assert limits.location_upper == pytest.approx(11.5 + 2.660 * 5 / 3)  # E2 = 2.660
    assert limits.location_lower == pytest.approx(11.5 - 2.660 * 5 / 3)
    assert limits.dispersion_upper == pytest.approx(3.267 * 5 / 3)  # D4(2)
    points = chart_points(limits, values=[11.0, 14.0])
    assert list(points.statistic) == [11.0, 14.0]
    assert np.isnan(points.dispersion[0]) and points.dispersion[1] == 3.0


def test_p_chart_limits_differ_with_the_subgroup_size():
    limits = limits_compute("p", counts=[2, 4, 6], sizes=[100, 100, 200])
    assert limits.center_line == pytest.approx(0.03)  # 12 / 400
    points = chart_points(limits, counts=[3, 3], sizes=[100, 200])
    assert list(points.statistic) == [0.03, 0.015]
    assert points.upper[0] == pytest.approx(0.03 + 3 * math.sqrt(0.03 * 0.97 / 100))  # 0.08118
    assert points.upper[1] == pytest.approx(0.03 + 3 * math.sqrt(0.03 * 0.97 / 200))  # 0.06619
    assert list(points.lower) == [0.0, 0.0]  # clipped at zero


def test_np_chart_limits_and_constant_size():
    limits = limits_compute("np", counts=[2, 4, 6], sizes=[100, 100, 100])
    assert limits.center_line == pytest.approx(4.0)  # n·p̄ = 100 · 0.04
    assert limits.location_upper == pytest.approx(4.0 + 3 * math.sqrt(3.84))  # 9.8788
    assert limits.location_lower == 0.0
    with pytest.raises(SubgroupSizeError) as raised:
        limits_compute("np", counts=[2, 4], sizes=[100, 90])
    assert raised.value.field == "sizes"
    with pytest.raises(SubgroupSizeError):
        chart_points(limits, counts=[1], sizes=[50])


def test_c_chart_limits():
    limits = limits_compute("c", counts=[14, 18, 16, 16])
    assert (limits.center_line, limits.location_lower, limits.location_upper) == (16.0, 4.0, 28.0)


def test_u_chart_limits_per_point():
    limits = limits_compute("u", counts=[3, 6], sizes=[2, 4])
    assert limits.center_line == 1.5
    points = chart_points(limits, counts=[2, 2], sizes=[2, 4])
    assert points.upper[0] == pytest.approx(1.5 + 3 * math.sqrt(0.75))  # 4.0981
    assert points.upper[1] == pytest.approx(1.5 + 3 * math.sqrt(0.375))  # 3.3371
    assert points.sigma[1] == pytest.approx(math.sqrt(0.375))


def test_limits_survive_a_round_trip_through_json():
    limits = limits_compute("xbar_r", subgroups=SUBGROUPS)
    assert ControlLimits.from_dict(limits.as_dict()) == limits


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"chart_type": "xbar_r", "subgroups": [[1.0, 2.0]]}, TooFewSubgroupsError),
        ({"chart_type": "i_mr", "values": [1.0]}, TooFewSubgroupsError),
        ({"chart_type": "xbar_r", "subgroups": [[1.0, 1.0], [2.0, 2.0]]}, ZeroSpreadError),
        ({"chart_type": "i_mr", "values": [3.0, 3.0, 3.0]}, ZeroSpreadError),
        ({"chart_type": "p", "counts": [0, 0], "sizes": [10, 10]}, ZeroSpreadError),
        ({"chart_type": "c", "counts": [0, 0]}, ZeroSpreadError),
        ({"chart_type": "xbar_r", "subgroups": [[1.0, float("nan")], [2, 3]]}, NonFiniteValueError),
        ({"chart_type": "xbar_r", "subgroups": [[1.0, 2.0], [2.0, 3.0, 4.0]]}, SubgroupSizeError),
        ({"chart_type": "xbar_s", "subgroups": [[1.0], [2.0]]}, SubgroupSizeError),
        (
            {"chart_type": "xbar_r", "subgroups": SUBGROUPS, "subgroup_size": 5},
            SubgroupSizeError,
        ),
        ({"chart_type": "p", "counts": [5, 1], "sizes": [4, 10]}, CountError),
        ({"chart_type": "u", "counts": [-1, 1], "sizes": [4, 10]}, CountError),
    ],
)
def test_bad_input_raises_a_specific_error(arguments, error):
    chart_type = arguments.pop("chart_type")
    with pytest.raises(error) as raised:
        limits_compute(chart_type, **arguments)
    assert raised.value.message
    assert raised.value.field


@settings(max_examples=60, deadline=None)
@given(
    data=arrays(
        float,
        st.tuples(st.integers(2, 30), st.integers(2, 10)),
        elements=st.floats(-1e3, 1e3, allow_nan=False).map(lambda value: round(value, 2)),
    ),
    shift=st.floats(-1e3, 1e3).map(lambda value: round(value, 2)),
    chart=st.sampled_from(["xbar_r", "xbar_s"]),
)
def test_limits_shift_with_the_data_and_keep_their_width(data, shift, chart):
    try:
        limits = limits_compute(chart, subgroups=data.tolist())
    except ZeroSpreadError:
        return
    shifted = limits_compute(chart, subgroups=(data + shift).tolist())
    scale = 1e-9 * (1 + abs(shift) + np.abs(data).max())
    assert shifted.center_line == pytest.approx(limits.center_line + shift, abs=scale)
    assert shifted.location_upper == pytest.approx(limits.location_upper + shift, abs=scale)
    assert shifted.location_lower == pytest.approx(limits.location_lower + shift, abs=scale)
    assert shifted.dispersion_center == pytest.approx(limits.dispersion_center, abs=scale)
    assert shifted.sigma_within == pytest.approx(limits.sigma_within, abs=scale)


@settings(max_examples=40, deadline=None)
@given(
    values=arrays(float, st.integers(2, 50), elements=st.integers(-100, 100).map(float)),
    shift=st.integers(-1000, 1000).map(float),
)
def test_individuals_limits_shift_with_the_data(values, shift):
    try:
        limits = limits_compute("i_mr", values=values)
    except ZeroSpreadError:
        return
    shifted = limits_compute("i_mr", values=values + shift)
    assert shifted.center_line == pytest.approx(limits.center_line + shift)
    assert shifted.location_upper - shifted.center_line == pytest.approx(
        limits.location_upper - limits.center_line
    )
    assert shifted.dispersion_upper == pytest.approx(limits.dispersion_upper)
