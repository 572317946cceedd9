"""OEE through the database path: hand-computed worked examples, snapshots, roll-ups.

Worked example 1 — Tuesday 2026-06-16, site in Europe/Berlin (CEST, UTC+2), one shift
"Early" 06:00–14:00 local = 04:00–12:00 UTC, breaks 09:00–09:15 and 12:00–12:30 local
(07:00–07:15 and 10:00–10:30 UTC). Equipment timeline (UTC):

    03:50 setup        → 04:00–04:20 in the shift           AUST 1 200 s
    04:20 producing    → 04:20–05:30                         APT  4 200 s
    05:30 down         → 90 s, a minor stop                  ADET    90 s (minor)
    05:31:30 producing → until 06:00                         APT  1 710 s
    06:00 down         → 45 min, classified BREAKDOWN_SPINDLE ADET 2 700 s
    06:45 producing    → 06:45–08:00, the 07:00–07:15 break  APT    900 + 2 700 s
                         is PDOT though it kept producing
    08:00 down         → 60 s, a minor stop                  ADET    60 s (minor)
    08:01 idle         → 30 min                              ADOT 1 800 s
    08:31 producing    → until 10:00                         APT  5 340 s
    10:00 planned_stop → the 10:00–10:30 break               (PDOT anyway)
    10:30 producing    → until 11:58                         APT  5 280 s
    11:58 down         → until 12:05: 7 min, no reason; 120 s in the shift
                                                             ADET   120 s (needs reason)

POT 28 800, PDOT 2 700, PBT 26 100; APT 20 130, AUST 1 200, ADET 2 970, ADOT 1 800, no data 0
(20 130 + 1 200 + 2 970 + 1 800 = 26 100). Counts in the shift: good 300, scrap 10, rework 5,
PQ 315, PRU 60 s → Σ PRU·PQ 18 900, Σ PRU·SQ 600, Σ PRU·RQ 300.
A = 20 130/26 100, E = 18 900/20 130, Q = 300/315, OEE = 18 900·300/(26 100·315) = 20/29.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone

from production import models as m
from production.choices import OperationState, WorkOrderState
from production.models.monitoring import OeeRecomputeRequest
from production.selectors.losses import loss_pareto
from production.selectors.oee import oee_current, oee_window, oee_work_order
from production.selectors.oee_live import live_oee
from production.selectors.oee_reports import six_big_losses_waterfall
from production.selectors.state_intervals import equipment_timeline
from production.services.equipment_events import equipment_events_ingest
from production.services.ingest_contract import EquipmentEventIn
from production.services.oee_snapshots import oee_snapshots_maintain
from production.services.operator_entries import (
    equipment_state_interval_enter,
    equipment_stop_classify,
)
from traceability.models import AuditEvent


def at(hour: int, minute: int = 0, second: int = 0, *, day: int = 16, month: int = 6):
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


NOW = at(12, 30)


@pytest.fixture
def clock(monkeypatch):
    class Clock:
        now = NOW

        def set(self, value: datetime) -> None:
            self.now = value

    frozen = Clock()
    monkeypatch.setattr(timezone, "now", lambda: frozen.now)
    return frozen


@pytest.fixture
def reasons(db):
    for code, parent, element, is_active in [
        ("BREAKDOWN", None, "ADET", True),
        ("BREAKDOWN_SPINDLE", "BREAKDOWN", "ADET", True),
        ("SETUP_TOOL", None, "AUST", True),
        ("NO_ORDER", None, "ADOT", True),
        ("PLANNED_PM", None, "PDOT", True),
        ("RETIRED", None, "ADET", False),
    ]:
        m.DowntimeReason.objects.create(
            code=code,
            name=code.replace("_", " ").title(),
            iso_element=element,
            is_active=is_active,
            parent=m.DowntimeReason.objects.filter(code=parent).first(),
        )


@pytest.fixture
def berlin(plant, clock, reasons):
    live_oee.clear()
    for site in (plant.site, plant.other_site):
        site.time_zone = "Europe/Berlin"
        site.save()
    yield plant
    live_oee.clear()


def state(equipment, ts, value, reason=None) -> EquipmentEventIn:
    return EquipmentEventIn(equipment.uns_path, ts, "state", {"state": value, "reason": reason})


def count(equipment, ts, good=0, scrap=0, rework=0) -> EquipmentEventIn:
    return EquipmentEventIn(
        equipment.uns_path, ts, "count", {"good": good, "scrap": scrap, "rework": rework}
    )


def early_calendar(site, *, line=None, name="Early", start=time(6), end=time(14), breaks=None):
    calendar = m.ShiftCalendar.objects.create(site=site, line=line, name=f"{name} calendar")
    shift = m.Shift.objects.create(calendar=calendar, name=name, start_time=start, end_time=end)
    for break_start, break_end in (
        breaks
        if breaks is not None
        else [
            (time(9), time(9, 15)),
            (time(12), time(12, 30)),
        ]
    ):
        m.ShiftBreak.objects.create(shift=shift, start_time=break_start, end_time=break_end)
    return calendar


def running_operation(make_work_order, equipment, *, start=None, run_time_s=60.0):
    start = start or at(3)
    work_order = make_work_order(state="in_progress")
    operation = work_order.operations.order_by("sequence").first()
    m.Operation.objects.filter(pk=operation.pk).update(
        state=OperationState.IN_PROGRESS,
        assigned_equipment=equipment,
        actual_start_at=start,
        planned_run_time_per_unit_s=run_time_s,
    )
    m.WorkOrder.objects.filter(pk=work_order.pk).update(started_at=start)
    return work_order, operation


EXAMPLE_EVENTS = [
    ("03:50", "setup"),
    ("04:20", "producing"),
    ("05:30", "down"),
    ("05:31:30", "producing"),
    ("06:00", "down"),
    ("06:45", "producing"),
    ("08:00", "down"),
    ("08:01", "idle"),
    ("08:31", "producing"),
    ("10:00", "planned_stop"),
    ("10:30", "producing"),
    ("11:58", "down"),
    ("12:05", "producing"),
]


def _hms(text: str) -> datetime:
    return at(*(int(part) for part in text.split(":")))


def load_example(equipment) -> None:
    events = [state(equipment, _hms(ts), value) for ts, value in EXAMPLE_EVENTS]
    events += [
        count(equipment, at(3, 55), good=3),  # before the shift: not in its OEE
        count(equipment, at(5), good=100),
        count(equipment, at(7), good=100, scrap=5),  # during a break: still counted
        count(equipment, at(9), good=60, rework=5),
        count(equipment, at(11), good=40, scrap=5),
        count(equipment, at(12, 10), good=7),  # after the shift
    ]
    result = equipment_events_ingest(events=events)
    assert result.rejected == []


def classify_breakdown(equipment, actor=None):
    stop = m.EquipmentStateInterval.objects.get(equipment=equipment, start_at=at(6))
    return equipment_stop_classify(
        interval_id=stop.pk, reason_code="BREAKDOWN_SPINDLE", actor=actor, note="spindle seized"
    )


EXPECTED_ELEMENTS = {
    "planned_operation_time_s": 28_800.0,
    "planned_down_time_s": 2_700.0,
    "planned_busy_time_s": 26_100.0,
    "actual_production_time_s": 20_130.0,
    "actual_setup_time_s": 1_200.0,
    "actual_processing_time_s": 21_330.0,
    "actual_delay_time_s": 2_970.0,
    "actual_down_time_s": 1_800.0,
    "no_data_time_s": 0.0,
    "minor_stop_time_s": 150.0,
    "needs_reason_time_s": 120.0,
    "produced_quantity": 315.0,
    "good_quantity": 300.0,
    "scrap_quantity": 10.0,
    "rework_quantity": 5.0,
    "planned_time_of_produced_s": 18_900.0,
    "planned_time_of_scrap_s": 600.0,
    "planned_time_of_rework_s": 300.0,
}
EXPECTED_KPIS = {
    "availability": 20_130 / 26_100,
    "effectiveness": 18_900 / 20_130,
    "quality_ratio": 300 / 315,
    "oee": 20 / 29,
    "nee": (21_330 / 26_100) * (18_900 / 20_130) * (300 / 315),
    "technical_efficiency": 20_130 / (20_130 + 2_970),
    "setup_rate": 1_200 / 21_330,
    "scrap_ratio": 10 / 315,
    "rework_ratio": 5 / 315,
    "data_coverage": 1.0,
}


def assert_report(report, elements, kpis):
    assert report["elements"] == pytest.approx(elements, rel=1e-12, abs=1e-9)
    assert report["kpis"] == pytest.approx(kpis, rel=1e-12)


def snapshot_elements(snapshot) -> dict:
    return {
        name: float(getattr(snapshot, name))
        for name in EXPECTED_ELEMENTS
        if name != "actual_processing_time_s"
    }


def without_processing(values: dict) -> dict:
    return {key: value for key, value in values.items() if key != "actual_processing_time_s"}


def test_worked_example_live_oee_of_the_shift(berlin, make_work_order):
    early_calendar(berlin.site)
    running_operation(make_work_order, berlin.equipment)
    load_example(berlin.equipment)
    classify_breakdown(berlin.equipment)
    report = oee_current(scope="line", scope_ids=[berlin.line.pk])[berlin.line.pk]
    assert_report(report, EXPECTED_ELEMENTS, EXPECTED_KPIS)
    assert report["flags"] == ["has_downtime_needing_reason"]
    assert (report["shift"], report["period_start_at"], report["period_end_at"]) == (
        "Early",
        at(4),
        at(12),
    )
    assert report["is_open"] is False  # 12:30 UTC is between shifts: the latest one
    assert (report["minor_stop_count"], report["needs_reason_count"]) == (2, 1)
    [member] = report["equipment"]
    assert (member["equipment_id"], member["state"], member["state_since"]) == (
        berlin.equipment.pk,
        "producing",
        at(12, 5),
    )
    assert member["oee"] == pytest.approx(20 / 29, rel=1e-12)


def test_worked_example_before_the_stop_is_classified(berlin, make_work_order):
    early_calendar(berlin.site)
    running_operation(make_work_order, berlin.equipment)
    load_example(berlin.equipment)
    report = oee_current(scope="equipment", scope_ids=[berlin.equipment.pk])
    elements = report[berlin.equipment.pk]["elements"]
    assert elements["needs_reason_time_s"] == 2_820.0  # the 45 min breakdown and 120 s
    assert elements["actual_delay_time_s"] == 2_970.0  # booked to ADET provisionally
    assert report[berlin.equipment.pk]["needs_reason_count"] == 2


def test_worked_example_six_big_losses_and_pareto(berlin, make_work_order):
    early_calendar(berlin.site)
    running_operation(make_work_order, berlin.equipment)
    load_example(berlin.equipment)
    classify_breakdown(berlin.equipment)
    _, elements = oee_window(scope="line", scope_id=berlin.line.pk, start=at(4), end=at(12))
    waterfall = six_big_losses_waterfall(elements)
    assert waterfall["start_s"] == 26_100.0
    assert {step["key"]: step["duration_s"] for step in waterfall["steps"]} == {
        "breakdowns_s": 2_820.0,
        "setup_and_adjustments_s": 1_200.0,
        "minor_stops_s": 150.0,
        "idle_s": 1_800.0,
        "reduced_speed_s": 1_230.0,
        "scrap_s": 600.0,
        "rework_s": 300.0,
        "unaccounted_s": 0.0,
    }
    assert waterfall["fully_productive_s"] == 18_000.0
    assert waterfall["start_s"] - sum(s["duration_s"] for s in waterfall["steps"]) == 18_000.0
    pareto = loss_pareto(scope="line", scope_id=berlin.line.pk, start=at(4), end=at(12))
    assert [(row["key"], row["duration_s"], row["stop_count"]) for row in pareto["rows"]] == [
        ("BREAKDOWN_SPINDLE", 2_700.0, 1),
        ("state:idle", 1_800.0, 1),
        ("state:setup", 1_200.0, 1),
        ("minor_stop", 150.0, 2),
        ("unclassified", 120.0, 1),
    ]
    assert pareto["total_s"] == 5_970.0
    assert pareto["rows"][0]["share"] == pytest.approx(2_700 / 5_970)
    assert pareto["rows"][-1]["cumulative_share"] == pytest.approx(1.0)


def test_worked_example_snapshots_closed_recomputed_and_idempotent(berlin, make_work_order, clock):
    early_calendar(berlin.site)
    running_operation(make_work_order, berlin.equipment)
    load_example(berlin.equipment)
    OeeRecomputeRequest.objects.all().delete()  # the example's counts were hours late
    oee_snapshots_maintain()
    shift_rows = m.OeeSnapshot.objects.filter(period="shift", period_start_at=at(4), is_closed=True)
    assert {(row.scope, row.scope_id) for row in shift_rows} == {
        ("equipment", berlin.equipment.pk),
        ("line", berlin.line.pk),
        ("area", berlin.line.area_id),
        ("site", berlin.site.pk),
    }
    unclassified = {**without_processing(EXPECTED_ELEMENTS), "needs_reason_time_s": 2_820.0}
    for row in shift_rows:
        assert snapshot_elements(row) == pytest.approx(unclassified, rel=1e-12)
        assert (row.period_end_at, row.label) == (at(12), "Early 2026-06-16")
    # The operator classifies the breakdown: the closed shift is computed again.
    classify_breakdown(berlin.equipment)
    assert OeeRecomputeRequest.objects.count() == 1
    oee_snapshots_maintain()
    assert not OeeRecomputeRequest.objects.exists()
    line_row = m.OeeSnapshot.objects.get(
        period="shift", scope="line", scope_id=berlin.line.pk, period_start_at=at(4)
    )
    assert snapshot_elements(line_row) == pytest.approx(
        without_processing(EXPECTED_ELEMENTS), rel=1e-12
    )
    assert (line_row.availability, line_row.effectiveness, line_row.quality_ratio) == pytest.approx(
        (EXPECTED_KPIS["availability"], EXPECTED_KPIS["effectiveness"], 300 / 315), rel=1e-12
    )
    assert line_row.oee == pytest.approx(20 / 29, rel=1e-12)
    assert line_row.nee == pytest.approx(EXPECTED_KPIS["nee"], rel=1e-12)
    # Hours of the shift add up to the shift (they are slices of the same timeline).
    hours = m.OeeSnapshot.objects.filter(
        period="hour",
        scope="line",
        scope_id=berlin.line.pk,
        is_closed=True,
        period_start_at__gte=at(4),
        period_start_at__lt=at(12),
    ).order_by("period_start_at")
    assert [row.period_start_at for row in hours] == [at(hour) for hour in range(4, 12)]
    for name, expected in without_processing(EXPECTED_ELEMENTS).items():
        assert sum(getattr(row, name) for row in hours) == pytest.approx(expected, abs=1e-6), name
    # Running it again changes nothing but the computation time.
    before = {row.pk: snapshot_elements(row) for row in m.OeeSnapshot.objects.all()}
    oee_snapshots_maintain()
    after = {row.pk: snapshot_elements(row) for row in m.OeeSnapshot.objects.all()}
    assert after == before
    # The day closes once the local day (ending 22:00 UTC) is over: equal to its one shift.
    clock.set(at(0, 10, day=17))
    oee_snapshots_maintain()
    day = m.OeeSnapshot.objects.get(
        period="day",
        scope="equipment",
        scope_id=berlin.equipment.pk,
        is_closed=True,
        period_start_at=at(22, day=15),
    )
    assert (day.period_end_at, day.label) == (at(22), "2026-06-16")
    assert snapshot_elements(day) == pytest.approx(without_processing(EXPECTED_ELEMENTS), rel=1e-12)


def test_open_periods_are_stored_as_open_snapshots(berlin, make_work_order, clock):
    early_calendar(berlin.site)
    load_example(berlin.equipment)
    clock.set(at(9, 10))
    oee_snapshots_maintain()
    open_shift = m.OeeSnapshot.objects.get(
        period="shift", scope="line", scope_id=berlin.line.pk, period_start_at=at(4)
    )
    assert open_shift.is_closed is False
    assert open_shift.planned_operation_time_s == 5 * 3600 + 600  # 04:00 → 09:10
    clock.set(NOW)
    oee_snapshots_maintain()
    open_shift.refresh_from_db()
    assert open_shift.is_closed is True
    assert open_shift.planned_operation_time_s == 28_800.0


def test_overnight_shift_across_the_fall_back_night(berlin, make_work_order, clock):
    """Night 22:00–06:00 local from Saturday 2026-10-24: 9 real hours (CEST → CET).

    Shift 20:00–05:00 UTC; break 02:00–02:30 local = its first occurrence, 00:00–00:30 UTC.
    APT 20:00–23:00, 23:30–00:00, 00:30–02:00, 02:20–04:30 = 10 800 + 1 800 + 5 400 + 7 800
    = 25 800; AUST 02:00–02:20 = 1 200; ADET 23:00–23:30 = 1 800 (needs reason); ADOT
    04:30–05:00 = 1 800; POT 32 400, PDOT 1 800, PBT 30 600. Counts: good 400, scrap 6.
    """
    calendar = m.ShiftCalendar.objects.create(site=berlin.site, name="Nights")
    night = m.Shift.objects.create(
        calendar=calendar, name="Night", start_time=time(22), end_time=time(6), weekdays="5"
    )
    m.ShiftBreak.objects.create(shift=night, start_time=time(2), end_time=time(2, 30))
    clock.set(at(6, 0, day=25, month=10))
    running_operation(make_work_order, berlin.equipment, start=at(19, day=24, month=10))

    def oct(hour, minute=0, day=24):
        return at(hour, minute, day=day, month=10)

    events = [
        state(berlin.equipment, oct(19, 55), "producing"),
        state(berlin.equipment, oct(23), "down"),
        state(berlin.equipment, oct(23, 30), "producing"),
        state(berlin.equipment, oct(2, day=25), "setup"),
        state(berlin.equipment, oct(2, 20, day=25), "producing"),
        state(berlin.equipment, oct(4, 30, day=25), "idle"),
        state(berlin.equipment, oct(5, 10, day=25), "producing"),
        count(berlin.equipment, oct(21), good=150),
        count(berlin.equipment, oct(1, day=25), good=150, scrap=6),
        count(berlin.equipment, oct(4, day=25), good=100),
    ]
    assert equipment_events_ingest(events=events).rejected == []
    expected = {
        "planned_operation_time_s": 32_400.0,
        "planned_down_time_s": 1_800.0,
        "planned_busy_time_s": 30_600.0,
        "actual_production_time_s": 25_800.0,
        "actual_setup_time_s": 1_200.0,
        "actual_processing_time_s": 27_000.0,
        "actual_delay_time_s": 1_800.0,
        "actual_down_time_s": 1_800.0,
        "no_data_time_s": 0.0,
        "minor_stop_time_s": 0.0,
        "needs_reason_time_s": 1_800.0,
        "produced_quantity": 406.0,
        "good_quantity": 400.0,
        "scrap_quantity": 6.0,
        "rework_quantity": 0.0,
        "planned_time_of_produced_s": 24_360.0,
        "planned_time_of_scrap_s": 360.0,
        "planned_time_of_rework_s": 0.0,
    }
    kpis = {
        "availability": 25_800 / 30_600,
        "effectiveness": 24_360 / 25_800,
        "quality_ratio": 400 / 406,
        "oee": 24_360 * 400 / (30_600 * 406),
        "nee": (27_000 / 30_600) * (24_360 / 25_800) * (400 / 406),
        "technical_efficiency": 25_800 / 27_600,
        "setup_rate": 1_200 / 27_000,
        "scrap_ratio": 6 / 406,
        "rework_ratio": 0.0,
        "data_coverage": 1.0,
    }
    report = oee_current(scope="equipment", scope_ids=[berlin.equipment.pk])[berlin.equipment.pk]
    assert (report["shift"], report["period_start_at"], report["period_end_at"]) == (
        "Night",
        oct(20),
        oct(5, day=25),
    )
    assert_report(report, expected, kpis)
    OeeRecomputeRequest.objects.all().delete()
    clock.set(at(5, 30, day=25, month=10))
    oee_snapshots_maintain()
    row = m.OeeSnapshot.objects.get(
        period="shift", scope="equipment", scope_id=berlin.equipment.pk, is_closed=True
    )
    assert row.label == "Night 2026-10-24"
    assert snapshot_elements(row) == pytest.approx(without_processing(expected), rel=1e-12)
    hours = m.OeeSnapshot.objects.filter(
        period="hour", scope="equipment", scope_id=berlin.equipment.pk, is_closed=True
    ).order_by("period_start_at")
    assert len(hours) == 9  # the local 02:00 hour happens twice
    assert [row.label for row in hours][4:6] == ["2026-10-25 02:00", "2026-10-25 02:00"]
    assert sum(row.actual_production_time_s for row in hours) == 25_800.0
    assert sum(row.planned_operation_time_s for row in hours) == 32_400.0


def test_line_totals_sum_the_elements_instead_of_averaging(berlin, make_work_order):
    early_calendar(berlin.site)
    second = m.Equipment.objects.create(cell=berlin.equipment.cell, code="L1_M2", name="second")
    equipment_events_ingest(
        events=[
            state(berlin.equipment, at(4), "producing"),  # 8 h producing
            state(second, at(4), "producing"),
            state(second, at(5), "down", "BREAKDOWN"),  # then down for the rest
        ]
    )
    report = oee_current(scope="line", scope_ids=[berlin.line.pk])[berlin.line.pk]
    first_apt, second_apt = 26_100.0, 3_600.0
    assert report["elements"]["actual_production_time_s"] == first_apt + second_apt
    assert report["kpis"]["availability"] == pytest.approx((first_apt + second_apt) / 52_200)
    by_equipment = {row["equipment_id"]: row for row in report["equipment"]}
    assert by_equipment[second.pk]["availability"] == pytest.approx(3_600 / 26_100)
    assert by_equipment[berlin.equipment.pk]["availability"] == pytest.approx(1.0)
    # Two equipment of different size would average differently; here a site with the
    # other (empty) line: the site total is the same sum, not a mean of line ratios.
    site = oee_current(scope="site", scope_ids=[berlin.site.pk])[berlin.site.pk]
    assert site["elements"]["actual_production_time_s"] == first_apt + second_apt


def test_the_line_calendar_and_its_planned_downtime_win_over_the_site(berlin, clock):
    site_calendar = early_calendar(berlin.site)
    line_calendar = early_calendar(
        berlin.site, line=berlin.line, name="Late", start=time(14), end=time(22), breaks=[]
    )
    # Site windows 14:00–15:00 and 18:00–18:30 local; the line's 14:30–14:45 overlaps the
    # first, so only the line's applies there, the second site window still applies.
    for calendar, start, end in [
        (site_calendar, at(12), at(13)),
        (site_calendar, at(16), at(16, 30)),
        (line_calendar, at(12, 30), at(12, 45)),
    ]:
        m.PlannedDowntime.objects.create(calendar=calendar, name="pm", start_at=start, end_at=end)
    clock.set(at(21))
    equipment_events_ingest(events=[state(berlin.equipment, at(11), "producing")])
    report, _ = oee_window(scope="line", scope_id=berlin.line.pk, start=at(0), end=at(21))
    elements = report["elements"]
    assert elements["planned_operation_time_s"] == 8 * 3600.0  # 12:00–20:00 UTC, the Late shift
    assert elements["planned_down_time_s"] == 900.0 + 1_800.0
    assert elements["actual_production_time_s"] == 8 * 3600.0 - 2_700.0
    # A line of the same site without its own calendar keeps the site's: 04:00–12:00 UTC
    # with its two breaks (the site windows lie outside that shift).
    sister = m.Line.objects.create(area=berlin.line.area, code="L1B", name="sister")
    cell = m.Cell.objects.create(line=sister, code="c", name="c")
    m.Equipment.objects.create(cell=cell, code="L1B_M1", name="sister machine")
    other, _ = oee_window(scope="line", scope_id=sister.pk, start=at(0), end=at(21))
    assert other["elements"]["planned_operation_time_s"] == 28_800.0
    assert other["elements"]["planned_down_time_s"] == 2_700.0
    assert other["elements"]["no_data_time_s"] == 26_100.0
    timeline = equipment_timeline(equipment=berlin.equipment, start=at(0), end=at(21))
    assert [(shift["name"], shift["start_at"]) for shift in timeline["shifts"]] == [
        ("Late", at(12))
    ]
    assert [
        (window["start_at"], window["end_at"])
        for window in timeline["shifts"][0]["planned_down_windows"]
    ] == [(at(12, 30), at(12, 45)), (at(16), at(16, 30))]


def test_no_calendar_means_around_the_clock_in_two_shifts(berlin, clock):
    clock.set(at(13))
    equipment_events_ingest(events=[state(berlin.equipment, at(9), "producing")])
    report = oee_current(scope="equipment", scope_ids=[berlin.equipment.pk])[berlin.equipment.pk]
    # 12-24 local = 10:00–22:00 UTC; at 13:00 three hours have passed, all producing.
    assert (report["shift"], report["period_start_at"], report["is_open"]) == (
        "12-24",
        at(10),
        True,
    )
    assert report["elements"]["planned_operation_time_s"] == 3 * 3600.0
    assert report["kpis"]["availability"] == 1.0


def test_work_order_oee_and_its_closed_snapshot(berlin, make_work_order, clock):
    early_calendar(berlin.site)
    work_order, operation = running_operation(make_work_order, berlin.equipment)
    load_example(berlin.equipment)
    classify_breakdown(berlin.equipment)
    report = oee_work_order(work_order=work_order)
    assert report["period_start_at"] == at(3) and report["is_open"] is True
    assert report["elements"] == pytest.approx(EXPECTED_ELEMENTS, rel=1e-12)
    m.Operation.objects.filter(pk=operation.pk).update(
        state=OperationState.COMPLETED, actual_end_at=at(12, 20)
    )
    m.WorkOrder.objects.filter(pk=work_order.pk).update(
        state=WorkOrderState.COMPLETED, completed_at=at(12, 20)
    )
    oee_snapshots_maintain()
    rows = m.OeeSnapshot.objects.filter(period="work_order", work_order=work_order)
    assert {(row.scope, row.scope_id, row.label) for row in rows} == {
        ("equipment", berlin.equipment.pk, work_order.number),
        ("line", berlin.line.pk, work_order.number),
    }
    for row in rows:
        assert row.is_closed and row.oee == pytest.approx(20 / 29, rel=1e-12)


def test_classifying_is_audited_and_refuses_bad_reasons(berlin, make_user):
    early_calendar(berlin.site)
    load_example(berlin.equipment)
    operator = make_user("operator")
    stop = classify_breakdown(berlin.equipment, actor=operator)
    assert (stop.reason.code, stop.classified_by, stop.needs_reason) == (
        "BREAKDOWN_SPINDLE",
        operator,
        False,
    )
    audit = AuditEvent.objects.get(action="classify", object_id=str(stop.pk))
    assert (audit.actor, audit.old_value, audit.new_value, audit.reason) == (
        operator,
        "",
        "BREAKDOWN_SPINDLE",
        "spindle seized",
    )
    from mes_site.errors import InvalidTransition, ValidationFailed

    with pytest.raises(ValidationFailed) as unknown:
        equipment_stop_classify(interval_id=stop.pk, reason_code="NOPE", actor=operator)
    assert unknown.value.code == "unknown_reason"
    with pytest.raises(ValidationFailed) as inactive:
        equipment_stop_classify(interval_id=stop.pk, reason_code="RETIRED", actor=operator)
    assert inactive.value.code == "inactive_reason"
    producing = m.EquipmentStateInterval.objects.get(start_at=at(4, 20))
    with pytest.raises(InvalidTransition):
        equipment_stop_classify(interval_id=producing.pk, reason_code="BREAKDOWN", actor=operator)
    stop.refresh_from_db()
    assert stop.reason.code == "BREAKDOWN_SPINDLE"
    assert AuditEvent.objects.filter(action="classify").count() == 1


def test_a_reason_with_another_element_moves_the_stop(berlin):
    early_calendar(berlin.site)
    load_example(berlin.equipment)
    stop = m.EquipmentStateInterval.objects.get(equipment=berlin.equipment, start_at=at(6))
    equipment_stop_classify(interval_id=stop.pk, reason_code="SETUP_TOOL", actor=None)
    report = oee_current(scope="equipment", scope_ids=[berlin.equipment.pk])[berlin.equipment.pk]
    assert report["elements"]["actual_setup_time_s"] == 1_200.0 + 2_700.0
    assert report["elements"]["actual_delay_time_s"] == 2_970.0 - 2_700.0


def test_operator_entries_refuse_overlap_reversal_and_future(berlin, clock):
    from mes_site.errors import ValidationFailed

    equipment_events_ingest(events=[state(berlin.equipment, at(8), "producing")])

    def enter(start, end, value="down", reason=None):
        return equipment_state_interval_enter(
            equipment_id=berlin.equipment.pk,
            start_at=start,
            end_at=end,
            state=value,
            reason_code=reason,
            actor=None,
        )

    with pytest.raises(ValidationFailed) as overlap:
        enter(at(7, 30), at(8, 30))
    assert overlap.value.code == "overlapping_interval"
    assert overlap.value.detail["overlapping"][0]["start_at"] == at(8).isoformat()
    with pytest.raises(ValidationFailed) as reversed_interval:
        enter(at(7), at(6))
    assert reversed_interval.value.code == "reversed_interval"
    with pytest.raises(ValidationFailed) as future:
        enter(at(6), NOW + timedelta(hours=1))
    assert future.value.code == "future_interval"
    with pytest.raises(ValidationFailed) as unknown_state:
        enter(at(6), at(7), value="sleeping")
    assert unknown_state.value.code == "unknown_state"
    entered = enter(at(6), at(7), reason="NO_ORDER")
    assert (entered.source, entered.reason.code, entered.needs_reason) == (
        "operator",
        "NO_ORDER",
        False,
    )
    assert m.EquipmentStateInterval.objects.filter(equipment=berlin.equipment).count() == 2
    assert OeeRecomputeRequest.objects.filter(range_start_at=at(6), range_end_at=at(7)).exists()


def test_rebuild_command_writes_the_closed_periods_of_a_range(berlin):
    import io

    from django.core.management import CommandError, call_command

    early_calendar(berlin.site)
    load_example(berlin.equipment)
    out = io.StringIO()
    arguments = ["--start", "2026-06-16T00:00:00+00:00", "--end", "2026-06-16T12:30:00+00:00"]
    call_command("oee_snapshots_rebuild", *arguments, "--site", str(berlin.site.pk), stdout=out)
    # 12 hours (00:00–12:00 UTC) and the Early shift; the local day has not ended.
    # Site rows always; line, area and equipment rows only for the 8 planned hours.
    assert out.getvalue().strip() == "13 periods, 40 snapshots written."
    row = m.OeeSnapshot.objects.get(
        period="shift", scope="equipment", scope_id=berlin.equipment.pk, period_start_at=at(4)
    )
    assert row.actual_production_time_s == 20_130.0 and row.is_closed
    assert not m.OeeSnapshot.objects.filter(scope="site", scope_id=berlin.other_site.pk).exists()
    call_command("oee_snapshots_rebuild", *arguments, "--site", str(berlin.site.pk), stdout=out)
    assert m.OeeSnapshot.objects.count() == 40
    with pytest.raises(CommandError, match="needs a time zone"):
        call_command("oee_snapshots_rebuild", "--start", "2026-06-16T00:00:00")
