"""Idle and absolute session timeouts (mes_site/session_timeout.py).

The clocks are moved by rewriting the session's stamps, never by waiting.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.contrib.auth import SESSION_KEY

from mes_site.session_timeout import ACTIVITY_KEY, PROFILE_KEY, STARTED_KEY
from tests.mfa import totp_code, totp_device_for

pytestmark = pytest.mark.django_db

IDLE_MESSAGE = "Your session ended after 30 minutes without activity. Please log in again."


@pytest.fixture
def logged_in(client, make_user):
    """A supervisor logged in through the login form and the second factor, as a browser
    does."""
    device = totp_device_for(make_user("supervisor"))
    response = client.post(
        "/accounts/login/", {"username": "supervisor_user", "password": "secret-pass-1"}
    )
    assert response.status_code == 302
    verified = client.post("/accounts/mfa/verify/", {"code": totp_code(device), "next": "/"})
    assert verified.status_code == 302 and verified["Location"] == "/"
    return client


def _shift(client, **seconds_back: float) -> dict:
    """Move the session's stamps into the past; returns the stamps as they now are."""
    session = client.session
    for key, back_s in seconds_back.items():
        session[{"started": STARTED_KEY, "activity": ACTIVITY_KEY}[key]] -= back_s
    session.save()
    return {STARTED_KEY: session[STARTED_KEY], ACTIVITY_KEY: session[ACTIVITY_KEY]}


def test_the_login_starts_both_clocks_and_the_cookie_lasts_the_absolute_limit(logged_in):
    session = logged_in.session
    now = time.time()
    # (bounds, not timings: a minute's slack for a slow password hash)
    assert now - 60 < session[STARTED_KEY] <= now
    assert session[ACTIVITY_KEY] == session[STARTED_KEY]
    absolute_s = settings.SESSION_ABSOLUTE_TIMEOUT_S
    assert absolute_s - 60 < session.get_expiry_age() <= absolute_s
    assert absolute_s - 60 < logged_in.cookies["sessionid"]["max-age"] <= absolute_s


def test_a_session_idle_past_the_limit_is_logged_out(logged_in):
    assert logged_in.get("/").status_code == 200
    _shift(logged_in, activity=settings.SESSION_IDLE_TIMEOUT_S + 1)
    response = logged_in.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"
    assert SESSION_KEY not in logged_in.session
    login_page = logged_in.get(response["Location"])
    assert IDLE_MESSAGE in login_page.content.decode()


def test_an_active_session_is_not_logged_out_and_its_activity_moves_on(logged_in):
    before = _shift(logged_in, activity=settings.SESSION_IDLE_TIMEOUT_S - 60)
    assert logged_in.get("/").status_code == 200
    session = logged_in.session
    assert session[SESSION_KEY]
    assert session[ACTIVITY_KEY] > before[ACTIVITY_KEY] + settings.SESSION_IDLE_TIMEOUT_S - 120
    assert session[STARTED_KEY] == before[STARTED_KEY]  # activity never extends the login
    # Well inside the limit: still logged in a request later.
    assert logged_in.get("/").status_code == 200


def test_an_active_session_ends_at_the_absolute_limit(logged_in):
    _shift(logged_in, started=settings.SESSION_ABSOLUTE_TIMEOUT_S + 1)
    response = logged_in.get("/")
    assert response.status_code == 302
    assert SESSION_KEY not in logged_in.session
    assert "logins last 12 hours at most" in logged_in.get(response["Location"]).content.decode()


def test_the_hmi_has_its_own_longer_idle_limit(logged_in, plant):
    assert settings.SESSION_HMI_IDLE_TIMEOUT_S > settings.SESSION_IDLE_TIMEOUT_S
    assert logged_in.get("/hmi/").status_code == 200
    assert logged_in.session[PROFILE_KEY] == "hmi"
    _shift(logged_in, activity=settings.SESSION_IDLE_TIMEOUT_S + 60)
    assert logged_in.get("/hmi/").status_code == 200
    # A page outside the HMI: the browser limit applies from then on.
    assert logged_in.get("/").status_code == 200
    assert logged_in.session[PROFILE_KEY] == "browser"
    _shift(logged_in, activity=settings.SESSION_IDLE_TIMEOUT_S + 1)
    assert logged_in.get("/").status_code == 302
    assert SESSION_KEY not in logged_in.session


def test_the_hmi_idle_limit_also_ends_a_session(logged_in, plant):
    assert logged_in.get("/hmi/").status_code == 200
    _shift(logged_in, activity=settings.SESSION_HMI_IDLE_TIMEOUT_S + 1)
    response = logged_in.get("/hmi/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/hmi/"


def test_live_refreshes_are_not_activity_but_are_checked(logged_in, plant):
    live_refresh = {"headers": {"X-Live-Refresh": "1"}}
    before = _shift(logged_in, activity=settings.SESSION_IDLE_TIMEOUT_S - 120)
    panel = f"/live/panels/lines/?site={plant.site.pk}"
    assert logged_in.get(panel, **live_refresh).status_code == 200
    assert logged_in.session[ACTIVITY_KEY] == before[ACTIVITY_KEY]
    _shift(logged_in, activity=121)
    response = logged_in.get(panel, **live_refresh)
    assert response.status_code == 302
    assert SESSION_KEY not in logged_in.session


def test_an_idle_session_gets_the_api_not_authenticated_answer(logged_in):
    assert logged_in.get("/api/production/work-orders/").status_code == 200
    _shift(logged_in, activity=settings.SESSION_IDLE_TIMEOUT_S + 1)
    response = logged_in.get("/api/production/work-orders/")
    assert response.status_code == 403
    assert response.json()["code"] == "not_authenticated"


def test_logging_in_again_restarts_the_clocks(logged_in):
    _shift(logged_in, started=3600, activity=600)
    response = logged_in.post(
        "/accounts/login/", {"username": "supervisor_user", "password": "secret-pass-1"}
    )
    assert response.status_code == 302
    session = logged_in.session
    assert time.time() - session[STARTED_KEY] < 60
    assert session[ACTIVITY_KEY] == session[STARTED_KEY]


def test_limits_are_read_from_the_environment_and_checked():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_IDLE_TIMEOUT_S, s.SESSION_HMI_IDLE_TIMEOUT_S, "
        "s.SESSION_ABSOLUTE_TIMEOUT_S, s.SESSION_COOKIE_AGE, s.SESSION_SAVE_EVERY_REQUEST)"
    )

    def run(**environment):
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **environment}
        return subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            cwd=settings.BASE_DIR,
            timeout=60,
        )

    defaults = run()
    assert defaults.returncode == 0, defaults.stderr
    assert defaults.stdout == "1800 28800 43200 43200 False\n"
    chosen = run(
        SESSION_IDLE_TIMEOUT_S="600",
        SESSION_HMI_IDLE_TIMEOUT_S="3600",
        SESSION_ABSOLUTE_TIMEOUT_S="7200",
    )
    assert chosen.stdout == "600 3600 7200 7200 False\n"
    refused = run(SESSION_IDLE_TIMEOUT_S="7200", SESSION_ABSOLUTE_TIMEOUT_S="3600")
    assert refused.returncode == 1
    assert (
        "SESSION_IDLE_TIMEOUT_S and SESSION_HMI_IDLE_TIMEOUT_S must be positive and at most "
        "SESSION_ABSOLUTE_TIMEOUT_S (3600 s)."
    ) in refused.stderr
