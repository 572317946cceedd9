"""ISO 22400-2 elements, KPIs, roll-ups and the six big losses."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from production.algorithms.oee import (
    SIX_BIG_LOSSES_ISO_TERMS,
    OeeElements,
    compute_kpis,
    rollup,
    six_big_losses,
)


def worked_example_elements() -> OeeElements:
    """The 8-hour shift of test_timeline/test_shifts, hand-computed (seconds).

    POT 28 800, breaks 900 + 1 800 → PDOT 2 700, PBT 26 100; APT 18 450, AUST 1 800,
    ADET 4 650 (2 700 breakdown + 1 800 needing a reason + 150 minor stops), ADOT 600,
    no data 600. PRU 30 s; PQ 580, GQ 560, SQ 12, RQ 8.
    """
    return OeeElements(
        planned_operation_time_s=28_800,
        planned_down_time_s=2_700,
        actual_production_time_s=18_450,
        actual_setup_time_s=1_800,
        actual_delay_time_s=4_650,
        actual_down_time_s=600,
        no_data_time_s=600,
        minor_stop_time_s=150,
        needs_reason_time_s=1_800,
    ) + OeeElements.from_counts(
        planned_run_time_per_unit_s=30,
        produced_quantity=580,
        good_quantity=560,
        scrap_quantity=12,
        rework_quantity=8,
    )


def test_worked_example_kpis() -> None:
    elements = worked_example_elements()

    kpis = compute_kpis(elements)

    assert elements.planned_busy_time_s == 26_100
    assert elements.observed_busy_time_s == 25_500
    assert elements.actual_processing_time_s == 20_250
    assert elements.unaccounted_time_s == 0
    assert elements.unclassified_quantity == 0
    assert elements.planned_time_of_produced_s == 17_400
    assert kpis.availability == 18_450 / 25_500
    assert kpis.effectiveness == 17_400 / 18_450
    assert kpis.quality_ratio == 560 / 580
    # OEE = A·E·Q = PRU·GQ / (PBT − no data) = 30·560 / 25 500 = 56/85
    assert kpis.oee == pytest.approx(56 / 85, rel=1e-12)
    # NEE = AUPT/(PBT − no data)·E·Q = 20 250/25 500 · 17 400/18 450 · 560/580 = 504/697
    assert kpis.nee == pytest.approx(504 / 697, rel=1e-12)
    assert kpis.technical_efficiency == 18_450 / 23_100
    assert kpis.setup_rate == 1_800 / 20_250
    assert kpis.scrap_ratio == 12 / 580
    assert kpis.rework_ratio == 8 / 580
    assert kpis.data_coverage == 25_500 / 26_100
    assert kpis.effectiveness_above_one is False
    assert kpis.has_no_data_time is True
    assert kpis.has_downtime_needing_reason is True
    assert kpis.has_counts_without_production_time is False
    assert kpis.flags == ("has_no_data_time", "has_downtime_needing_reason")


def test_worked_example_six_big_losses_reconcile() -> None:
    elements = worked_example_elements()

    losses = six_big_losses(elements)

    assert losses.breakdowns_s == 4_500
    assert losses.setup_and_adjustments_s == 1_800
    assert losses.minor_stops_s == 150
    assert losses.reduced_speed_s == 1_050
    assert losses.scrap_s == 360
    assert losses.rework_s == 240
    assert losses.needs_reason_s == 1_800
    assert losses.idle_s == 600
    assert losses.no_data_s == 600
    assert losses.unaccounted_s == 0
    assert losses.fully_productive_s == 16_800  # = PRU·GQ
    total = (
        losses.fully_productive_s
        + losses.scrap_s
        + losses.rework_s
        + losses.reduced_speed_s
        + losses.setup_and_adjustments_s
        + losses.breakdowns_s
        + losses.minor_stops_s
        + losses.idle_s
        + losses.unaccounted_s
    )
    assert total == elements.observed_busy_time_s
    assert set(SIX_BIG_LOSSES_ISO_TERMS) == {
        "breakdowns_s",
        "setup_and_adjustments_s",
        "minor_stops_s",
        "reduced_speed_s",
        "scrap_s",
        "rework_s",
    }


def test_reduced_speed_is_negative_and_effectiveness_flagged_when_faster_than_planned() -> None:
    elements = OeeElements(
        planned_operation_time_s=3_600, actual_production_time_s=3_000
    ) + OeeElements.from_counts(
        planned_run_time_per_unit_s=10, produced_quantity=330, good_quantity=330
    )

    kpis = compute_kpis(elements)

    assert kpis.effectiveness == 3_300 / 3_000
    assert kpis.effectiveness_above_one is True
    assert kpis.flags == ("effectiveness_above_one",)
    assert six_big_losses(elements).reduced_speed_s == -300


def test_effectiveness_of_exactly_one_is_not_flagged() -> None:
    elements = OeeElements(
        planned_operation_time_s=100, actual_production_time_s=100
    ) + OeeElements.from_counts(
        planned_run_time_per_unit_s=10, produced_quantity=10, good_quantity=10
    )

    kpis = compute_kpis(elements)

    assert kpis.effectiveness == 1.0
    assert kpis.effectiveness_above_one is False
    assert kpis.oee == 1.0


def test_empty_elements_give_undefined_kpis_not_zero_or_exception() -> None:
    kpis = compute_kpis(OeeElements())

    assert kpis.availability is None
    assert kpis.effectiveness is None
    assert kpis.quality_ratio is None
    assert kpis.oee is None
    assert kpis.nee is None
    assert kpis.technical_efficiency is None
    assert kpis.setup_rate is None
    assert kpis.scrap_ratio is None
    assert kpis.rework_ratio is None
    assert kpis.data_coverage is None
    assert kpis.flags == ()


def test_denominator_within_float_noise_of_zero_is_undefined() -> None:
    elements = OeeElements(planned_operation_time_s=1e-9, actual_production_time_s=1e-10)

    assert compute_kpis(elements).availability is None


def test_shift_without_production_has_zero_availability_and_undefined_oee() -> None:
    elements = OeeElements(planned_operation_time_s=28_800, actual_delay_time_s=28_800)

    kpis = compute_kpis(elements)

    assert kpis.availability == 0.0
    assert kpis.effectiveness is None
    assert kpis.quality_ratio is None
    assert kpis.oee is None
    assert kpis.technical_efficiency == 0.0


def test_counts_without_production_time_are_flagged() -> None:
    elements = OeeElements(
        planned_operation_time_s=600, actual_down_time_s=600
    ) + OeeElements.from_counts(planned_run_time_per_unit_s=5, produced_quantity=4, good_quantity=4)

    kpis = compute_kpis(elements)

    assert kpis.effectiveness is None
    assert kpis.quality_ratio == 1.0
    assert kpis.has_counts_without_production_time is True


def test_no_data_time_is_excluded_from_denominators() -> None:
    elements = OeeElements(
        planned_operation_time_s=1_000, actual_production_time_s=400, no_data_time_s=500
    )

    kpis = compute_kpis(elements)

    assert kpis.availability == 400 / 500
    assert kpis.availability != 400 / 1_000
    assert kpis.data_coverage == 0.5


def test_planned_time_of_mixed_products_is_summed() -> None:
    product_a = OeeElements.from_counts(
        planned_run_time_per_unit_s=20, produced_quantity=10, good_quantity=9, scrap_quantity=1
    )
    product_b = OeeElements.from_counts(
        planned_run_time_per_unit_s=50, produced_quantity=4, good_quantity=3, rework_quantity=1
    )
    time_part = OeeElements(planned_operation_time_s=1_000, actual_production_time_s=500)

    elements = time_part + product_a + product_b

    assert elements.planned_time_of_produced_s == 400
    assert elements.planned_time_of_scrap_s == 20
    assert elements.planned_time_of_rework_s == 50
    assert elements.produced_quantity == 14
    assert compute_kpis(elements).effectiveness == 400 / 500


def test_rollup_sums_elements_instead_of_averaging_percentages() -> None:
    big = OeeElements(planned_operation_time_s=28_800, actual_production_time_s=25_920)
    small = OeeElements(planned_operation_time_s=3_600, actual_production_time_s=1_800)

    total = rollup([big, small])

    availability = compute_kpis(total).availability
    assert availability == 27_720 / 32_400
    mean_of_availabilities = (0.9 + 0.5) / 2
    assert availability != pytest.approx(mean_of_availabilities)
    assert sum([big, small]) == total
    assert rollup([]) == OeeElements()


def test_elements_store_plain_floats() -> None:
    elements = OeeElements(planned_operation_time_s=10, actual_production_time_s=5)

    assert type(elements.planned_operation_time_s) is float
    assert elements.as_iso_dict()["PBT"] == 10.0
    assert elements.as_iso_dict()["AUPT"] == 5.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"actual_production_time_s": -1.0}, "actual_production_time_s must not be negative"),
        ({"good_quantity": math.nan}, "good_quantity must be finite"),
        ({"planned_operation_time_s": math.inf}, "planned_operation_time_s must be finite"),
        ({"produced_quantity": True}, "produced_quantity must be a number"),
        ({"produced_quantity": "5"}, "produced_quantity must be a number"),
        (
            {"planned_operation_time_s": 10, "planned_down_time_s": 11},
            "PDOT 11.0 s) exceeds planned operation time",
        ),
        (
            {"planned_operation_time_s": 100, "planned_down_time_s": 20, "actual_down_time_s": 81},
            "exceeds the planned busy time",
        ),
        (
            {"planned_operation_time_s": 100, "actual_production_time_s": 60, "no_data_time_s": 41},
            "exceeds the planned busy time",
        ),
        (
            {"planned_operation_time_s": 100, "actual_delay_time_s": 10, "minor_stop_time_s": 11},
            "exceed the delay time",
        ),
        ({"produced_quantity": 5, "good_quantity": 6}, "good quantity (GQ) 6.0 exceeds"),
        ({"produced_quantity": 5, "scrap_quantity": 6}, "scrap quantity (SQ) 6.0 exceeds"),
        ({"produced_quantity": 5, "rework_quantity": 6}, "rework quantity (RQ) 6.0 exceeds"),
        (
            {"produced_quantity": 5, "good_quantity": 3, "scrap_quantity": 2, "rework_quantity": 1},
            "GQ + SQ + RQ = 6.0 exceeds",
        ),
        (
            {"planned_time_of_produced_s": 10, "planned_time_of_scrap_s": 11},
            "planned time of scrap and rework",
        ),
    ],
)
def test_invalid_elements_are_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        OeeElements(**kwargs)  # type: ignore[arg-type]


def test_float_noise_does_not_trip_the_busy_time_check() -> None:
    production_s = 0.1 + 0.2
    assert production_s > 0.3  # float noise of 5.6e-17 s

    elements = OeeElements(planned_operation_time_s=0.3, actual_production_time_s=production_s)

    assert elements.actual_production_time_s == production_s


def test_a_real_excess_over_the_busy_time_is_rejected() -> None:
    with pytest.raises(ValueError, match="exceeds the planned busy time"):
        OeeElements(planned_operation_time_s=0.3, actual_production_time_s=0.300002)


@pytest.mark.parametrize("pru", [0.0, -1.0, math.nan])
def test_from_counts_rejects_a_non_positive_pru(pru: float) -> None:
    with pytest.raises(ValueError, match="planned run time per unit"):
        OeeElements.from_counts(
            planned_run_time_per_unit_s=pru, produced_quantity=1, good_quantity=1
        )


# ---------------------------------------------------------------- properties

seconds = st.integers(min_value=0, max_value=50_000)
quantities = st.integers(min_value=0, max_value=5_000)


@st.composite
def valid_elements(draw: st.DrawFn) -> OeeElements:
    production_s, setup_s, down_s, no_data_s, slack_s, planned_down_s = (
        draw(seconds) for _ in range(6)
    )
    minor_s, needs_reason_s, breakdown_s = (draw(seconds) for _ in range(3))
    good, scrap, rework, unclassified = (draw(quantities) for _ in range(4))
    pru_s = draw(st.floats(min_value=0.1, max_value=600, allow_nan=False))
    delay_s = minor_s + needs_reason_s + breakdown_s
    time_part = OeeElements(
        planned_operation_time_s=production_s
        + setup_s
        + delay_s
        + down_s
        + no_data_s
        + slack_s
        + planned_down_s,
        planned_down_time_s=planned_down_s,
        actual_production_time_s=production_s,
        actual_setup_time_s=setup_s,
        actual_delay_time_s=delay_s,
        actual_down_time_s=down_s,
        no_data_time_s=no_data_s,
        minor_stop_time_s=minor_s,
        needs_reason_time_s=needs_reason_s,
    )
    return time_part + OeeElements.from_counts(
        planned_run_time_per_unit_s=pru_s,
        produced_quantity=good + scrap + rework + unclassified,
        good_quantity=good,
        scrap_quantity=scrap,
        rework_quantity=rework,
    )


@settings(deadline=None)
@given(valid_elements())
def test_availability_and_quality_lie_between_zero_and_one(elements: OeeElements) -> None:
    kpis = compute_kpis(elements)

    if kpis.availability is not None:
        assert 0.0 <= kpis.availability <= 1.0
    if kpis.quality_ratio is not None:
        assert 0.0 <= kpis.quality_ratio <= 1.0
    if kpis.technical_efficiency is not None:
        assert 0.0 <= kpis.technical_efficiency <= 1.0
    if kpis.data_coverage is not None:
        assert 0.0 <= kpis.data_coverage <= 1.0


@settings(deadline=None)
@given(valid_elements())
def test_oee_is_availability_times_effectiveness_times_quality(elements: OeeElements) -> None:
    kpis = compute_kpis(elements)

    if None in (kpis.availability, kpis.effectiveness, kpis.quality_ratio):
        assert kpis.oee is None
    else:
        assert kpis.availability is not None
        assert kpis.effectiveness is not None
        assert kpis.quality_ratio is not None
        assert kpis.oee == kpis.availability * kpis.effectiveness * kpis.quality_ratio


@settings(deadline=None)
@given(valid_elements(), valid_elements())
def test_rollup_kpis_come_from_summed_elements(first: OeeElements, second: OeeElements) -> None:
    total = rollup([first, second])

    assert total.actual_production_time_s == (
        first.actual_production_time_s + second.actual_production_time_s
    )
    assert total.produced_quantity == first.produced_quantity + second.produced_quantity
    observed_s = first.observed_busy_time_s + second.observed_busy_time_s
    expected = None if observed_s == 0 else total.actual_production_time_s / observed_s
    assert compute_kpis(total).availability == expected


@settings(deadline=None)
@given(valid_elements())
def test_six_big_losses_reconcile_with_observed_busy_time(elements: OeeElements) -> None:
    losses = six_big_losses(elements)

    total = (
        losses.fully_productive_s
        + losses.scrap_s
        + losses.rework_s
        + losses.reduced_speed_s
        + losses.setup_and_adjustments_s
        + losses.breakdowns_s
        + losses.minor_stops_s
        + losses.idle_s
        + losses.unaccounted_s
    )
    assert total == pytest.approx(elements.observed_busy_time_s, abs=1e-6)
    assert losses.breakdowns_s >= losses.needs_reason_s
