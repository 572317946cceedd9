"""Lockout of repeated failed password checks on every path, the API's request rates, and the
audit of every failure (docs/security.md "Authentication and sessions")."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from autonomy.models import ProposedAction
from autonomy.services.guardrails import action_approve, action_propose
from mes_site.errors import Forbidden, LockedOut
from mes_site.throttles import AuthenticationRateThrottle
from traceability.models import AuditEvent

PASSWORD = "secret-pass-1"
ATTACKER_IP = "203.0.113.7"
OTHER_IP = "198.51.100.9"
LIMIT = 5


@pytest.fixture(autouse=True)
def failure_limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    # A fast hasher for the users these tests make: each test checks many passwords.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return LIMIT


def _is_logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def _login_failures_audited(username: str) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(action="login failed", data__username=username).order_by("id")
    )


# --- /accounts/login/ ---------------------------------------------------------------------------


def test_accounts_login_locks_after_the_limit_and_refuses_the_right_password(make_user):
    user = make_user("operator")
    client = Client(REMOTE_ADDR=ATTACKER_IP)
    answers = [
        client.post("/accounts/login/", {"username": user.username, "password": f"guess-{n}"})
        for n in range(LIMIT)
    ]

    right = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})

    assert [answer.status_code for answer in answers] == [200] * (LIMIT - 1) + [429]
    assert right.status_code == 429
    assert "Too many failed attempts" in right.content.decode()
    assert right["Retry-After"] == "900"
    assert not _is_logged_in(client)
    # Every failure is in axes' log and in the audit trail, the refused right one too.
    assert AccessFailureLog.objects.filter(username=user.username).count() == LIMIT + 1
    audited = _login_failures_audited(user.username)
    assert len(audited) == LIMIT + 1
    assert {event.data["ip_address"] for event in audited} == {ATTACKER_IP}
    assert [event.data["is_locked_out"] for event in audited][-2:] == [True, True]
    assert audited[0].object_id == str(user.pk)
    assert audited[0].data["path"] == "/accounts/login/"


def test_the_lock_holds_the_user_name_from_that_address_only(make_user):
    user = make_user("operator")
    attacker = Client(REMOTE_ADDR=ATTACKER_IP)
    for n in range(LIMIT):
        attacker.post("/accounts/login/", {"username": user.username, "password": f"guess-{n}"})

    owner = Client(REMOTE_ADDR=OTHER_IP)
    answer = owner.post("/accounts/login/", {"username": user.username, "password": PASSWORD})

    assert answer.status_code == 302
    assert _is_logged_in(owner)


def test_fewer_failures_than_the_limit_do_not_lock(make_user):
    user = make_user("operator")
    client = Client(REMOTE_ADDR=ATTACKER_IP)
    for n in range(LIMIT - 1):
        client.post("/accounts/login/", {"username": user.username, "password": f"guess-{n}"})

    answer = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})

    assert answer.status_code == 302
    assert _is_logged_in(client)


def test_the_cool_off_ends_the_lock(make_user, settings):
    user = make_user("operator")
    client = Client(REMOTE_ADDR=ATTACKER_IP)
    for n in range(LIMIT):
        client.post("/accounts/login/", {"username": user.username, "password": f"guess-{n}"})
    assert (
        client.post(
            "/accounts/login/", {"username": user.username, "password": PASSWORD}
        ).status_code
        == 429
    )

    # Instead of waiting out the cool-off: the attempts are older than it.
    AccessAttempt.objects.filter(username=user.username).update(attempt_time="2000-01-01T00:00:00Z")
    answer = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})

    assert answer.status_code == 302


def test_an_unknown_user_name_is_audited_on_no_account(db):
    client = Client(REMOTE_ADDR=ATTACKER_IP)
    client.post("/accounts/login/", {"username": "nobody-here", "password": "guess"})

    (event,) = _login_failures_audited("nobody-here")
    assert (event.object_id, event.actor_id, event.data["is_known_user"]) == ("", None, False)
    assert "guess" not in str(event.data)


# --- /admin/login/ ------------------------------------------------------------------------------


def test_admin_login_locks_after_the_limit_and_refuses_the_right_password(make_user):
    user = make_user("admin", username="admin_person")
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client = Client(REMOTE_ADDR=ATTACKER_IP)
    answers = [
        client.post(
            "/admin/login/?next=/admin/",
            {"username": user.username, "password": f"guess-{n}", "next": "/admin/"},
        )
        for n in range(LIMIT)
    ]

    right = client.post(
        "/admin/login/?next=/admin/",
        {"username": user.username, "password": PASSWORD, "next": "/admin/"},
    )

    assert [answer.status_code for answer in answers] == [200] * (LIMIT - 1) + [429]
    assert right.status_code == 429
    assert not _is_logged_in(client)
    audited = _login_failures_audited(user.username)
    assert len(audited) == LIMIT + 1
    assert {event.data["path"] for event in audited} == {"/admin/login/"}


# --- the electronic signature of an approval --------------------------------------------------


def _waiting_action(plant, make_work_order):
    work_order = make_work_order()
    return action_propose(
        site=plant.site,
        kind="reprioritise",
        target=f"work order {work_order.number}",
        payload={"work_order_id": work_order.pk, "priority": 1},
        inverse={"priority": work_order.priority},
        explanation="Due date moved forward by the ERP.",
    )


def _approve(client, action, password):
    return client.post(
        f"/api/production/proposed-actions/{action.pk}/approve/",
        {"password": password, "meaning": "approval"},
        format="json",
    )


@pytest.fixture
def supervisor_api(make_user):
    supervisor = make_user("supervisor")
    cache.delete(f"throttle_auth_{supervisor.pk}")
    client = APIClient(REMOTE_ADDR=ATTACKER_IP)
    client.force_authenticate(supervisor)
    return supervisor, client


def test_signature_password_locks_after_the_limit_and_refuses_the_right_one(
    plant, make_work_order, supervisor_api
):
    supervisor, client = supervisor_api
    action = _waiting_action(plant, make_work_order)
    answers = [_approve(client, action, f"guess-{n}") for n in range(LIMIT)]

    right = _approve(client, action, PASSWORD)

    assert [answer.status_code for answer in answers] == [403] * (LIMIT - 1) + [429]
    assert {answers[0].json()["code"], answers[-1].json()["code"]} == {
        "signature_invalid",
        "locked_out",
    }
    assert right.status_code == 429
    assert right.json() == {
        "code": "locked_out",
        "message": right.json()["message"],
        "detail": {"retry_after_s": 900},
    }
    assert "Too many failed attempts" in right.json()["message"]
    assert ProposedAction.objects.get(pk=action.pk).status == "awaiting_approval"
    audited = _login_failures_audited(supervisor.username)
    assert len(audited) == LIMIT + 1
    assert {event.data["path"] for event in audited} == {
        f"/api/production/proposed-actions/{action.pk}/approve/"
    }
    assert AccessFailureLog.objects.filter(username=supervisor.username).count() == LIMIT + 1


def test_failed_login_pages_and_signatures_share_one_count(plant, make_work_order, supervisor_api):
    supervisor, client = supervisor_api
    pages = Client(REMOTE_ADDR=ATTACKER_IP)
    for n in range(LIMIT - 1):
        pages.post("/accounts/login/", {"username": supervisor.username, "password": f"g{n}"})
    action = _waiting_action(plant, make_work_order)

    answer = _approve(client, action, "one-more-guess")

    assert (answer.status_code, answer.json()["code"]) == (429, "locked_out")


def test_the_signature_check_without_a_request_still_refuses_a_wrong_password(
    plant, make_work_order, make_user
):
    supervisor = make_user("supervisor")
    action = _waiting_action(plant, make_work_order)

    with pytest.raises(Forbidden):
        action_approve(action_id=action.pk, user=supervisor, password="wrong")

    assert ProposedAction.objects.get(pk=action.pk).status == "awaiting_approval"


def test_a_locked_signature_raises_locked_out_in_the_service(plant, make_work_order, make_user):
    from django.test import RequestFactory

    supervisor = make_user("supervisor")
    action = _waiting_action(plant, make_work_order)
    factory = RequestFactory(REMOTE_ADDR=ATTACKER_IP)
    for n in range(LIMIT - 1):
        with pytest.raises(Forbidden):
            action_approve(
                action_id=action.pk, user=supervisor, password=f"g{n}", request=factory.post("/")
            )

    with pytest.raises(LockedOut):
        action_approve(
            action_id=action.pk, user=supervisor, password="last", request=factory.post("/")
        )
    with pytest.raises(LockedOut):
        action_approve(
            action_id=action.pk, user=supervisor, password=PASSWORD, request=factory.post("/")
        )
    assert ProposedAction.objects.get(pk=action.pk).status == "awaiting_approval"


# --- request rates ------------------------------------------------------------------------------


def test_the_signature_endpoint_is_throttled_in_the_error_format(
    plant, make_work_order, supervisor_api, monkeypatch
):
    monkeypatch.setitem(AuthenticationRateThrottle.THROTTLE_RATES, "auth", "2/minute")
    _, client = supervisor_api
    action = _waiting_action(plant, make_work_order)
    answers = [_approve(client, action, f"guess-{n}") for n in range(3)]

    assert [answer.status_code for answer in answers] == [403, 403, 429]
    throttled = answers[-1]
    assert throttled.json()["code"] == "throttled"
    assert 0 < throttled.json()["detail"]["retry_after_s"] <= 60
    assert int(throttled["Retry-After"]) == throttled.json()["detail"]["retry_after_s"]
    # The throttled request never reached the password check.
    assert AccessFailureLog.objects.count() == 2


def test_default_rates_apply_to_every_endpoint(settings):
    from rest_framework.settings import api_settings

    assert [cls.__name__ for cls in api_settings.DEFAULT_THROTTLE_CLASSES] == [
        "AnonRateThrottle",
        "UserRateThrottle",
    ]
    assert api_settings.DEFAULT_THROTTLE_RATES == {
        "anon": "60/minute",
        "user": "3000/minute",
        "auth": "20/minute",
    }
