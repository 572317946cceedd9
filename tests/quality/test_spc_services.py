"""SPC services: chart configuration, limits from a baseline (versioned, audited), subgroups
plotted and checked on arrival (stored violations equal the batch evaluation), the measured
values of the UNS path, and bad input as 400s with the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from mes_site.errors import ValidationFailed
from quality import spc
from quality.models import ControlLimitSet, RuleViolation, Subgroup
from quality.services import (
    control_limits_compute,
    measurements_record,
    subgroup_record,
)
from quality.services.spc import MeasurementIn
from traceability.models import AuditEvent

pytestmark = pytest.mark.django_db

BASELINE = [[10.0, 10.2, 9.8], [10.1, 9.9, 10.0], [9.9, 10.1, 10.2], [10.0, 9.8, 10.1]]
AT = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _record(chart, rows, **kwargs):
    return [
        subgroup_record(chart=chart, values=row, measured_at=AT + timedelta(minutes=i), **kwargs)
        for i, row in enumerate(rows)
    ]


def _field(raised) -> set[str]:
    return set(raised.value.detail)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"chart_type": "i_mr", "subgroup_size": 3}, "subgroup_size"),
        ({"chart_type": "xbar_s", "subgroup_size": 1}, "subgroup_size"),
        ({"rules": ["nelson_9"]}, "rules"),
        ({"chart_type": "cusum"}, "chart_type"),
        ({"reaction": "explode"}, "reaction"),
    ],
)
def test_configure_refuses_bad_settings_with_the_field(make_chart, overrides, field):
    with pytest.raises(ValidationFailed) as raised:
        make_chart(**overrides)
    assert _field(raised) == {field}


def test_limits_come_from_the_baseline_only_on_request_versioned_and_audited(make_chart, make_user):
    chart = make_chart()
    stored = _record(chart, BASELINE)
    assert [subgroup.statistic for subgroup in stored] == [None] * 4  # no limits yet
    quality = make_user("quality")

    limit_set = control_limits_compute(
        chart_id=chart.pk, first_index=0, last_index=3, actor=quality, reason="initial study"
    )

    r_bar = np.mean([max(row) - min(row) for row in BASELINE])  # 0.4, 0.2, 0.3, 0.3 → 0.3
    center = np.mean(BASELINE)
    assert limit_set.version == 1
    assert limit_set.center_line == pytest.approx(center)
    assert limit_set.upper_limit == pytest.approx(center + 1.023 * r_bar)  # A2(3)
    assert limit_set.dispersion_upper == pytest.approx(2.574 * r_bar)  # D4(3)
    assert limit_set.computed_by == quality
    event = AuditEvent.objects.get(action="compute control limits")
    assert (event.actor, event.reason, event.new_value) == (quality, "initial study", "v1")
    # later subgroups are plotted under v1; the baseline's own points stay as they were
    later = subgroup_record(chart=chart, values=[10.0, 10.1, 9.9])
    assert later.limit_set == limit_set
    assert later.statistic == pytest.approx(10.0)
    assert Subgroup.objects.filter(chart=chart, limit_set=None).count() == 4
    second = control_limits_compute(
        chart_id=chart.pk, first_index=0, last_index=4, actor=quality, reason="more data"
    )
    assert second.version == 2
    assert ControlLimitSet.objects.filter(chart=chart).count() == 2


@pytest.mark.parametrize(
    ("rows", "first", "last", "reason", "field"),
    [
        (BASELINE[:1], 0, 0, "study", "baseline"),
        ([[10.0, 10.0, 10.0]] * 3, 0, 2, "study", "baseline"),
        (BASELINE, 0, 3, " ", "reason"),
        (BASELINE, 3, 1, "study", "first_index"),
    ],
)
def test_limits_refuse_a_bad_baseline(make_chart, rows, first, last, reason, field):
    chart = make_chart()
    _record(chart, rows)
    with pytest.raises(ValidationFailed) as raised:
        control_limits_compute(
            chart_id=chart.pk, first_index=first, last_index=last, actor=None, reason=reason
        )
    assert _field(raised) == {field}
    assert not ControlLimitSet.objects.filter(chart=chart).exists()


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"values": [10.0, 10.1]}, "values"),
        ({"values": [10.0, float("nan"), 10.1]}, "values"),
        ({"values": [10.0, 10.1, 9.9], "unit": "in"}, "unit"),
        ({"defect_count": 2}, "values"),
    ],
)
def test_bad_subgroups_are_refused_with_the_field(make_chart, arguments, field):
    chart = make_chart()
    with pytest.raises(ValidationFailed) as raised:
        subgroup_record(chart=chart, **arguments)
    assert _field(raised) == {field}
    assert not Subgroup.objects.exists()


def test_a_point_beyond_the_limits_is_a_stored_violation(make_chart):
    chart = make_chart()
    _record(chart, BASELINE)
    control_limits_compute(chart_id=chart.pk, first_index=0, last_index=3, actor=None, reason="x")

    outlier = subgroup_record(chart=chart, values=[11.0, 11.1, 10.9], unit="mm")

    violation = RuleViolation.objects.get()
    assert (violation.rule, violation.zone, violation.point_indices) == (
        "nelson_1",
        "beyond_upper",
        [4],
    )
    assert violation.subgroup == outlier
    assert outlier.zone == "beyond_upper"


def test_incremental_evaluation_on_arrival_equals_the_batch_evaluation(make_chart):
    chart = make_chart(rules=[rule.value for rule in spc.RunRule])
    rng = np.random.default_rng(3)
    _record(chart, BASELINE)
    control_limits_compute(chart_id=chart.pk, first_index=0, last_index=3, actor=None, reason="x")
    drift = np.linspace(0.0, 0.35, 60)
    rows = (10.0 + drift[:, None] + rng.normal(0, 0.1, (60, 3))).round(3).tolist()
    _record(chart, rows)

    points = list(Subgroup.objects.filter(chart=chart, limit_set__isnull=False).order_by("index"))
    batch = spc.rules_evaluate(
        [point.statistic for point in points],
        center=points[0].limit_set.center_line,
        sigma=[point.sigma for point in points],
        rules=list(spc.RunRule),
    )
    first = points[0].index
    expected = sorted((v.rule.value, v.index + first, [p + first for p in v.points]) for v in batch)
    stored = sorted(
        (v.rule, v.subgroup.index, v.point_indices) for v in RuleViolation.objects.all()
    )
    assert stored == expected
    assert len(stored) > 5  # the drift breaks rules: the comparison is not vacuous


def test_measured_values_fill_the_open_subgroup(make_chart):
    chart = make_chart()
    _record(chart, BASELINE)
    control_limits_compute(chart_id=chart.pk, first_index=0, last_index=3, actor=None, reason="x")
    values = [10.0, 10.1, 9.9, 10.2, 9.8]

    completed = measurements_record(
        measurements=[MeasurementIn(chart=chart, value=v, measured_at=AT) for v in values[:4]]
    )
    completed += measurements_record(
        measurements=[MeasurementIn(chart=chart, value=values[4], measured_at=AT)]
    )

    assert [subgroup.values for subgroup in completed] == [values[:3]]
    open_subgroup = Subgroup.objects.get(chart=chart, is_complete=False)
    assert (open_subgroup.index, open_subgroup.values) == (5, values[3:])
    assert open_subgroup.statistic is None


def test_individuals_chart_keeps_the_moving_range(make_chart):
    chart = make_chart(chart_type="i_mr", subgroup_size=1)
    completed = measurements_record(
        measurements=[
            MeasurementIn(chart=chart, value=v, measured_at=AT) for v in (10.0, 12.0, 11.0, 13.0)
        ]
    )
    assert [subgroup.dispersion for subgroup in completed] == [None, 2.0, 1.0, 2.0]
    limit_set = control_limits_compute(
        chart_id=chart.pk, first_index=0, last_index=3, actor=None, reason="x"
    )
    assert limit_set.upper_limit == pytest.approx(11.5 + 2.660 * 5 / 3)  # E2 · MR̄
    point = subgroup_record(chart=chart, values=[16.0])
    assert (point.dispersion, point.zone) == (3.0, "beyond_upper")


def test_attribute_chart_with_varying_sizes(make_chart):
    chart = make_chart(chart_type="p", subgroup_size=100)
    for count, size in ((2, 100), (4, 100), (6, 200)):
        subgroup_record(chart=chart, defect_count=count, inspected_count=size)
    limit_set = control_limits_compute(
        chart_id=chart.pk, first_index=0, last_index=2, actor=None, reason="x"
    )
    assert limit_set.center_line == pytest.approx(0.03)
    point = subgroup_record(chart=chart, defect_count=3, inspected_count=200)
    assert point.statistic == pytest.approx(0.015)
    assert point.upper_limit == pytest.approx(0.03 + 3 * (0.03 * 0.97 / 200) ** 0.5)
    with pytest.raises(ValidationFailed) as raised:
        subgroup_record(chart=chart, defect_count=30, inspected_count=20)
    assert _field(raised) == {"defect_count"}


def test_new_points_are_announced_to_the_station_for_the_chart_page(make_chart, monkeypatch):
    from mes_site import publish

    sent = []
    monkeypatch.setattr(
        publish,
        "_publisher",
        lambda groups, event, payload, **options: sent.append((groups, event, payload, options)),
    )
    chart = make_chart()
    measurements_record(
        measurements=[MeasurementIn(chart=chart, value=v, measured_at=AT) for v in (10.0, 10.1)]
    )
    assert sent == []  # no subgroup completed yet
    subgroup_record(chart=chart, values=[10.0, 10.1, 9.9])
    assert sent == [
        (
            [f"equipment.{chart.equipment_id}"],
            "spc_point",
            {"chart": chart.pk, "last_index": 1, "violations": 0},
            {"aggregate": True, "subject": f"spc:{chart.pk}"},
        )
    ]
