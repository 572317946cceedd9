"""Badge and PIN login on an HMI tablet: the session is narrowed to that station's line and
kept to the station's HMI; failures are refused and audited."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.hashers import check_password
from django.test import Client

from production import models as m
from production.models import OperatorBadge
from production.services.operator_badges import operator_badge_set_pin
from tests.mfa import login_verified
from traceability.models import AuditEvent

pytestmark = pytest.mark.django_db

PIN = "482913"


@pytest.fixture
def operator(make_user, plant):
    """An operator of two lines (L1 on site 1, L2 on site 2) with badge B-17."""
    user = make_user("operator", lines=[plant.line, plant.other_line])
    operator_badge_set_pin(actor=user, user=user, badge_id="B-17", pin=PIN)
    return user


def _login_url(equipment) -> str:
    return f"/hmi/station/{equipment.pk}/login/"


def _station_client(equipment, *, badge="B-17", pin=PIN) -> tuple[Client, object]:
    client = Client()
    response = client.post(_login_url(equipment), {"badge": badge, "pin": pin})
    return client, response


def test_the_pin_is_stored_hashed(operator):
    badge = OperatorBadge.objects.get(user=operator)
    assert PIN not in badge.pin_hash
    assert check_password(PIN, badge.pin_hash)
    assert AuditEvent.objects.filter(action="operator_pin_set", actor=operator).count() == 1


def test_a_pin_must_be_four_to_eight_digits(operator):
    for bad in ("123", "abcd", "123456789", ""):
        with pytest.raises(Exception, match="4 to 8 digits"):
            operator_badge_set_pin(actor=operator, user=operator, badge_id="B-17", pin=bad)
    assert check_password(PIN, OperatorBadge.objects.get(user=operator).pin_hash)


def test_the_backend_answers_through_django_authenticate(operator, plant, rf):
    request = rf.post("/")
    assert authenticate(request, badge="B-17", pin=PIN, station=plant.equipment.pk) == operator
    assert authenticate(request, badge="B-17", pin="000000", station=plant.equipment.pk) is None
    assert authenticate(request, badge="B-99", pin=PIN, station=plant.equipment.pk) is None


def test_login_with_the_right_pin_opens_the_station(operator, plant):
    client, response = _station_client(plant.equipment)
    assert response.status_code == 302
    assert response.url == f"/hmi/station/{plant.equipment.pk}/"
    page = client.get(response.url)
    assert page.status_code == 200
    assert plant.equipment.code in page.content.decode()
    event = AuditEvent.objects.get(action="station_login")
    assert event.actor == operator
    assert event.object_id == str(plant.equipment.pk)
    assert event.data == {"badge": "B-17", "line_id": plant.line.pk}


def test_a_wrong_pin_is_refused_and_audited(operator, plant):
    client, response = _station_client(plant.equipment, pin="111111")
    assert response.status_code == 401
    assert "Badge or PIN not accepted" in response.content.decode()
    assert client.get(f"/hmi/station/{plant.equipment.pk}/").status_code == 302  # to login
    event = AuditEvent.objects.get(action="station_login_failed")
    assert event.actor is None
    assert event.data == {"badge": "B-17"}
    assert not AuditEvent.objects.filter(action="station_login").exists()


def test_a_station_outside_the_operators_scope_is_refused(make_user, plant):
    foreign_line = m.Line.objects.create(area=plant.line.area, code="L3", name="Line L3")
    cell = m.Cell.objects.create(line=foreign_line, code="c", name="Cell")
    foreign_equipment = m.Equipment.objects.create(cell=cell, code="L3_M1", name="L3 machine")
    user = make_user("operator", lines=[plant.line])
    operator_badge_set_pin(actor=user, user=user, badge_id="B-21", pin=PIN)
    _, response = _station_client(foreign_equipment, badge="B-21")
    assert response.status_code == 401


def test_the_session_sees_only_the_stations_line(operator, plant, make_work_order):
    own = make_work_order(line=plant.line)
    foreign = make_work_order(line=plant.other_line)
    client, _ = _station_client(plant.equipment)
    rows = client.get("/api/production/work-orders/", {"limit": 500}).json()["results"]
    assert [row["id"] for row in rows] == [own.pk]
    other = client.get(f"/api/production/work-orders/{foreign.pk}/")
    assert other.status_code == 404
    # The same operator with a password session sees both lines.
    password_session = Client()
    password_session.force_login(operator)
    rows = password_session.get("/api/production/work-orders/", {"limit": 500}).json()["results"]
    assert {row["id"] for row in rows} == {own.pk, foreign.pk}
    other_station = client.get(f"/hmi/station/{plant.other_equipment.pk}/")
    assert other_station.status_code == 302
    assert other_station.url == f"/hmi/station/{plant.equipment.pk}/"


def test_the_session_is_kept_to_the_station_hmi(operator, plant):
    client, _ = _station_client(plant.equipment)
    station = f"/hmi/station/{plant.equipment.pk}/"
    for page in ("/", "/hmi/", f"/equipment/{plant.equipment.pk}/", "/account/tokens/", "/admin/"):
        response = client.get(page)
        assert (page, response.status_code, response.url) == (page, 302, station)
    body = client.get(station + "body/")
    assert body.status_code == 200
    refused = client.get("/api/inventory/items/")
    assert refused.status_code == 403
    assert refused.json()["code"] == "station_session"
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get(station).status_code == 302


def test_an_operator_sets_their_own_pin_on_the_account_page(client, make_user, plant):
    user = make_user("operator")
    client.force_login(user)
    response = client.post(
        "/account/pin/", {"badge": "B-30", "pin": "5521", "password": "secret-pass-1"}
    )
    assert response.status_code == 302
    assert check_password("5521", OperatorBadge.objects.get(user=user).pin_hash)
    wrong = client.post("/account/pin/", {"badge": "B-30", "pin": "9999", "password": "nope"})
    assert wrong.status_code == 400
    assert check_password("5521", OperatorBadge.objects.get(user=user).pin_hash)


def test_a_supervisor_sets_an_operators_pin_but_an_operator_not_anothers(make_user, plant):
    supervisor = make_user("supervisor")
    operator = make_user("operator")
    other = make_user("operator", username="other_operator")
    operator_badge_set_pin(actor=supervisor, user=operator, badge_id="B-40", pin="1234")
    assert check_password("1234", OperatorBadge.objects.get(user=operator).pin_hash)
    with pytest.raises(Exception, match="may not set"):
        operator_badge_set_pin(actor=other, user=operator, badge_id="B-40", pin="9999")
    with pytest.raises(Exception, match="may not set"):
        operator_badge_set_pin(
            actor=supervisor,
            user=make_user("supervisor", username="other_supervisor"),
            badge_id="B-41",
            pin="9999",
        )
    assert check_password("1234", OperatorBadge.objects.get(user=operator).pin_hash)


def test_an_admin_sets_a_badge_and_pin_in_the_django_admin(client, make_user):
    admin = make_user("admin", username="plant_admin")
    admin.is_staff = True
    admin.save()
    operator = make_user("operator")
    login_verified(client, admin)
    url = "/admin/production/operatorbadge/add/"
    refused = client.post(url, {"user": operator.pk, "badge_id": "B-50", "pin": "12ab"})
    assert refused.status_code == 200
    assert "4 to 8 digits" in refused.content.decode()
    response = client.post(url, {"user": operator.pk, "badge_id": "B-50", "pin": "7788"})
    assert response.status_code == 302
    badge = OperatorBadge.objects.get(user=operator)
    assert check_password("7788", badge.pin_hash) and badge.pin_set_by == admin
    assert (
        "7788"
        not in client.get(f"/admin/production/operatorbadge/{badge.pk}/change/").content.decode()
    )
    assert AuditEvent.objects.filter(action="operator_pin_set", actor=admin).exists()


def test_repeated_wrong_pins_lock_the_badge_even_for_the_right_pin(operator, plant, settings):
    """The badge/PIN check goes through django-axes like a password: after
    AXES_FAILURE_LIMIT wrong PINs from one address the badge is locked, right PIN included."""
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _station_client(plant.equipment, pin="111111")
    client, response = _station_client(plant.equipment)
    assert response.status_code == 429
    assert "Too many failed attempts" in response.content.decode()
    assert client.get(f"/hmi/station/{plant.equipment.pk}/").status_code == 302  # to login
