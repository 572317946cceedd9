"""Where each role lands and the pages of maintenance and planning: the board's columns and
commands (schedule → start → complete through the API, the board rendered again), the
planning page's panels, the navigation and the favicon."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from maintenance.models import MaintenanceWorkOrder
from production import models as m
from tests.mfa import login_verified

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    return login_verified(Client(), user)


def _order(equipment, *, number: str, state: str = "requested", **extra) -> MaintenanceWorkOrder:
    now = timezone.now()
    return MaintenanceWorkOrder.objects.create(
        number=number,
        equipment=equipment,
        kind="predictive",
        state=state,
        title=f"Bearing of {equipment.code}",
        requested_at=now - timedelta(hours=1),
        estimated_duration_h=1.5,
        **extra,
    )


@pytest.mark.parametrize(
    ("role", "landing"),
    [("maintenance", "/maintenance/"), ("planner", "/planning/"), ("quality", "/quality/")],
)
def test_maintenance_and_planner_land_on_their_pages(make_user, role, landing):
    client = _client(make_user(role))

    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == landing
    assert client.get(landing).status_code == 200
    assert client.get("/dashboard/").status_code == 200  # the dashboard stays open to them


def test_an_operator_lands_on_the_hmi_of_their_only_station(make_user, plant):
    client = _client(make_user("operator"))  # scoped to L1, one machine

    response = client.get("/")

    assert response["Location"] == f"/hmi/station/{plant.equipment.pk}/"


def test_an_operator_with_several_stations_lands_on_the_station_list(make_user, plant):
    cell = plant.equipment.cell
    m.Equipment.objects.create(cell=cell, code="L1_M2", name="Second machine")
    client = _client(make_user("operator"))

    assert client.get("/")["Location"] == "/hmi/"


@pytest.mark.parametrize("role", ["supervisor", "admin"])
def test_the_other_roles_get_the_dashboard_at_the_root(make_user, plant, role):
    user = make_user(role)
    if role == "admin":
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    response = _client(user).get("/")

    assert response.status_code == 200
    assert 'data-panel="lines"' in response.content.decode()


def test_the_board_shows_orders_by_state_with_the_commands_of_the_role(make_user, plant):
    now = timezone.now()
    _order(plant.equipment, number="MWO-R")
    _order(
        plant.equipment,
        number="MWO-S",
        state="scheduled",
        window_start_at=now + timedelta(hours=1),
        window_end_at=now + timedelta(hours=3),
    )
    _order(plant.equipment, number="MWO-D", state="done", completed_at=now - timedelta(days=1))
    _order(plant.equipment, number="MWO-OLD", state="done", completed_at=now - timedelta(days=9))
    _order(plant.other_equipment, number="MWO-S2")  # another site
    maintenance = _client(make_user("maintenance"))
    planner = _client(make_user("planner"))

    board = maintenance.get("/maintenance/").content.decode()
    read_only = planner.get(f"/live/panels/maintenance_board/?site={plant.site.pk}")

    columns = board.split('data-board-state="')[1:]
    assert [column.split('"')[0] for column in columns] == [
        "requested",
        "scheduled",
        "in_progress",
        "done",
    ]
    assert 'data-maintenance-order="MWO-R"' in columns[0]
    assert 'data-maintenance-order="MWO-S"' in columns[1]
    assert 'data-maintenance-order="MWO-D"' in columns[3]
    assert "MWO-OLD" not in board  # done more than a week ago
    assert "MWO-S2" not in board  # the other site's
    assert 'data-command="maintenance-schedule"' in columns[0]
    assert 'data-command="maintenance-start"' in columns[1]
    assert 'data-panel="health"' in board
    assert "<title>Site 1 · Maintenance · Open MES</title>" in board
    assert read_only.status_code == 200  # the planner may look, not act
    assert 'data-command="maintenance-' not in read_only.content.decode()


def test_schedule_start_and_complete_from_the_board(make_user, plant):
    order = _order(plant.equipment, number="MWO-1")
    maintenance = _client(make_user("maintenance"))
    start = timezone.now() + timedelta(minutes=5)
    base = f"/api/maintenance/work-orders/{order.pk}"

    scheduled = maintenance.post(
        f"{base}/schedule/",
        {
            "window_start_at": start.isoformat(),
            "window_end_at": (start + timedelta(hours=2)).isoformat(),
            "reason": "from the board",
        },
        content_type="application/json",
    )
    started = maintenance.post(f"{base}/start/", {}, content_type="application/json")
    completed = maintenance.post(
        f"{base}/complete/",
        {"reason": "bearing replaced", "findings": "outer race pitted; bearing 6204 fitted"},
        content_type="application/json",
    )
    panel = maintenance.get(f"/live/panels/maintenance_board/?site={plant.site.pk}")

    assert [scheduled.status_code, started.status_code, completed.status_code] == [200] * 3
    order.refresh_from_db()
    assert order.state == "done"
    done_column = panel.content.decode().split('data-board-state="done"')[1]
    assert 'data-maintenance-order="MWO-1"' in done_column


def test_the_planning_page_shows_the_plan_the_orders_and_the_dispatch(make_user, plant):
    body = _client(make_user("planner")).get("/planning/").content.decode()

    for panel in ("gantt", "work_orders", "dispatch"):
        assert f'data-panel="{panel}"' in body
    assert 'data-panel="actions"' not in body


def test_the_navigation_links_the_pages_a_role_may_open(make_user, plant):
    maintenance_nav = _client(make_user("maintenance")).get("/maintenance/").content.decode()
    operator_nav = _client(make_user("operator")).get("/hmi/").content.decode()

    assert 'href="/maintenance/"' in maintenance_nav
    assert 'href="/dashboard/"' in maintenance_nav
    assert 'href="/maintenance/"' in operator_nav  # operators may read maintenance orders
    assert 'href="/planning/"' in operator_nav


def test_the_favicon_is_served(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 301
    icon = client.get(response["Location"])
    assert icon.status_code == 200
    assert b"<svg" in b"".join(icon.streaming_content)
