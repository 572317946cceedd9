"""The live screens' pages and fragments: login, plant scope, what each panel shows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from live.views import DASHBOARD_PANELS, PANELS
from production import models as m
from tests.mfa import login_verified

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client, make_user):
    def login(role: str, **kwargs):
        user = make_user(role, **kwargs)
        return login_verified(client, user)

    return login


def _down(equipment, *, minutes_ago: int, reason=None, needs_reason=False, end=None):
    return m.EquipmentStateInterval.objects.create(
        equipment=equipment,
        start_at=timezone.now() - timedelta(minutes=minutes_ago),
        end_at=end,
        state="down",
        reason=reason,
        needs_reason=needs_reason,
    )


def test_pages_need_a_login(client, plant):
    for url in ("/", "/hmi/", f"/hmi/station/{plant.equipment.pk}/", "/live/panels/lines/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/")


def test_the_dashboard_renders_every_panel_for_a_supervisor(logged_in, plant):
    client = logged_in("supervisor")
    _down(plant.equipment, minutes_ago=7, needs_reason=True)
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    for panel in DASHBOARD_PANELS:
        assert f'data-panel="{panel}"' in html
    assert "L1_M1" in html
    assert "needs a reason" in html
    assert "L2_M1" not in html  # the other site is outside the supervisor's scope
    assert response.context["live_targets"] == [f"site.{plant.site.pk}", f"line.{plant.line.pk}"]
    assert "csrftoken" in response.cookies


def test_an_operator_gets_line_groups_but_not_the_site_group(logged_in, plant):
    response = logged_in("operator").get("/dashboard/")  # "/" takes an operator to the HMI
    assert response.status_code == 200
    assert response.context["live_targets"] == [f"line.{plant.line.pk}"]


def test_a_site_outside_the_scope_is_never_shown(logged_in, plant):
    client = logged_in("supervisor")
    response = client.get(f"/live/panels/lines/?site={plant.other_site.pk}")
    assert response.status_code == 200
    assert "L1_M1" in response.content.decode()  # falls back to the user's own site
    assert "L2_M1" not in response.content.decode()


def test_each_panel_fragment_renders_alone(logged_in, plant):
    client = logged_in("supervisor")
    for panel in PANELS:
        response = client.get(f"/live/panels/{panel}/?site={plant.site.pk}")
        assert response.status_code == 200, panel
        assert b"<html" not in response.content  # a fragment, not a page
    assert client.get("/live/panels/secrets/").status_code == 404


def test_a_user_without_any_scope_sees_an_explanation(client, make_user):
    user = make_user("supervisor", sites=[])
    login_verified(client, user)
    response = client.get("/")
    assert response.status_code == 200
    assert b"No plant in your scope" in response.content
    assert client.get("/live/panels/lines/").status_code == 404


def test_the_stops_panel_lists_unclassified_stops_first(logged_in, plant):
    reason = m.DowntimeReason.objects.create(code="JAM", name="Part jam", iso_element="ADET")
    _down(plant.equipment, minutes_ago=90, reason=reason, end=timezone.now())
    open_stop = _down(plant.equipment, minutes_ago=5, needs_reason=True)
    stops = logged_in("supervisor").get("/live/panels/stops/").context["stops"]
    assert stops[0]["id"] == open_stop.pk
    assert [stop["reason_name"] for stop in stops] == [None, "Part jam"]


def test_the_lines_panel_query_count_does_not_grow_with_equipment(logged_in, plant):
    client = logged_in("supervisor")
    with CaptureQueriesContext(connection) as few:
        client.get("/live/panels/lines/")
    for number in range(4):
        machine = m.Equipment.objects.create(
            cell=plant.equipment.cell, code=f"extra{number}", name="Extra"
        )
        _down(machine, minutes_ago=3 + number)
    with CaptureQueriesContext(connection) as many:
        response = client.get("/live/panels/lines/")
    assert "extra3" in response.content.decode()
    assert len(many.captured_queries) == len(few.captured_queries)


def test_hmi_station_list_and_station_pages_respect_the_scope(logged_in, plant):
    client = logged_in("operator")
    chooser = client.get("/hmi/")
    assert chooser.status_code == 200
    assert b"L1_M1" in chooser.content and b"L2_M1" not in chooser.content
    assert client.get(f"/hmi/station/{plant.equipment.pk}/").status_code == 200
    assert client.get(f"/hmi/station/{plant.other_equipment.pk}/").status_code == 404
    assert client.get(f"/hmi/station/{plant.other_equipment.pk}/body/").status_code == 404
    assert client.get(f"/equipment/{plant.other_equipment.pk}/").status_code == 404


def test_the_station_shows_its_running_operation_and_commands(logged_in, plant, make_work_order):
    from production import services

    client = logged_in("operator")
    work_order = make_work_order(state="in_progress")
    operation = work_order.operations.order_by("sequence").first()
    services.operation_start(operation_id=operation.pk, actor=None, equipment_id=plant.equipment.pk)
    body = client.get(f"/hmi/station/{plant.equipment.pk}/body/").content.decode()
    assert work_order.number in body
    assert f'data-command="op-pause" data-operation="{operation.pk}"' in body
    assert f'data-command="report-good" data-operation="{operation.pk}"' in body
    assert 'data-command="op-start"' not in body


def test_the_station_offers_the_next_startable_operation(logged_in, plant, make_work_order):
    client = logged_in("operator")
    released = make_work_order(state="released")
    first_step = released.operations.order_by("sequence").first()
    body = client.get(f"/hmi/station/{plant.equipment.pk}/body/").content.decode()
    assert (
        f'data-command="op-start" data-operation="{first_step.pk}" '
        f'data-work-order="{released.pk}" data-work-order-state="released"' in body
    )
    second_step = released.operations.order_by("sequence").last()
    assert f'data-operation="{second_step.pk}"' not in body  # waits for the first step


def test_the_equipment_page_shows_its_signals_and_telemetry_urls(logged_in, plant):
    m.Signal.objects.create(equipment=plant.equipment, name="temperature", unit="degC")
    response = logged_in("operator").get(f"/equipment/{plant.equipment.pk}/")
    assert response.status_code == 200
    assert b'data-signal="temperature"' in response.content
    telemetry = response.context["telemetry"]
    assert telemetry["current_values"] == (
        f"/api/telemetry/equipment/{plant.equipment.pk}/current-values/"
    )
    assert telemetry["series"] == "/api/telemetry/signals/{id}/series/"
