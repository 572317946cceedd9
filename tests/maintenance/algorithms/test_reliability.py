"""ISO 22400-2 MTBF and MTTR."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maintenance.algorithms.reliability import (
    ReliabilityFigures,
    mean_time_between_failures_s,
    mean_time_to_repair_s,
    reliability_figures,
)


def test_mtbf_counts_production_and_setup_time_per_failure() -> None:
    figures = reliability_figures(
        production_time_s=30_000.0, setup_time_s=6_000.0, repair_durations_s=[600.0, 1_200.0]
    )

    assert figures == ReliabilityFigures(
        failure_event_count=2,
        operating_time_s=36_000.0,
        total_repair_time_s=1_800.0,
        mean_time_between_failures_s=18_000.0,
        mean_time_to_repair_s=900.0,
    )


def test_no_failure_gives_undefined_kpis_not_zero() -> None:
    figures = reliability_figures(
        production_time_s=28_800.0, setup_time_s=0.0, repair_durations_s=[]
    )

    assert figures.failure_event_count == 0
    assert figures.mean_time_between_failures_s is None
    assert figures.mean_time_to_repair_s is None
    assert figures.operating_time_s == 28_800.0


def test_single_functions_divide_by_the_failure_event_count() -> None:
    assert mean_time_between_failures_s(operating_time_s=7_200.0, failure_event_count=3) == 2_400.0
    assert mean_time_to_repair_s(total_repair_time_s=900.0, failure_event_count=3) == 300.0
    assert mean_time_between_failures_s(operating_time_s=7_200.0, failure_event_count=0) is None
    assert mean_time_to_repair_s(total_repair_time_s=0.0, failure_event_count=0) is None


def test_repair_time_without_failure_is_refused() -> None:
    with pytest.raises(ValueError, match="FE = 0 but Σ TTR > 0"):
        mean_time_to_repair_s(total_repair_time_s=60.0, failure_event_count=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"production_time_s": -1.0, "setup_time_s": 0.0, "repair_durations_s": []}, "≥ 0 s"),
        (
            {"production_time_s": math.nan, "setup_time_s": 0.0, "repair_durations_s": []},
            "finite",
        ),
        (
            {"production_time_s": 1.0, "setup_time_s": 0.0, "repair_durations_s": [5.0, -2.0]},
            r"repair_durations_s\[1\]",
        ),
    ],
)
def test_bad_durations_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        reliability_figures(**kwargs)  # type: ignore[arg-type]


def test_failure_count_must_be_a_non_negative_int() -> None:
    with pytest.raises(ValueError, match="int"):
        mean_time_between_failures_s(operating_time_s=1.0, failure_event_count=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="≥ 0"):
        mean_time_between_failures_s(operating_time_s=1.0, failure_event_count=-1)


@settings(max_examples=50, deadline=None)
@given(
    production_time_s=st.floats(0, 1e7),
    setup_time_s=st.floats(0, 1e6),
    repair_durations_s=st.lists(st.floats(0, 1e5), min_size=1, max_size=20),
)
def test_mtbf_times_failures_gives_back_the_operating_time(
    production_time_s: float, setup_time_s: float, repair_durations_s: list[float]
) -> None:
    figures = reliability_figures(
        production_time_s=production_time_s,
        setup_time_s=setup_time_s,
        repair_durations_s=repair_durations_s,
    )

    assert figures.mean_time_between_failures_s is not None
    assert figures.mean_time_to_repair_s is not None
    assert figures.mean_time_between_failures_s * len(repair_durations_s) == pytest.approx(
        production_time_s + setup_time_s
    )
    assert min(repair_durations_s) - 1e-9 <= figures.mean_time_to_repair_s
    assert figures.mean_time_to_repair_s <= max(repair_durations_s) + 1e-9
