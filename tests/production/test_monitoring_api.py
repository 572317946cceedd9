"""The monitoring API: OEE reads, losses, stops, timeline, alerts; scope, permissions, queries."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from production import models as m
from production.selectors.oee_live import live_oee
from production.services.alerts import alert_rules_default_ensure, alerts_evaluate_signal_values
from production.services.equipment_events import equipment_events_ingest
from production.services.ingest_contract import EquipmentEventIn
from production.services.oee_snapshots import oee_snapshots_maintain

NOW = datetime(2026, 6, 16, 9, tzinfo=UTC)
API = "/api/production"


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 6, 16, hour, minute, tzinfo=UTC)


@pytest.fixture
def monitored(plant, monkeypatch, settings):
    """Both lines run a 06:00–14:00 local shift; each machine went down for 10 minutes."""
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    settings.OEE_SNAPSHOT_LOOKBACK_S = 30 * 3600.0  # closes yesterday's shift, not more
    live_oee.clear()
    for code, element, is_active in [
        ("BREAKDOWN", "ADET", True),
        ("SETUP_TOOL", "AUST", True),
        ("RETIRED", "ADET", False),
    ]:
        m.DowntimeReason.objects.create(
            code=code, name=code.title(), iso_element=element, is_active=is_active
        )
    for site in (plant.site, plant.other_site):
        site.time_zone = "Europe/Berlin"
        site.save()
        calendar = m.ShiftCalendar.objects.create(site=site, name=f"cal {site.code}")
        m.Shift.objects.create(
            calendar=calendar, name="Early", start_time=time(6), end_time=time(14)
        )
    for equipment in (plant.equipment, plant.other_equipment):
        _run(equipment)
    alert_rules_default_ensure()
    alerts_evaluate_signal_values(
        values=[
            (plant.equipment.pk, "temperature", 90.0, at(8)),
            (plant.other_equipment.pk, "temperature", 90.0, at(8)),
        ]
    )
    yield plant
    live_oee.clear()


def _run(equipment, start=None):
    start = start or at(4)
    path = equipment.uns_path
    result = equipment_events_ingest(
        events=[
            EquipmentEventIn(path, start, "state", {"state": "producing"}),
            EquipmentEventIn(path, start + timedelta(hours=2), "state", {"state": "down"}),
            EquipmentEventIn(
                path, start + timedelta(hours=2, minutes=10), "state", {"state": "producing"}
            ),
            EquipmentEventIn(path, start + timedelta(hours=3), "count", {"good": 50}),
        ]
    )
    assert result.rejected == []


def _stop(equipment):
    return m.EquipmentStateInterval.objects.get(equipment=equipment, state="down")


def _alert(equipment):
    return m.Alert.objects.get(equipment=equipment)


# --- authorization ------------------------------------------------------------------

ROLES = ["operator", "supervisor", "planner", "integration", "maintenance", "quality", "admin"]
SCOPED = {"operator", "supervisor"}
CLASSIFY = {"operator", "supervisor", "admin"}
ACKNOWLEDGE = {"operator", "supervisor", "admin"}


def _expected(role: str, allowed: set[str], is_own: bool) -> int:
    if role not in allowed:
        return 403
    if role in SCOPED and not is_own:
        return 404
    return 200


@pytest.mark.parametrize("role", ROLES)
def test_reads_are_scoped_to_the_users_lines(api_for, monitored, role):
    client = api_for(role)
    for is_own in (True, False):
        _check_reads(client, monitored, role, is_own)


def _check_reads(client, monitored, role, is_own):
    line = monitored.line if is_own else monitored.other_line
    equipment = monitored.equipment if is_own else monitored.other_equipment
    expected = _expected(role, set(ROLES), is_own)
    urls = [
        f"{API}/oee/lines/{line.pk}/",
        f"{API}/oee/equipment/{equipment.pk}/",
        f"{API}/oee/equipment/{equipment.pk}/timeline/?start={at(4).isoformat()}"
        f"&end={at(9).isoformat()}",
        f"{API}/oee/losses/pareto/?scope=line&scope_id={line.pk}",
        f"{API}/oee/losses/six-big-losses/?scope=equipment&scope_id={equipment.pk}",
        f"{API}/oee/losses/window/?scope=line&scope_id={line.pk}&start={at(4).isoformat()}",
        f"{API}/state-intervals/{_stop(equipment).pk}/",
        f"{API}/alerts/{_alert(equipment).pk}/",
    ]
    for url in urls:
        response = client.get(url.replace("+00:00", "Z"))
        assert response.status_code == expected, (url, response.content)
        if expected != 200:
            assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("role", ROLES)
def test_classify_permission_and_scope(api_for, monitored, role):
    client = api_for(role)
    for is_own in (True, False):
        _check_classify(client, monitored, role, is_own)


def _check_classify(client, monitored, role, is_own):
    equipment = monitored.equipment if is_own else monitored.other_equipment
    stop = _stop(equipment)
    response = client.post(
        f"{API}/state-intervals/{stop.pk}/classify/", {"reason_code": "BREAKDOWN"}, format="json"
    )
    expected = _expected(role, CLASSIFY, is_own)
    assert response.status_code == expected, response.content
    stop.refresh_from_db()
    if expected == 200:
        body = response.json()
        assert (body["reason_code"], body["iso_element"], body["needs_reason"]) == (
            "BREAKDOWN",
            "ADET",
            False,
        )
        assert stop.reason.code == "BREAKDOWN"
    else:
        assert set(response.json()) == {"code", "message", "detail"}
        assert stop.reason_id is None


@pytest.mark.parametrize("role", ROLES)
def test_acknowledge_permission_and_scope(api_for, monitored, role):
    client = api_for(role)
    for is_own in (True, False):
        _check_acknowledge(client, monitored, role, is_own)


def _check_acknowledge(client, monitored, role, is_own):
    alert = _alert(monitored.equipment if is_own else monitored.other_equipment)
    response = client.post(f"{API}/alerts/{alert.pk}/acknowledge/", {}, format="json")
    expected = _expected(role, ACKNOWLEDGE, is_own)
    assert response.status_code == expected, response.content
    alert.refresh_from_db()
    if expected == 200:
        body = response.json()
        assert (body["state"], body["acknowledged_by"]) == ("acknowledged", f"{role}_user")
        assert alert.acknowledged_at == NOW
    else:
        assert (alert.state, alert.acknowledged_by) == ("active", None)


def test_anonymous_requests_are_refused(client, monitored):
    for url in [f"{API}/oee/lines/", f"{API}/alerts/", f"{API}/state-intervals/needs-reason/"]:
        response = client.get(url)
        assert response.status_code in (401, 403)
        assert set(response.json()) == {"code", "message", "detail"}


# --- content ---------------------------------------------------------------------------


def test_current_line_oee_lists_only_the_users_lines(api_for, monitored):
    body = api_for("operator").get(f"{API}/oee/lines/").json()
    assert body["count"] == 1
    [line] = body["results"]
    # Shift 04:00–12:00 UTC, now 09:00: 5 h, producing except the 10 minute stop.
    assert (line["scope"], line["scope_id"], line["shift"], line["is_open"]) == (
        "line",
        monitored.line.pk,
        "Early",
        True,
    )
    assert line["elements"]["planned_operation_time_s"] == 18_000.0
    assert line["elements"]["actual_production_time_s"] == 17_400.0
    assert line["elements"]["needs_reason_time_s"] == 600.0
    assert line["kpis"]["availability"] == pytest.approx(17_400 / 18_000)
    assert line["flags"] == ["has_downtime_needing_reason", "has_counts_without_run_time"]
    assert [row["equipment_id"] for row in line["equipment"]] == [monitored.equipment.pk]


def test_needs_reason_list_and_classify_flow(api_for, monitored):
    client = api_for("operator")
    listed = client.get(f"{API}/state-intervals/needs-reason/").json()
    assert [row["id"] for row in listed["results"]] == [_stop(monitored.equipment).pk]
    assert listed["results"][0]["duration_s"] == 600.0
    stop = _stop(monitored.equipment)
    unknown = client.post(
        f"{API}/state-intervals/{stop.pk}/classify/", {"reason_code": "NOPE"}, format="json"
    )
    assert (unknown.status_code, unknown.json()["code"]) == (400, "unknown_reason")
    retired = client.post(
        f"{API}/state-intervals/{stop.pk}/classify/", {"reason_code": "RETIRED"}, format="json"
    )
    assert (retired.status_code, retired.json()["code"]) == (400, "inactive_reason")
    producing = m.EquipmentStateInterval.objects.filter(
        equipment=monitored.equipment, state="producing"
    ).first()
    not_a_stop = client.post(
        f"{API}/state-intervals/{producing.pk}/classify/", {"reason_code": "BREAKDOWN"}
    )
    assert (not_a_stop.status_code, not_a_stop.json()["code"]) == (409, "invalid_transition")
    done = client.post(
        f"{API}/state-intervals/{stop.pk}/classify/",
        {"reason_code": "SETUP_TOOL", "note": "tool change"},
        format="json",
    )
    assert done.status_code == 200
    assert (done.json()["reason_code"], done.json()["classified_by"]) == (
        "SETUP_TOOL",
        "operator_user",
    )
    assert client.get(f"{API}/state-intervals/needs-reason/").json()["results"] == []
    line = client.get(f"{API}/oee/lines/{monitored.line.pk}/").json()
    assert line["elements"]["actual_setup_time_s"] == 600.0
    assert line["elements"]["needs_reason_time_s"] == 0.0


def test_operator_entry_via_the_api(api_for, monitored):
    client = api_for("operator")
    url = f"{API}/state-intervals/"
    base = {"equipment": monitored.equipment.pk, "state": "down", "reason_code": "BREAKDOWN"}
    reversed_entry = client.post(
        url, {**base, "start_at": at(3).isoformat(), "end_at": at(2).isoformat()}, format="json"
    )
    assert (reversed_entry.status_code, reversed_entry.json()["code"]) == (400, "reversed_interval")
    overlapping = client.post(
        url, {**base, "start_at": at(3).isoformat(), "end_at": at(5).isoformat()}, format="json"
    )
    assert (overlapping.status_code, overlapping.json()["code"]) == (400, "overlapping_interval")
    assert len(overlapping.json()["detail"]["overlapping"]) == 1
    other = client.post(
        url,
        {
            **base,
            "equipment": monitored.other_equipment.pk,
            "start_at": at(2).isoformat(),
            "end_at": at(3).isoformat(),
        },
        format="json",
    )
    assert other.status_code == 400 and "scope" in other.json()["message"]
    created = client.post(
        url, {**base, "start_at": at(2).isoformat(), "end_at": at(3).isoformat()}, format="json"
    )
    assert created.status_code == 201, created.content
    assert (created.json()["source"], created.json()["reason_code"]) == ("operator", "BREAKDOWN")
    assert api_for("quality").post(url, {**base}, format="json").status_code == 403


def test_history_filters_and_scope(api_for, monitored):
    oee_snapshots_maintain()
    client = api_for("supervisor")  # site 1 only
    shifts = client.get(
        f"{API}/oee/snapshots/",
        {"scope": "line", "period": "shift", "scope_id": monitored.line.pk},
    ).json()
    # Yesterday's (closed, no data) and today's open shift.
    assert [(row["label"], row["is_closed"]) for row in shifts["results"]] == [
        ("Early 2026-06-16", False),
        ("Early 2026-06-15", True),
    ]
    shifts = client.get(
        f"{API}/oee/snapshots/",
        {
            "scope": "line",
            "period": "shift",
            "scope_id": monitored.line.pk,
            "start": "2026-06-16T00:00:00Z",
        },
    ).json()
    assert shifts["count"] == 1
    assert (shifts["results"][0]["is_closed"], shifts["results"][0]["label"]) == (
        False,
        "Early 2026-06-16",
    )
    hours = client.get(
        f"{API}/oee/snapshots/",
        {
            "scope": "equipment",
            "period": "hour",
            "start": at(4).isoformat().replace("+00:00", "Z"),
            "end": at(8).isoformat().replace("+00:00", "Z"),
        },
    ).json()
    assert [row["period_start_at"] for row in hours["results"]] == [
        "2026-06-16T07:00:00Z",
        "2026-06-16T06:00:00Z",
        "2026-06-16T05:00:00Z",
        "2026-06-16T04:00:00Z",
    ]
    assert {row["scope_id"] for row in hours["results"]} == {monitored.equipment.pk}
    sites = client.get(f"{API}/oee/snapshots/", {"scope": "site"}).json()["results"]
    assert {row["scope_id"] for row in sites} == {monitored.site.pk}
    assert client.get(f"{API}/oee/snapshots/", {"scope": "site"}).status_code == 200
    everything = api_for("planner").get(f"{API}/oee/snapshots/", {"scope": "site"}).json()
    assert {row["scope_id"] for row in everything["results"]} == {
        monitored.site.pk,
        monitored.other_site.pk,
    }


def test_losses_and_timeline_content(api_for, monitored):
    client = api_for("supervisor")
    pareto = client.get(
        f"{API}/oee/losses/pareto/", {"scope": "line", "scope_id": monitored.line.pk}
    ).json()
    assert [(row["key"], row["duration_s"]) for row in pareto["rows"]] == [("unclassified", 600.0)]
    waterfall = client.get(
        f"{API}/oee/losses/six-big-losses/", {"scope": "line", "scope_id": monitored.line.pk}
    ).json()
    steps = {step["key"]: step["duration_s"] for step in waterfall["steps"]}
    assert (waterfall["start_s"], steps["breakdowns_s"], waterfall["needs_reason_s"]) == (
        18_000.0,
        600.0,
        600.0,
    )
    timeline = client.get(
        f"{API}/oee/equipment/{monitored.equipment.pk}/timeline/",
        {"start": "2026-06-16T05:00:00Z", "end": "2026-06-16T07:00:00Z"},
    ).json()
    assert [(row["start_at"], row["end_at"], row["state"]) for row in timeline["intervals"]] == [
        ("2026-06-16T05:00:00Z", "2026-06-16T06:00:00Z", "producing"),
        ("2026-06-16T06:00:00Z", "2026-06-16T06:10:00Z", "down"),
        ("2026-06-16T06:10:00Z", "2026-06-16T07:00:00Z", "producing"),
    ]
    assert timeline["shifts"][0]["name"] == "Early"
    bad = client.get(
        f"{API}/oee/equipment/{monitored.equipment.pk}/timeline/",
        {"start": "2026-06-16T07:00:00Z", "end": "2026-06-16T05:00:00Z"},
    )
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid")
    missing = client.get(f"{API}/oee/losses/pareto/", {"scope": "line"})
    assert missing.status_code == 400 and "scope_id" in missing.json()["detail"]


def test_work_order_oee_endpoint(api_for, monitored, make_work_order):
    work_order = make_work_order(state="in_progress")
    operation = work_order.operations.first()
    m.Operation.objects.filter(pk=operation.pk).update(
        state="in_progress", assigned_equipment=monitored.equipment, actual_start_at=at(5)
    )
    body = api_for("supervisor").get(f"{API}/oee/work-orders/{work_order.pk}/").json()
    assert (body["work_order_number"], body["is_open"]) == (work_order.number, True)
    assert body["elements"]["planned_operation_time_s"] == 4 * 3600.0
    other = make_work_order(line=monitored.other_line)
    assert api_for("operator").get(f"{API}/oee/work-orders/{other.pk}/").status_code == 404


def test_alert_list_filters(api_for, monitored):
    client = api_for("supervisor")
    body = client.get(f"{API}/alerts/", {"state": "active"}).json()
    assert [row["equipment"] for row in body["results"]] == [monitored.equipment.pk]
    assert body["results"][0]["rule_name"] == "Temperature above 80 °C"
    assert client.get(f"{API}/alerts/", {"state": "cleared"}).json()["count"] == 0
    rules = client.get(f"{API}/alert-rules/").json()
    assert rules["count"] == 3


# --- query counts --------------------------------------------------------------------------------

LIST_URLS = [
    f"{API}/oee/lines/",
    f"{API}/oee/equipment/",
    f"{API}/oee/areas/",
    f"{API}/oee/snapshots/",
    f"{API}/state-intervals/",
    f"{API}/state-intervals/needs-reason/",
    f"{API}/alerts/",
]


def _grow(plant, count: int) -> None:
    area = plant.line.area
    for _ in range(count):
        number = m.Line.objects.count() + 1
        line = m.Line.objects.create(area=area, code=f"G{number}", name=f"grown {number}")
        cell = m.Cell.objects.create(line=line, code="c", name="c")
        machine = m.Equipment.objects.create(cell=cell, code=f"G{number}_M1", name="grown")
        _run(machine)
        alerts_evaluate_signal_values(values=[(machine.pk, "temperature", 95.0, at(8))])
    oee_snapshots_maintain()


@pytest.mark.parametrize("url", LIST_URLS)
def test_list_endpoints_do_not_grow_queries(api_for, monitored, url, django_assert_max_num_queries):
    client = api_for("supervisor")
    _grow(monitored, 2)
    live_oee.clear()
    assert client.get(url).status_code == 200  # warms the user's permission and scope caches
    live_oee.clear()  # the live OEE is rebuilt from the database in both runs
    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    _grow(monitored, 4)
    live_oee.clear()
    with CaptureQueriesContext(connection) as large:
        response = client.get(url)
    assert response.status_code == 200
    assert response.json()["count"] > 0
    assert len(large.captured_queries) == len(small.captured_queries)
    with django_assert_max_num_queries(12):
        live_oee.clear()
        client.get(url)
