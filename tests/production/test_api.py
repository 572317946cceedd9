import pytest
from rest_framework.test import APIClient

from production.models import WorkOrder
from traceability.models import AuditEvent

# command → the state it is allowed from and the state it leads to
COMMANDS = {
    "release": ("planned", "released"),
    "start": ("released", "in_progress"),
    "pause": ("in_progress", "paused"),
    "resume": ("paused", "in_progress"),
    "complete": ("in_progress", "completed"),
    "cancel": ("planned", "cancelled"),
}
OPERATE = {"start", "pause", "resume", "complete"}
RELEASE = {"release", "cancel"}
# role → (commands it may run, whether its scope is limited to its own site/line)
ROLES = {
    "operator": (OPERATE, True),
    "supervisor": (OPERATE | RELEASE, True),
    "planner": (RELEASE, False),
    "integration": (RELEASE, False),
    "maintenance": (set(), False),
    "quality": (set(), False),
    "admin": (OPERATE | RELEASE, False),
}


def _expected(role: str, command: str, is_own: bool) -> int:
    permitted, is_scoped = ROLES[role]
    if command not in permitted:
        return 403
    if is_scoped and not is_own:
        return 404
    return 200


@pytest.mark.parametrize("is_own", [True, False], ids=["own_line", "other_line"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("role", sorted(ROLES))
def test_authorization_matrix(api_for, make_work_order, plant, role, command, is_own):
    from_state, to_state = COMMANDS[command]
    line = plant.line if is_own else plant.other_line
    work_order = make_work_order(line=line, state=from_state)
    client = api_for(role)
    response = client.post(
        f"/api/production/work-orders/{work_order.pk}/{command}/", {}, format="json"
    )
    expected = _expected(role, command, is_own)
    assert response.status_code == expected, response.content
    body = response.json()
    work_order.refresh_from_db()
    if expected == 200:
        assert body["state"] == to_state
        assert work_order.state == to_state
    else:
        assert set(body) == {"code", "message", "detail"}
        assert body["code"] == {403: "permission_denied", 404: "not_found"}[expected]
        assert work_order.state == from_state
        assert not AuditEvent.objects.filter(object_id=str(work_order.pk), action=command).exists()


def test_invalid_transition_is_409_naming_the_state(api_for, make_work_order):
    work_order = make_work_order(state="completed")
    response = api_for("supervisor").post(f"/api/production/work-orders/{work_order.pk}/start/")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "invalid_transition"
    assert "'completed'" in body["message"]
    assert body["detail"] == {"current_state": "completed", "allowed_from": ["released"]}


def test_create_work_order_via_api(api_for, plant):
    client = api_for("integration")
    payload = {
        "number": "ERP-1",
        "product": plant.product.code,
        "quantity": 7,
        "due_at": "2026-12-01T08:00:00Z",
        "site": plant.site.pk,
        "line": plant.line.pk,
    }
    response = client.post("/api/production/work-orders/", payload, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["number"], body["state"], body["source"], body["quantity"]) == (
        "ERP-1",
        "planned",
        "erp",
        7,
    )
    assert [op["sequence"] for op in body["operations"]] == [10, 20]
    duplicate = client.post("/api/production/work-orders/", payload, format="json")
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "conflict"


def test_bad_payload_is_400_with_field_errors(api_for, plant):
    response = api_for("planner").post(
        "/api/production/work-orders/",
        {"number": "X", "product": "NOPE", "quantity": 0, "due_at": "tomorrow", "site": 999},
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert set(body["detail"]) == {"product", "quantity", "due_at", "site"}
    assert not WorkOrder.objects.exists()


def test_operator_cannot_create_work_orders(api_for, plant):
    response = api_for("operator").post("/api/production/work-orders/", {}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_anonymous_is_refused(plant):
    response = APIClient().get("/api/production/work-orders/")
    assert response.status_code in {401, 403}
    assert response.json()["code"] == "not_authenticated"


def test_scope_hides_other_lines_in_lists(api_for, make_work_order, plant):
    own = make_work_order(line=plant.line)
    make_work_order(line=plant.other_line)
    for role in ["operator", "supervisor"]:
        body = api_for(role, username=f"{role}_list").get("/api/production/work-orders/").json()
        assert [row["id"] for row in body["results"]] == [own.pk]
        equipment = api_for(role, username=f"{role}_eq").get("/api/production/equipment/").json()
        assert [row["code"] for row in equipment["results"]] == ["L1_M1"]
    assert api_for("planner").get("/api/production/work-orders/").json()["count"] == 2


def test_unknown_id_is_404_in_error_format(api_for, plant):
    response = api_for("supervisor").get("/api/production/work-orders/987654/")
    assert response.status_code == 404
    body = response.json()
    assert (body["code"], body["detail"]) == ("not_found", {})


def test_operation_commands_via_api(api_for, make_work_order, plant):
    work_order = make_work_order(state="in_progress")
    operation = work_order.operations.order_by("sequence").first()
    client = api_for("operator")
    started = client.post(
        f"/api/production/operations/{operation.pk}/start/",
        {"equipment": plant.equipment.pk},
        format="json",
    )
    assert started.status_code == 200
    assert started.json()["assigned_equipment_code"] == "L1_M1"
    reported = client.post(
        f"/api/production/operations/{operation.pk}/report/", {"good": 3, "scrap": 1}, format="json"
    )
    assert (reported.json()["quantity_good"], reported.json()["quantity_scrap"]) == (3, 1)
    refused = client.post(
        f"/api/production/operations/{operation.pk}/report/", {"good": -1}, format="json"
    )
    assert refused.status_code == 400
    assert "good" in refused.json()["detail"]


LIST_ENDPOINTS = [
    "/api/production/work-orders/",
    "/api/production/operations/",
    "/api/production/equipment/",
    "/api/production/signals/",
    "/api/production/lines/",
    "/api/production/routings/",
    "/api/maintenance/work-orders/",
    "/api/traceability/lots/",
    "/api/traceability/audit-events/",
    "/api/inventory/stock/",
    "/api/inventory/movements/",
]


def _grow(plant, make_work_order, count: int) -> None:
    from decimal import Decimal

    from inventory.models import Item, Location
    from inventory.services import stock_receive
    from maintenance.services import maintenance_work_order_create
    from production.models import Signal
    from traceability.services import lot_create

    item, _ = Item.objects.get_or_create(code="RAW", defaults={"name": "Raw"})
    location, _ = Location.objects.get_or_create(
        site=plant.site, code="WH", defaults={"name": "WH"}
    )
    for _ in range(count):
        work_order = make_work_order()
        lot = lot_create(
            item=item, code=f"LOT-{work_order.number}", quantity=Decimal(5), origin="received"
        )
        stock_receive(lot=lot, location=location, quantity=Decimal(5))
        maintenance_work_order_create(equipment=plant.equipment, kind="corrective", title="x")
        Signal.objects.create(
            equipment=plant.equipment, name=f"s_{work_order.number}".replace("-", "_")
        )


@pytest.mark.parametrize("url", LIST_ENDPOINTS)
def test_list_endpoints_do_not_grow_queries(
    api_for, make_work_order, plant, url, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # The audit trail is whole only for an unrestricted scope (quality); a scoped supervisor
    # sees just their own events (traceability/selectors.py).
    client = api_for("quality" if "audit-events" in url else "supervisor")
    _grow(plant, make_work_order, 2)
    assert client.get(url).status_code == 200  # warms the user's permission and scope caches
    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    _grow(plant, make_work_order, 6)
    with CaptureQueriesContext(connection) as large:
        response = client.get(url)
    assert response.status_code == 200
    assert response.json()["count"] > 0
    assert len(large.captured_queries) == len(small.captured_queries)
    with django_assert_max_num_queries(12):
        client.get(url)
