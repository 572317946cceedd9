"""Scope leaks for a line-scoped user: a supervisor whose PlantScope lists the line L1 only,
while a second line L3 of the same site (and the same area) belongs to somebody else.

Nothing of L3 may reach that user: not through a schedule run's operations, the Gantt, the
dashboard's alerts and stops panels, the websocket snapshot, the OEE of the site or the area
(refused, 404: it would include L3), nor any list endpoint of the API (nor another site's
stores). tests/test_authorization_routes.py covers the detail, action and page routes.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from autonomy.models import ProposedAction
from integration.choices import EventType
from integration.models import WebhookDelivery
from integration.services.events import emit
from integration.services.subscriptions import subscription_create
from inventory.models import Item, Location, Stock
from live.payloads import live_snapshot
from live.selectors.targets import LiveTarget
from maintenance.models import HealthSnapshot, MaintenanceWorkOrder, SensorSuspicion
from planning.models import CustomerOrder, LineCostRates, ScheduledOperation, ScheduleRun
from planning.services.schedule_runs import schedule_run_execute, schedule_run_request
from production import models as m
from production import services as production_services
from production.services.operator_badges import operator_badge_set_pin
from quality.models import (
    Capa,
    Characteristic,
    InspectionPlan,
    InspectionResult,
    LotInspection,
    Measurement,
    NonConformance,
    QualityHold,
    VisionResult,
)
from tests.mfa import login_verified
from tests.quality.spc_objects import spc_chart_with_violation
from tests.scope_plant import Foreign, foreign_build
from traceability.models import Lot, SerialUnit
from traceability.services.api_tokens import api_token_create
from traceability.services.audit import audit_event_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def foreign(plant, make_user, make_work_order) -> Foreign:
    return foreign_build(plant, make_user, make_work_order)


@pytest.fixture
def planned(foreign, plant) -> Foreign:
    """A finished plan of the site with operations on L1 and on L3."""
    for work_order in (foreign.own_work_order, foreign.foreign_work_order):
        production_services.work_order_release(work_order_id=work_order.pk, actor=None)
    run = schedule_run_request(site_id=plant.site.pk, trigger="on_demand")
    schedule_run_execute(run_id=run.pk)
    foreign.run = ScheduleRun.objects.get(pk=run.pk)
    equipment_ids = set(
        ScheduledOperation.objects.filter(run=run).values_list("equipment_id", flat=True)
    )
    assert equipment_ids == {foreign.equipment.pk, foreign.foreign_equipment.pk}
    return foreign


# --- 1. schedule runs and the Gantt ----------------------------------------------------------


def test_schedule_run_operations_show_only_the_lines_in_scope(planned):
    response = planned.client.get(f"/api/production/schedule-runs/{planned.run.pk}/operations/")

    assert response.status_code == 200
    body = response.json()
    own = ScheduledOperation.objects.filter(run=planned.run, equipment=planned.equipment)
    assert body["count"] == own.count() == 2
    assert sorted(row["id"] for row in body["results"]) == sorted(own.values_list("pk", flat=True))
    assert {row["equipment"] for row in body["results"]} == {planned.equipment.pk}


def test_schedule_run_detail_shows_only_the_machines_in_scope(planned):
    response = planned.client.get(f"/api/production/schedule-runs/{planned.run.pk}/")

    assert response.status_code == 200
    body = response.json()
    machines = [item["equipment_id"] for item in body["inputs"]["machines"]]
    assert machines == [planned.equipment.pk]
    assert [item["equipment_id"] for item in body["inputs"]["running"]] == []
    named = {
        item.get("work_order")
        for key in ("changes", "unschedulable", "warnings")
        for item in body[key]
    }
    assert planned.own_work_order.number in named
    assert planned.foreign_work_order.number not in named
    assert {change["to_equipment_id"] for change in body["changes"]} == {planned.equipment.pk}


def test_gantt_json_and_svg_show_only_the_machines_in_scope(planned, plant):
    run_gantt = planned.client.get(f"/api/production/schedule-runs/{planned.run.pk}/gantt/")
    site_gantt = planned.client.get(f"/api/production/schedule/gantt/?site={plant.site.pk}")
    svg = planned.client.get(f"/api/production/schedule/gantt.svg?site={plant.site.pk}")
    one_foreign = planned.client.get(
        f"/api/production/schedule/gantt/?site={plant.site.pk}"
        f"&equipment={planned.foreign_equipment.pk}"
    )

    for response in (run_gantt, site_gantt):
        assert response.status_code == 200
        machines = response.json()["machines"]
        assert [row["equipment_id"] for row in machines] == [planned.equipment.pk]
        assert len(machines[0]["bars"]) == 2
    assert svg.status_code == 200
    assert "L1_M1" in svg.content.decode()
    assert "L3_M1" not in svg.content.decode()
    assert planned.foreign_work_order.number not in svg.content.decode()
    assert one_foreign.status_code == 404
    assert one_foreign.json()["code"] == "not_found"


def test_dashboard_schedule_panel_shows_only_the_lines_in_scope(planned, plant):
    panel = _page_client(planned.user).get(f"/live/panels/gantt/?site={plant.site.pk}")

    assert panel.status_code == 200
    gantt = panel.context["gantt"]
    assert [row["equipment_id"] for row in gantt["rows"]] == [planned.equipment.pk]
    assert {change["work_order"] for change in gantt["changes"]} == {planned.own_work_order.number}
    assert planned.foreign_work_order.number not in panel.content.decode()
    assert "L3_M1" not in panel.content.decode()


def test_dashboard_dispatch_panel_shows_only_decisions_for_the_lines_in_scope(foreign, plant):
    from planning.models import DispatchPolicy

    DispatchPolicy.objects.create(area=plant.line.area)
    now = timezone.now()
    for number, line in (("CO-L1", foreign.line), ("CO-L3", foreign.foreign_line)):
        CustomerOrder.objects.create(
            number=number,
            site=plant.site,
            area=plant.line.area,
            line=line,
            state="dispatched",
            dispatched_at=now,
        )

    panel = _page_client(foreign.user).get(f"/live/panels/dispatch/?site={plant.site.pk}")

    assert panel.status_code == 200
    (area,) = panel.context["dispatch_areas"]
    assert [line["id"] for line in area["lines"]] == [foreign.line.pk]
    assert [decision["number"] for decision in area["decisions"]] == ["CO-L1"]
    assert "CO-L3" not in panel.content.decode()


# --- 2. the dashboard's alerts and stops, the websocket snapshot -------------------------------


def _page_client(user) -> Client:
    return login_verified(Client(), user)


def test_dashboard_alerts_panel_shows_only_the_lines_in_scope(foreign, plant):
    pages = _page_client(foreign.user)

    panel = pages.get(f"/live/panels/alerts/?site={plant.site.pk}")
    foreign_detail = foreign.client.get(f"/api/production/alerts/{foreign.foreign_alert.pk}/")

    assert panel.status_code == 200
    assert [alert["id"] for alert in panel.context["alerts"]] == [foreign.own_alert.pk]
    assert "L1 hot" in panel.content.decode()
    assert "L3 hot" not in panel.content.decode()
    assert foreign_detail.status_code == 404


def test_dashboard_stops_panel_shows_only_the_lines_in_scope(foreign, plant):
    pages = _page_client(foreign.user)

    panel = pages.get(f"/live/panels/stops/?site={plant.site.pk}")

    assert panel.status_code == 200
    assert [stop["equipment_id"] for stop in panel.context["stops"]] == [foreign.equipment.pk]
    assert "L3_M1" not in panel.content.decode()


def test_dashboard_pareto_says_it_sums_only_the_lines_in_scope(foreign, plant, make_user):
    site_supervisor = make_user("supervisor", sites=[plant.site], username="site_supervisor")

    own = _page_client(foreign.user).get(f"/live/panels/pareto/?site={plant.site.pk}")
    site_wide = _page_client(site_supervisor).get(f"/live/panels/pareto/?site={plant.site.pk}")

    assert own.status_code == site_wide.status_code == 200
    assert own.context["pareto"]["is_site_wide"] is False
    assert "your lines only" in own.content.decode()
    assert site_wide.context["pareto"]["is_site_wide"] is True
    assert "your lines only" not in site_wide.content.decode()


def test_site_snapshot_is_built_through_the_scope(foreign, plant):
    """Even handed a site target (the consumer refuses it to a line-scoped user), the
    snapshot holds only the lines in scope and no site OEE."""
    target = LiveTarget("site", plant.site.pk, plant.site.pk, None)
    ProposedAction.objects.create(
        site=plant.site,
        kind="resequence",
        risk="high",
        status="awaiting_approval",
        target="L3",
        payload={"equipment_id": foreign.foreign_equipment.pk, "operations": []},
        inverse={},
        explanation="test",
    )

    snapshot = live_snapshot(target=target, user=foreign.user)

    assert snapshot["lines"] == [foreign.line.pk]
    assert snapshot["oee"] is None
    assert snapshot["actions"] == []


# --- 3. site and area OEE ----------------------------------------------------------------------


def test_site_and_area_oee_are_refused_to_a_line_scoped_user(foreign, plant):
    area = plant.line.area
    client = foreign.client

    sites = client.get("/api/production/oee/sites/")
    areas = client.get("/api/production/oee/areas/")
    site = client.get(f"/api/production/oee/sites/{plant.site.pk}/")
    area_detail = client.get(f"/api/production/oee/areas/{area.pk}/")
    window = client.get(f"/api/production/oee/losses/window/?scope=site&scope_id={plant.site.pk}")
    lines = client.get("/api/production/oee/lines/")

    assert sites.status_code == 200
    assert sites.json()["count"] == 0
    assert areas.status_code == 200
    assert areas.json()["count"] == 0
    for refused in (site, area_detail, window):
        assert refused.status_code == 404
        assert set(refused.json()) == {"code", "message", "detail"}
        assert refused.json()["code"] == "not_found"
    assert lines.status_code == 200
    assert [row["scope_id"] for row in lines.json()["results"]] == [foreign.line.pk]


def test_site_oee_stays_visible_to_a_site_scoped_supervisor(foreign, plant, api_for):
    client = api_for("supervisor", sites=[plant.site])

    site = client.get(f"/api/production/oee/sites/{plant.site.pk}/")
    area = client.get(f"/api/production/oee/areas/{plant.line.area.pk}/")

    assert site.status_code == 200
    assert site.json()["scope_id"] == plant.site.pk
    assert area.status_code == 200


# --- 4. every list endpoint of the API ---------------------------------------------------------


def _api_list_route_names() -> set[str]:
    """The list routes of every /api/ viewset that has a detail route (``<pk>``); a viewset
    with a detail route only (the OEE of one work order) has no list to call."""

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern), pattern

    detail_names, list_names = set(), set()
    for route, pattern in walk(get_resolver().url_patterns):
        if not route.startswith("api/") or not pattern.name:
            continue
        if pattern.name.endswith("-detail") and ("<pk>" in route or "(?P<pk>" in route):
            detail_names.add(pattern.name.removesuffix("-detail"))
        elif pattern.name.endswith("-list"):
            list_names.add(pattern.name)
    return {f"{name}-list" for name in detail_names} & list_names


def _foreign_objects(planned, plant, make_user) -> dict[str, set[int]]:
    """One object of each kind on L3 (or on the site only), by the list route that must not
    show it."""
    now = timezone.now()
    foreign = planned
    snapshot = m.OeeSnapshot.objects.create(
        scope="line",
        scope_id=foreign.foreign_line.pk,
        period="hour",
        period_start_at=now - timedelta(hours=1),
        period_end_at=now,
        computed_at=now,
    )
    customer_order = CustomerOrder.objects.create(
        number="CO-L3", site=plant.site, area=plant.line.area, line=foreign.foreign_line
    )
    rates = LineCostRates.objects.create(
        line=foreign.foreign_line, machine_hour_rate=0.5, energy_price_per_kwh=0.4
    )
    action = ProposedAction.objects.create(
        site=plant.site,
        kind="resequence",
        risk="high",
        status="awaiting_approval",
        target="L3",
        payload={"equipment_id": foreign.foreign_equipment.pk, "operations": []},
        inverse={},
        explanation="test",
    )
    maintenance = MaintenanceWorkOrder.objects.create(
        number="MWO-L3",
        equipment=foreign.foreign_equipment,
        kind="predictive",
        state="requested",
        title="Bearing of L3_M1",
        requested_at=now,
        window_start_at=now,
        window_end_at=now + timedelta(hours=4),
        estimated_duration_h=1.0,
    )
    health = HealthSnapshot.objects.create(
        equipment=foreign.foreign_equipment, ts=now, state="assessed", alpha=0.5
    )
    suspicion = SensorSuspicion.objects.create(
        equipment=foreign.foreign_equipment,
        signal=m.Signal.objects.create(equipment=foreign.foreign_equipment, name="temperature_2"),
        verdict="drifting",
        detected_at=now,
        marked_from_at=now,
    )
    measurement = Measurement.objects.create(
        characteristic=Characteristic.objects.create(code="D1", name="Diameter"),
        value=1.0,
        measured_at=now,
        equipment=foreign.foreign_equipment,
    )
    inspection = InspectionResult.objects.create(
        inspected_at=now, is_pass=True, equipment=foreign.foreign_equipment
    )
    chart, violation = spc_chart_with_violation(foreign.foreign_equipment, foreign.foreign_line)
    store = Location.objects.create(site=plant.other_site, code="store", name="Store s2")
    lot = Lot.objects.create(
        item=Item.objects.create(code="BRG", name="Bearing"),
        code="LOT-S2",
        quantity=1,
        origin="received",
    )
    stock = Stock.objects.create(lot=lot, location=store, quantity=1)
    made_on_l3 = Lot.objects.create(
        item=lot.item,
        code="LOT-L3",
        quantity=1,
        origin="produced",
        produced_by=foreign.foreign_work_order.operations.first(),
    )
    serial = SerialUnit.objects.create(lot=made_on_l3, serial="SN-L3")
    lot_inspection = LotInspection.objects.create(
        plan=InspectionPlan.objects.create(
            code="IP", name="Lots", product=plant.product, sampling_method="iso_2859", aql=2.5
        ),
        lot=made_on_l3,
        lot_size=1000,
        code_letter="J",
        sample_size=80,
        acceptance_number=5,
        rejection_number=6,
        nonconforming_count=0,
        is_accepted=True,
        inspected_at=now,
    )
    hold = QualityHold.objects.create(lot=made_on_l3, source="inspection", reason="L3 lot")
    ncr = NonConformance.objects.create(
        number="NCR-L3", title="L3", site=plant.site, line=foreign.foreign_line, quantity=1
    )
    capa = Capa.objects.create(non_conformance=ncr, method="five_whys")
    vision = VisionResult.objects.create(
        equipment=foreign.foreign_equipment, inspected_at=now, is_pass=True, hold_confidence=0.9
    )
    others_event = audit_event_record(
        actor=make_user("quality", username="quality_elsewhere"),
        obj=foreign.foreign_work_order,
        action="noted",
    )
    # Webhook permissions for the line-scoped supervisor: still no subscription of the site
    # (it would carry L3's events too) and none of its deliveries.
    foreign.user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="integration")
    )
    subscription = subscription_create(
        name="ERP s1",
        target_url="https://erp.example/hooks",
        event_types=[EventType.WORK_ORDER_RELEASED],
        site_id=plant.site.pk,
    )
    emit(EventType.WORK_ORDER_RELEASED, {"number": "WO-L3"}, site=plant.site.pk)
    return {
        "webhooksubscription-list": {subscription.pk},
        "webhookdelivery-list": set(
            WebhookDelivery.objects.filter(subscription=subscription).values_list("pk", flat=True)
        ),
        "workorder-list": {foreign.foreign_work_order.pk},
        "operation-list": set(foreign.foreign_work_order.operations.values_list("pk", flat=True)),
        "line-list": {foreign.foreign_line.pk},
        "cell-list": {foreign.foreign_equipment.cell_id},
        "equipment-list": {foreign.foreign_equipment.pk},
        "alert-list": {foreign.foreign_alert.pk},
        "state-interval-list": {foreign.foreign_stop.pk},
        "oee-snapshot-list": {snapshot.pk},
        "oee-line-list": {foreign.foreign_line.pk},
        "oee-equipment-list": {foreign.foreign_equipment.pk},
        "oee-area-list": {plant.line.area.pk},
        "oee-site-list": {plant.site.pk},
        "customerorder-list": {customer_order.pk},
        "linecostrates-list": {rates.pk},
        "proposedaction-list": {action.pk},
        "maintenanceworkorder-list": {maintenance.pk},
        "healthsnapshot-list": {health.pk},
        "sensorsuspicion-list": {suspicion.pk},
        "measurement-list": {measurement.pk},
        "inspectionresult-list": {inspection.pk},
        "controlchart-list": {chart.pk},
        "ruleviolation-list": {violation.pk},
        "location-list": {store.pk},
        "stock-list": {stock.pk},
        "lot-list": {lot.pk, made_on_l3.pk},
        "serialunit-list": {serial.pk},
        "lotinspection-list": {lot_inspection.pk},
        "qualityhold-list": {hold.pk},
        "visionresult-list": {vision.pk},
        "nonconformance-list": {ncr.pk},
        "capa-list": {capa.pk},
        "auditevent-list": {others_event.pk},
        "schedulerun-operations": set(
            ScheduledOperation.objects.filter(
                run=foreign.run, equipment=foreign.foreign_equipment
            ).values_list("pk", flat=True)
        ),
    }


def _rows(body) -> list[dict]:
    rows = body["results"] if isinstance(body, dict) and "results" in body else body
    return rows if isinstance(rows, list) else []


def _row_id(row: dict) -> int | None:
    return row.get("id", row.get("scope_id"))


def test_no_list_endpoint_shows_an_object_of_a_line_outside_the_scope(planned, plant, make_user):
    foreign_ids = _foreign_objects(planned, plant, make_user)
    names = _api_list_route_names()
    assert set(foreign_ids) - {"schedulerun-operations"} <= names
    urls = {name: reverse(name) for name in sorted(names)}
    urls["schedulerun-operations"] = reverse("schedulerun-operations", args=[planned.run.pk])
    line_fields = {"line": planned.foreign_line.pk, "equipment": planned.foreign_equipment.pk}

    leaks, answered = [], {}
    for name, url in urls.items():
        response = planned.client.get(url, {"limit": 500})
        answered[name] = response.status_code
        if response.status_code != 200:
            continue
        for row in _rows(response.json()):
            if not isinstance(row, dict):
                continue
            if _row_id(row) in foreign_ids.get(name, set()):
                leaks.append((name, _row_id(row)))
            for field, foreign_id in line_fields.items():
                if row.get(field) == foreign_id or row.get(f"{field}_id") == foreign_id:
                    leaks.append((name, field, _row_id(row)))

    assert leaks == []
    assert {name: answered[name] for name in foreign_ids} == dict.fromkeys(foreign_ids, 200)


def test_account_pages_and_station_login_stay_within_the_user_and_the_scope(foreign, make_user):
    """The pages added with API tokens and the station login: another user's token is not
    listed nor revocable, and a badge cannot open a station of a line outside the scope."""
    other = make_user("integration")
    other_token, _ = api_token_create(actor=other, owner=other, name="ERP")
    pages = _page_client(foreign.user)
    listing = pages.get("/account/tokens/")
    assert listing.status_code == 200
    assert other_token.prefix not in listing.content.decode()
    assert (
        pages.post("/account/tokens/", {"action": "revoke", "token": other_token.pk}).status_code
        == 404
    )
    operator_badge_set_pin(actor=foreign.user, user=foreign.user, badge_id="B-1", pin="2468")
    tablet = Client()
    refused = tablet.post(
        f"/hmi/station/{foreign.foreign_equipment.pk}/login/", {"badge": "B-1", "pin": "2468"}
    )
    assert refused.status_code == 401
    accepted = tablet.post(
        f"/hmi/station/{foreign.equipment.pk}/login/", {"badge": "B-1", "pin": "2468"}
    )
    assert accepted.status_code == 302
    assert (
        tablet.get(f"/api/production/work-orders/{foreign.foreign_work_order.pk}/").status_code
        == 404
    )
