"""The second factor (TOTP + recovery codes): required for admin, supervisor and quality,
optional for the other roles; enrol, verify, manage; failures counted and audited."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from tests.api_tokens import make_api_token
from tests.mfa import login_verified, totp_code, totp_device_for
from traceability.models import AuditEvent

PASSWORD = "secret-pass-1"


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.AXES_FAILURE_LIMIT = 5


def _password_login(user, *, next_url: str = "/") -> tuple[Client, object]:
    client = Client()
    answer = client.post(
        f"/accounts/login/?next={next_url}",
        {"username": user.username, "password": PASSWORD, "next": next_url},
    )
    assert answer.status_code == 302, answer.content.decode()[:300]
    return client, answer


def _forget_backoff(device) -> None:
    """Instead of waiting out django-otp's own back-off after a wrong code (1 s, doubling)."""
    type(device).objects.filter(pk=device.pk).update(
        throttling_failure_count=0, throttling_failure_timestamp=None
    )


def _staff_admin(make_user):
    user = make_user("admin", username="admin_person")
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


# --- who must give it -------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["supervisor", "quality", "admin"])
def test_required_roles_without_a_device_are_sent_to_enrol(make_user, role):
    client, _ = _password_login(make_user(role))

    page = client.get("/")

    assert page.status_code == 302
    assert page["Location"] == "/accounts/mfa/enrol/?next=%2F"


@pytest.mark.parametrize("role", ["supervisor", "quality", "admin"])
def test_required_roles_with_a_device_are_sent_to_verify(make_user, role):
    user = make_user(role)
    totp_device_for(user)
    client, _ = _password_login(user)

    page = client.get("/hmi/")

    assert page.status_code == 302
    assert page["Location"] == "/accounts/mfa/verify/?next=%2Fhmi%2F"


def test_the_admin_is_held_until_the_second_factor(make_user):
    user = _staff_admin(make_user)
    totp_device_for(user)
    client = Client()
    login = client.post(
        "/admin/login/?next=/admin/",
        {"username": user.username, "password": PASSWORD, "next": "/admin/"},
    )
    assert login.status_code == 302

    for path in ("/admin/", "/admin/production/workorder/", "/admin/auth/user/"):
        held = client.get(path)
        assert held.status_code == 302, path
        assert held["Location"].startswith("/accounts/mfa/verify/?next=")


def test_a_superuser_without_a_role_group_must_give_it(django_user_model):
    user = django_user_model.objects.create_superuser("root", password=PASSWORD)
    client, _ = _password_login(user)

    assert client.get("/admin/")["Location"] == "/accounts/mfa/enrol/?next=%2Fadmin%2F"


def test_a_session_api_call_without_the_second_factor_is_refused(make_user):
    client, _ = _password_login(make_user("supervisor"))

    answer = client.get("/api/production/work-orders/")

    assert answer.status_code == 403
    assert answer.json() == {
        "code": "mfa_required",
        "message": "Give your second factor first: this session has only the password.",
        "detail": {"url": "/accounts/mfa/enrol/"},
    }


def test_api_tokens_are_not_affected(make_user):
    supervisor = make_user("supervisor")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {make_api_token(supervisor)}")

    assert client.get("/api/production/work-orders/").status_code == 200


def test_it_is_optional_for_an_operator(make_user):
    client, _ = _password_login(make_user("operator"))

    assert client.get("/hmi/").status_code == 200  # no second factor asked
    assert client.get("/api/production/work-orders/").status_code == 200


def test_an_operator_who_enrolled_is_asked_for_it(make_user):
    operator = make_user("operator")
    totp_device_for(operator)
    client, _ = _password_login(operator)

    assert client.get("/")["Location"] == "/accounts/mfa/verify/?next=%2F"


def test_no_required_roles_asks_nobody(make_user, settings):
    settings.MFA_REQUIRED_ROLES = []
    client, _ = _password_login(make_user("supervisor"))

    assert client.get("/").status_code == 200


def test_the_login_and_second_factor_pages_stay_open(make_user):
    client, _ = _password_login(make_user("supervisor"))

    assert client.get("/accounts/mfa/enrol/").status_code == 200
    assert client.get("/accounts/login/").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302


# --- verify ------------------------------------------------------------------------------------


def test_verify_with_the_app_code_opens_the_pages(make_user):
    user = make_user("supervisor")
    device = totp_device_for(user)
    client, login = _password_login(user, next_url="/hmi/")
    assert client.get(login["Location"])["Location"] == "/accounts/mfa/verify/?next=%2Fhmi%2F"
    password_only_session = client.session.session_key

    answer = client.post("/accounts/mfa/verify/", {"code": totp_code(device), "next": "/hmi/"})

    assert (answer.status_code, answer["Location"]) == (302, "/hmi/")
    assert client.session.session_key != password_only_session
    assert client.get("/hmi/").status_code == 200
    assert client.get("/api/production/work-orders/").status_code == 200


def test_a_wrong_code_is_refused_counted_and_audited(make_user):
    user = make_user("quality")
    totp_device_for(user)
    client, _ = _password_login(user)

    answer = client.post("/accounts/mfa/verify/", {"code": "000000", "next": "/"})
    page = client.get("/")

    assert answer.status_code == 200
    assert "That code is not valid" in answer.content.decode()
    assert page.status_code == 302
    (event,) = AuditEvent.objects.filter(action="second factor failed")
    assert (event.object_id, event.data["username"], event.data["path"]) == (
        str(user.pk),
        user.username,
        "/accounts/mfa/verify/",
    )


def test_wrong_codes_lock_the_account_like_wrong_passwords(make_user):
    user = make_user("supervisor")
    device = totp_device_for(user)
    client, _ = _password_login(user)
    wrong = [
        client.post("/accounts/mfa/verify/", {"code": f"{n:06d}", "next": "/"}) for n in range(5)
    ]

    right = client.post("/accounts/mfa/verify/", {"code": totp_code(device), "next": "/"})

    assert [answer.status_code for answer in wrong] == [200, 200, 200, 200, 429]
    assert right.status_code == 429
    assert client.get("/").status_code == 302
    audited = AuditEvent.objects.filter(action="second factor failed").order_by("id")
    assert [event.data["is_locked_out"] for event in audited] == [False] * 4 + [True, True]


def test_a_recovery_code_works_once(make_user):
    user = make_user("supervisor")
    device = totp_device_for(user)
    codes = _enrolled_codes(user, device)

    first, _ = _password_login(user)
    used = first.post("/accounts/mfa/verify/", {"code": codes[0].upper(), "next": "/"})
    second, _ = _password_login(user)
    again = second.post("/accounts/mfa/verify/", {"code": codes[0], "next": "/"})

    assert (used.status_code, used["Location"]) == (302, "/")
    assert first.get("/").status_code == 200
    assert again.status_code == 200
    assert second.get("/").status_code == 302
    assert StaticToken.objects.filter(device__user=user).count() == 9


def _enrolled_codes(user, device) -> list[str]:
    from mes_site.mfa import mfa_recovery_codes_regenerate

    return mfa_recovery_codes_regenerate(user=user)


# --- enrol and manage --------------------------------------------------------------------------


def test_enrol_shows_the_qr_code_confirms_and_shows_ten_recovery_codes_once(make_user):
    user = make_user("supervisor")
    client, _ = _password_login(user)

    page = client.get("/accounts/mfa/enrol/?next=/hmi/")
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    wrong = client.post(
        "/accounts/mfa/enrol/", {"device": device.pk, "code": "123456", "next": "/hmi/"}
    )
    _forget_backoff(device)
    done = client.post(
        "/accounts/mfa/enrol/", {"device": device.pk, "code": totp_code(device), "next": "/hmi/"}
    )

    html = page.content.decode()
    assert "<svg" in html
    secret = re.search(r'id="mfa-secret">([A-Z2-7 ]+)<', html).group(1).replace(" ", "")
    assert len(secret) == 32
    assert "does not match" in wrong.content.decode()
    codes = re.findall(r"<li><code>([a-z0-9]+)</code></li>", done.content.decode())
    assert len(codes) == 10 and len(set(codes)) == 10
    assert set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True)) == (
        set(codes)
    )
    assert TOTPDevice.objects.get(pk=device.pk).confirmed
    # The session is verified by the enrolment; the codes are never shown again.
    assert client.get("/hmi/").status_code == 200
    manage = client.get("/accounts/mfa/").content.decode()
    assert "Recovery codes left: 10" in manage
    assert codes[0] not in manage


def test_enrol_with_a_bad_device_id_starts_again_instead_of_failing(make_user):
    client, _ = _password_login(make_user("supervisor"))

    answer = client.post("/accounts/mfa/enrol/", {"device": "x\u00001", "code": "123456"})

    assert answer.status_code == 200
    assert "Set up the second factor" in answer.content.decode()


def test_enrol_is_refused_to_an_unverified_session_of_an_enrolled_user(make_user):
    user = make_user("supervisor")
    totp_device_for(user)
    client, _ = _password_login(user)

    answer = client.get("/accounts/mfa/enrol/")

    assert answer["Location"] == "/accounts/mfa/verify/?next=%2F"
    assert TOTPDevice.objects.filter(user=user).count() == 1


def test_regenerate_replaces_the_recovery_codes(make_user):
    user = make_user("quality")
    old = _enrolled_codes(user, totp_device_for(user))
    client = login_verified(Client(), user)

    page = client.post("/accounts/mfa/", {"action": "regenerate"})

    new = re.findall(r"<li><code>([a-z0-9]+)</code></li>", page.content.decode())
    assert len(new) == 10
    tokens = set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True))
    assert tokens == set(new)
    assert not tokens & set(old)


def test_switching_off_needs_a_current_code(make_user):
    user = make_user("operator")
    device = totp_device_for(user)
    _enrolled_codes(user, device)
    client = login_verified(Client(), user)

    refused = client.post("/accounts/mfa/", {"action": "disable", "code": "000000"})
    assert TOTPDevice.objects.filter(user=user).exists()
    _forget_backoff(device)
    done = client.post("/accounts/mfa/", {"action": "disable", "code": totp_code(device)})

    assert "That code is not valid" in refused.content.decode()
    assert done.status_code == 302
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not StaticDevice.objects.filter(user=user).exists()
    assert client.get("/hmi/").status_code == 200  # an operator: optional


def test_a_verified_session_is_not_asked_again(make_user):
    client = login_verified(Client(), make_user("supervisor"))

    assert client.get("/").status_code == 200
    assert client.get("/accounts/mfa/verify/?next=/hmi/")["Location"] == "/hmi/"
