"""REST API of scheduling, dispatch and guardrails: authorization matrix, signed approval,
kill switch, revert, concurrent approvals, Gantt JSON and SVG, clear 400s, query counts, and
dispatch on the demo plant's two lines."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from autonomy.models import ActionPolicy, ProposedAction
from planning.models import CustomerOrder, DispatchPolicy, LinePartParameters, ScheduleRun
from planning.services.dispatch import customer_order_create
from planning.services.schedule_runs import schedule_run_execute, schedule_run_request
from production.models import Area, Equipment, Line, Product, Site

pytestmark = pytest.mark.django_db

ROLES = ["operator", "supervisor", "maintenance", "quality", "planner", "integration", "admin"]


@pytest.fixture(autouse=True)
def policy(db):
    for kind, risk in [("reroute", "low"), ("resequence", "low"), ("dispatch_override", "high")]:
        ActionPolicy.objects.update_or_create(kind=kind, defaults={"risk": risk})


@pytest.fixture
def area(plant):
    """A dispatch area on site 1 whose line L1 makes P1 (capacity 40)."""
    assembly = Area.objects.create(site=plant.site, code="assembly", name="Assembly")
    DispatchPolicy.objects.create(area=assembly)
    line = Line.objects.create(area=assembly, code="A1", name="A1", capacity_units=40)
    LinePartParameters.objects.create(
        line=line, product=plant.product, time_per_part_s=100.0, power_w=500.0
    )
    return assembly


def _client(make_user, role, **kwargs):
    client = APIClient()
    client.force_authenticate(make_user(role, **kwargs))
    return client


def _reroute_action(plant, *, status="awaiting_approval"):
    """A pending reroute of a planned operation (its handler needs a current plan)."""
    from production import services as production_services

    work_order = production_services.work_order_create(
        number=f"WO-{ProposedAction.objects.count() + 1}",
        product=plant.product,
        quantity=2,
        due_at=timezone.now() + timedelta(hours=8),
        site=plant.site,
        line=plant.line,
    )
    production_services.work_order_release(work_order_id=work_order.pk, actor=None)
    run = schedule_run_request(site_id=plant.site.pk, trigger="on_demand")
    schedule_run_execute(run_id=run.pk)
    operation = work_order.operations.order_by("sequence").first()
    return ProposedAction.objects.create(
        site=plant.site,
        kind="resequence",
        risk="high",
        status=status,
        target=f"{operation}",
        payload={
            "equipment_id": plant.equipment.pk,
            "operations": [{"operation_id": operation.pk, "operation": str(operation)}],
        },
        inverse={"equipment_id": plant.equipment.pk},
        explanation="test",
    )


# --- authorization matrix -------------------------------------------------------------------


COMMAND_ROLES = {
    "run": {"supervisor", "planner", "admin"},
    "order": {"planner", "integration", "admin"},
    "dispatch": {"supervisor", "planner", "admin"},
    "approve": {"supervisor", "admin"},
    "kill_switch": {"supervisor", "admin"},
    "station": {"supervisor", "planner", "integration", "admin"},
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("command", sorted(COMMAND_ROLES))
def test_authorization_matrix(plant, area, make_user, role, command):
    client = _client(make_user, role)
    if command == "run":
        response = client.post(
            "/api/production/schedule-runs/", {"site": plant.site.pk}, format="json"
        )
        allowed = 202
    elif command == "order":
        response = client.post(
            "/api/production/customer-orders/",
            {"number": "CO-1", "area": area.pk, "parts": {"P1": 2}},
            format="json",
        )
        allowed = 201
    elif command == "dispatch":
        order = customer_order_create(
            number="CO-1", area_id=area.pk, parts={"P1": 2}, dispatch=False
        )
        response = client.post(f"/api/production/customer-orders/{order.pk}/dispatch/")
        allowed = 200
    elif command == "approve":
        action = _reroute_action(plant)
        response = client.post(
            f"/api/production/proposed-actions/{action.pk}/approve/",
            {"password": "secret-pass-1", "meaning": "approval"},
            format="json",
        )
        allowed = 200
    elif command == "kill_switch":
        response = client.post(
            "/api/production/autonomy/kill-switch/", {"site": plant.site.pk}, format="json"
        )
        allowed = 200
    else:
        from production.models import Cell

        order = customer_order_create(number="CO-1", area_id=area.pk, parts={"P1": 2})
        cell = Cell.objects.create(line=order.line, code="storage", name="Storage")
        station = Equipment.objects.create(cell=cell, code="A1_storage", name="Storage")
        response = client.post(
            "/api/production/line-order-events/",
            {"equipment": station.uns_path, "order": order.number, "station": "order_start"},
            format="json",
        )
        allowed = 200
    expected = allowed if role in COMMAND_ROLES[command] else 403
    assert response.status_code == expected, response.content
    if expected == 403:
        assert response.json()["code"] == "permission_denied"
    elif command == "station":
        assert response.json() == {"accepted": 1, "rejected": []}


# --- approvals, kill switch, revert -------------------------------------------------------------


def test_approve_needs_the_right_password_and_stores_the_signature(plant, make_user):
    supervisor = make_user("supervisor")
    supervisor.first_name, supervisor.last_name = "Sam", "Super"
    supervisor.save()
    client = APIClient()
    client.force_authenticate(supervisor)
    action = _reroute_action(plant)
    url = f"/api/production/proposed-actions/{action.pk}/approve/"
    refused = client.post(url, {"password": "wrong"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "signature_invalid"
    assert ProposedAction.objects.get(pk=action.pk).status == "awaiting_approval"
    missing = client.post(url, {}, format="json")
    assert missing.status_code == 400 and "password" in missing.json()["detail"]
    approved = client.post(
        url,
        {"password": "secret-pass-1", "meaning": "review", "reason": "Checked the plan"},
        format="json",
    )
    assert approved.status_code == 200
    body = approved.json()
    assert (body["status"], body["signature_name"], body["signature_meaning"]) == (
        "applied",
        "Sam Super",
        "Review",
    )
    signature = body["signature"]
    assert (
        signature["printed_name"],
        signature["signer"],
        signature["meaning"],
        signature["reason"],
    ) == ("Sam Super", supervisor.username, "review", "Checked the plan")
    assert signature["signed_at"] == body["decided_at"] and signature["signed_at"].endswith("Z")
    assert body["decided_by"] == supervisor.username and "password" not in body
    again = client.post(url, {"password": "secret-pass-1"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "invalid_transition"
    reverted = client.post(
        f"/api/production/proposed-actions/{action.pk}/revert/", {"reason": "no"}, format="json"
    )
    assert reverted.status_code == 200 and reverted.json()["status"] == "reverted"


def test_reject_and_the_scope_of_another_site(plant, make_user):
    action = _reroute_action(plant)
    outsider = _client(make_user, "supervisor", username="sup_other", sites=[plant.other_site])
    hidden = outsider.post(f"/api/production/proposed-actions/{action.pk}/reject/")
    assert hidden.status_code == 404
    assert outsider.get("/api/production/proposed-actions/").json()["count"] == 0
    client = _client(make_user, "supervisor")
    rejected = client.post(
        f"/api/production/proposed-actions/{action.pk}/reject/", {"reason": "no"}, format="json"
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"


def test_kill_switch_and_mode_via_the_api(plant, make_user):
    client = _client(make_user, "supervisor")
    listed = client.get("/api/production/autonomy/").json()
    assert [(site["code"], site["autonomy_mode"]) for site in listed] == [("s1", "supervised")]
    killed = client.post(
        "/api/production/autonomy/kill-switch/",
        {"site": plant.site.pk, "reason": "odd moves"},
        format="json",
    )
    assert killed.status_code == 200 and killed.json()["autonomy_mode"] == "off"
    assert Site.objects.get(pk=plant.site.pk).autonomy_mode == "off"
    bad = client.post(
        "/api/production/autonomy/set/", {"site": plant.site.pk, "mode": "turbo"}, format="json"
    )
    # a field error: the schema lists the modes (an enum)
    assert bad.status_code == 400 and bad.json()["detail"] == {
        "mode": ['"turbo" is not a valid choice.']
    }
    full = client.post(
        "/api/production/autonomy/set/", {"site": plant.site.pk, "mode": "full"}, format="json"
    )
    assert full.status_code == 200 and full.json()["autonomy_mode"] == "full"
    other = client.post(
        "/api/production/autonomy/kill-switch/", {"site": plant.other_site.pk}, format="json"
    )
    assert other.status_code == 404
    assert Site.objects.get(pk=plant.other_site.pk).autonomy_mode == "supervised"


@pytest.fixture
def roles(transactional_db):
    """Role groups (an earlier transactional test's flush removes the migration's data)."""
    from django.contrib.auth.models import Group, Permission

    from mes_site.roles import roles_sync

    roles_sync(Group, Permission)


@pytest.mark.django_db(transaction=True)
def test_two_supervisors_approving_at_once_through_the_api_apply_once(roles, plant, make_user):
    from traceability.models import AuditEvent

    first = make_user("supervisor", username="sup_a")
    second = make_user("supervisor", username="sup_b")
    action = _reroute_action(plant)
    barrier = threading.Barrier(2)
    codes = []

    def approve(user):
        client = APIClient()
        client.force_authenticate(user)
        try:
            barrier.wait()
            response = client.post(
                f"/api/production/proposed-actions/{action.pk}/approve/",
                {"password": "secret-pass-1"},
                format="json",
            )
            codes.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(user,)) for user in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [200, 409]
    assert ProposedAction.objects.get(pk=action.pk).status == "applied"
    assert AuditEvent.objects.filter(action="resequence").count() == 1


# --- schedule runs and the Gantt ---------------------------------------------------------------


def test_schedule_run_request_plan_and_gantt(plant, make_work_order, make_user):
    for _ in range(2):
        make_work_order(state="released")
    client = _client(make_user, "supervisor")
    created = client.post(
        "/api/production/schedule-runs/",
        {"site": plant.site.pk, "detail": "shift start"},
        format="json",
    )
    assert created.status_code == 202
    body = created.json()
    assert (body["status"], body["trigger"], body["request_count"]) == ("queued", "on_demand", 1)
    again = client.post("/api/production/schedule-runs/", {"site": plant.site.pk}, format="json")
    assert again.json()["id"] == body["id"] and again.json()["request_count"] == 2
    assert client.get("/api/production/schedule/gantt/", {"site": plant.site.pk}).status_code == 404
    schedule_run_execute(run_id=body["id"])
    detail = client.get(f"/api/production/schedule-runs/{body['id']}/").json()
    assert (detail["status"], detail["is_current"], detail["operation_count"]) == (
        "succeeded",
        True,
        4,
    )
    assert detail["change_count"] == 4 and len(detail["changes"]) == 4
    assert {change["kind"] for change in detail["changes"]} == {"added"}
    assert detail["timings"]["total_ms"] > 0
    operations = client.get(f"/api/production/schedule-runs/{body['id']}/operations/").json()
    assert operations["count"] == 4
    assert operations["results"][0]["equipment_code"] == "L1_M1"
    gantt = client.get("/api/production/schedule/gantt/", {"site": plant.site.pk}).json()
    assert gantt["run"] == body["id"]
    assert [machine["code"] for machine in gantt["machines"]] == ["L1_M1"]
    bars = gantt["machines"][0]["bars"]
    assert len(bars) == 4 and {bar["work_order"] for bar in bars} == {"WO-0001", "WO-0002"}
    assert all(bar["pending_action"] is None and not bar["is_high_stress"] for bar in bars)
    by_run = client.get(f"/api/production/schedule-runs/{body['id']}/gantt/").json()
    assert by_run["machines"] == gantt["machines"]
    svg = client.get("/api/production/schedule/gantt.svg", {"site": plant.site.pk})
    assert svg.status_code == 200 and svg["Content-Type"].startswith("image/svg+xml")
    text = svg.content.decode()
    assert text.startswith("<svg") and "L1_M1" in text and text.count('<rect class="bar') == 4
    # Colours are presentation attributes: the CSP (style-src 'self') allows no <style> block.
    assert "<style" not in text and text.count('fill="#3b82f6"') == 4
    missing = client.get("/api/production/schedule/gantt.svg", {"site": plant.other_site.pk})
    assert missing.status_code == 404 and b"outside your plant scope" in missing.content
    no_site = client.get("/api/production/schedule/gantt/")
    assert no_site.status_code == 400 and "?site=" in no_site.json()["message"]


def test_unschedulable_work_is_visible_in_the_api(plant, make_user):
    from production import services as production_services
    from production.models import Capability, OperationTemplate, Routing

    product = Product.objects.create(code="GR", name="Ground part")
    routing = Routing.objects.create(product=product, version="1")
    OperationTemplate.objects.create(
        routing=routing,
        sequence=10,
        name="Grind",
        capability=Capability.objects.create(code="grinding", name="Grinding"),
        planned_run_time_per_unit_s=30.0,
    )
    work_order = production_services.work_order_create(
        number="WO-GR",
        product=product,
        quantity=3,
        due_at=timezone.now() - timedelta(hours=1),
        site=plant.site,
        line=plant.line,
    )
    production_services.work_order_release(work_order_id=work_order.pk, actor=None)
    run = schedule_run_request(site_id=plant.site.pk, trigger="on_demand")
    schedule_run_execute(run_id=run.pk)
    detail = _client(make_user, "planner").get(f"/api/production/schedule-runs/{run.pk}/").json()
    assert detail["unschedulable"] == [
        {
            "work_order": "WO-GR",
            "operation": "WO-GR/10",
            "operation_id": work_order.operations.get().pk,
            "reason": "no_eligible_machine",
            "message": "WO-GR/10: no machine on line L1 has capability 'grinding'",
        }
    ]
    assert [warning["kind"] for warning in detail["warnings"]] == ["past_due"]
    assert detail["unschedulable_count"] == 1


# --- customer orders ----------------------------------------------------------------------------


def test_customer_order_errors_are_400_with_a_clear_message(plant, area, make_user):
    client = _client(make_user, "integration")
    url = "/api/production/customer-orders/"
    unknown = client.post(
        url, {"number": "CO-1", "area": area.pk, "parts": {"XX": 1}}, format="json"
    )
    assert unknown.status_code == 400
    assert unknown.json()["code"] == "unknown_part_type"
    assert unknown.json()["message"].startswith("Unknown part type(s) XX")
    big = client.post(url, {"number": "CO-1", "area": area.pk, "parts": {"P1": 41}}, format="json")
    assert big.status_code == 400 and big.json()["code"] == "order_too_large"
    assert "41 units exceed the largest line capacity (40 units)" in big.json()["message"]
    zero = client.post(url, {"number": "CO-1", "area": area.pk, "parts": {"P1": 0}}, format="json")
    assert zero.status_code == 400 and zero.json()["code"] == "invalid_quantity"
    shape = client.post(url, {"number": "CO-1", "area": area.pk, "parts": [1]}, format="json")
    assert shape.status_code == 400 and "parts" in shape.json()["detail"]
    gone = client.post(url, {"number": "CO-1", "area": 999999, "parts": {"P1": 1}}, format="json")
    assert gone.status_code == 404
    assert not CustomerOrder.objects.exists()
    created = client.post(
        url, {"number": "CO-1", "area": area.pk, "parts": {"P1": 3}}, format="json"
    )
    assert created.status_code == 201
    body = created.json()
    assert (body["state"], body["line_code"], body["quantity_units"]) == ("dispatched", "A1", 3)
    assert body["parts"] == [{"product": plant.product.pk, "product_code": "P1", "quantity": 3}]
    assert body["dispatch_explanation"]["rule"] == "only_line_with_capacity"
    duplicate = client.post(
        url, {"number": "CO-1", "area": area.pk, "parts": {"P1": 3}}, format="json"
    )
    assert duplicate.status_code == 409


def test_batch_dispatch_cancel_and_override_via_the_api(plant, area, make_user):
    planner = _client(make_user, "planner")
    for index in range(3):
        planner.post(
            "/api/production/customer-orders/",
            {"number": f"CO-{index}", "area": area.pk, "parts": {"P1": 15}, "dispatch": False},
            format="json",
        )
    batch = planner.post(
        "/api/production/customer-orders/dispatch-batch/", {"area": area.pk}, format="json"
    )
    assert batch.status_code == 200
    assert (len(batch.json()["dispatched"]), len(batch.json()["backlogged"])) == (2, 1)
    waiting = CustomerOrder.objects.get(state="backlog")
    first = CustomerOrder.objects.filter(state="dispatched").order_by("number").first()
    cancelled = planner.post(
        f"/api/production/customer-orders/{first.pk}/cancel/", {"reason": "x"}, format="json"
    )
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert CustomerOrder.objects.get(pk=waiting.pk).state == "dispatched"
    other_line = Line.objects.create(area=area, code="A2", name="A2")
    LinePartParameters.objects.create(
        line=other_line, product=plant.product, time_per_part_s=90.0, power_w=400.0
    )
    override = _client(make_user, "supervisor").post(
        f"/api/production/customer-orders/{waiting.pk}/override/",
        {"line": other_line.pk, "reason": "A1 overloaded"},
        format="json",
    )
    assert override.status_code == 200
    assert (override.json()["kind"], override.json()["status"]) == (
        "dispatch_override",
        "awaiting_approval",
    )
    foreign = planner.post(
        f"/api/production/customer-orders/{waiting.pk}/override/",
        {"line": plant.other_line.pk},
        format="json",
    )
    assert foreign.status_code == 400


def test_station_events_via_the_api(plant, area, make_user):
    order = customer_order_create(number="CO-1", area_id=area.pk, parts={"P1": 2})
    from production.models import Cell

    cell = Cell.objects.create(line=order.line, code="distribution", name="Distribution")
    station = Equipment.objects.create(cell=cell, code="A1_distribution", name="Distribution")
    client = _client(make_user, "integration")
    url = "/api/production/line-order-events/"
    accepted = client.post(
        url,
        {"equipment": station.uns_path, "order": "CO-1", "station": "order_start"},
        format="json",
    )
    assert accepted.json() == {"accepted": 1, "rejected": []}
    refused = client.post(
        url, {"equipment": station.uns_path, "order": "CO-1", "station": "storage"}, format="json"
    )
    assert refused.json()["accepted"] == 0
    assert refused.json()["rejected"][0]["code"] == "transition_not_allowed"
    unknown = client.post(
        url, {"equipment": "acme/x/y/z/w/v", "order": "CO-1", "station": "storage"}, format="json"
    )
    assert unknown.status_code == 404
    assert CustomerOrder.objects.get(pk=order.pk).line_stage == "locating_parts"


def test_two_line_dispatch_on_the_demo_plant(make_user):
    """The demo's MPS1/MPS2 with the study's parameters and the demo's money rates (MPS1
    0.50/h, MPS2 0.65/h, 0.40/kWh): an all-A order goes to the cheaper MPS2 (ratio 1.34),
    orders whose costs are within h = 1.3 go to the less loaded line."""
    from workers.demo_plant import demo_plant_load

    demo_plant_load()
    assembly = Area.objects.get(code="assembly")
    client = APIClient()
    client.force_login(get_user_model().objects.get(username="planner"))
    url = "/api/production/customer-orders/"

    def post(number, parts):
        response = client.post(
            url, {"number": number, "area": assembly.pk, "parts": parts}, format="json"
        )
        assert response.status_code == 201, response.content
        return response.json()

    a_heavy = post("DEMO-CO-1", {"PART_A": 7})
    assert (a_heavy["line_code"], a_heavy["dispatch_explanation"]["rule"]) == (
        "MPS2",
        "cheapest_line",
    )
    assert a_heavy["dispatch_explanation"]["cost_ratio"] > 1.3
    balanced = post("DEMO-CO-2", {"PART_B": 3, "PART_C": 3})
    assert (balanced["line_code"], balanced["dispatch_explanation"]["rule"]) == (
        "MPS1",
        "lowest_load",
    )
    next_one = post("DEMO-CO-3", {"PART_C": 4})
    assert next_one["line_code"] == "MPS1"  # C: ratio 1.20; loads 6 (MPS1) < 7 (MPS2)
    loads = {
        line.code: sum(
            item.quantity
            for order in CustomerOrder.objects.filter(line=line).prefetch_related("lines")
            for item in order.lines.all()
        )
        for line in Line.objects.filter(area=assembly)
    }
    assert loads == {"MPS1": 10, "MPS2": 7}
    too_big = client.post(
        url, {"number": "DEMO-CO-4", "area": assembly.pk, "parts": {"PART_A": 41}}, format="json"
    )
    assert too_big.status_code == 400 and too_big.json()["code"] == "order_too_large"


# --- query counts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/api/production/schedule-runs/",
        "/api/production/customer-orders/",
        "/api/production/proposed-actions/",
        "/api/production/autonomy/",
        "operations",
    ],
)
def test_list_endpoints_do_not_grow_queries(plant, area, make_user, make_work_order, url):
    from django.test.utils import CaptureQueriesContext

    client = _client(make_user, "supervisor")

    def grow(count):
        for _ in range(count):
            make_work_order(state="released")
            number = f"CO-{CustomerOrder.objects.count() + 1}"
            customer_order_create(number=number, area_id=area.pk, parts={"P1": 1})
            run = schedule_run_request(site_id=plant.site.pk, trigger="on_demand")
            schedule_run_execute(run_id=run.pk)
            _reroute_action(plant, status="proposed")

    def target():
        if url != "operations":
            return url
        run = ScheduleRun.objects.filter(is_current=True).get()
        return f"/api/production/schedule-runs/{run.pk}/operations/"

    grow(2)
    assert client.get(target()).status_code == 200
    with CaptureQueriesContext(connection) as small:
        assert client.get(target()).status_code == 200
    grow(4)
    with CaptureQueriesContext(connection) as large:
        response = client.get(target())
    assert response.status_code == 200
    assert len(large.captured_queries) == len(small.captured_queries)
    assert len(large.captured_queries) <= 12


def test_an_operator_sees_the_plan_of_their_lines_only(plant, make_work_order, make_user):
    from production.models import Cell

    other_cell = Cell.objects.create(line=plant.line, code="cell2", name="Cell 2")
    Equipment.objects.create(cell=other_cell, code="L1_M9", name="L1 machine 9")
    area = Area.objects.create(site=plant.site, code="far", name="Far")
    far_line = Line.objects.create(area=area, code="FAR", name="Far line")
    far_cell = Cell.objects.create(line=far_line, code="c", name="c")
    Equipment.objects.create(cell=far_cell, code="FAR_M1", name="far machine")
    make_work_order(state="released")
    run = schedule_run_request(site_id=plant.site.pk, trigger="on_demand")
    schedule_run_execute(run_id=run.pk)
    operator = _client(make_user, "operator")
    assert [
        item["id"] for item in operator.get("/api/production/schedule-runs/").json()["results"]
    ] == [run.pk]
    gantt = operator.get("/api/production/schedule/gantt/", {"site": plant.site.pk}).json()
    assert sorted(machine["code"] for machine in gantt["machines"]) == ["L1_M1", "L1_M9"]
    assert (
        operator.post(
            "/api/production/schedule-runs/", {"site": plant.site.pk}, format="json"
        ).status_code
        == 403
    )
    other_site = operator.get("/api/production/schedule/gantt/", {"site": plant.other_site.pk})
    assert other_site.status_code == 404
