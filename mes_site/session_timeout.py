"""Idle and absolute timeouts of logged-in browser sessions.

A login stamps the session with its start and its last activity. Each later request of the
session first checks both clocks: past ``SESSION_ABSOLUTE_TIMEOUT_S`` since the login, or past
the idle limit since the last activity, the user is logged out before the view runs (the
view then answers as it does to anyone anonymous: the login page, or the API's
``not_authenticated``). The idle limit is ``SESSION_HMI_IDLE_TIMEOUT_S`` while the last page
the user opened is an operator HMI page (``SESSION_HMI_PATH_PREFIXES``), else
``SESSION_IDLE_TIMEOUT_S``.

Activity is a request the user made; a fragment a live page fetches by itself after an event
(header ``X-Live-Refresh: 1``, see static/js/live.js) is checked but is not activity, or a
dashboard left open would never time out. The live websocket applies the same rule
(:func:`session_end_reason`) when it re-checks its session.

Token-authenticated API clients have no session and are not concerned.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger("mes_site.sessions")

STARTED_KEY = "mes_session_started_ts"
ACTIVITY_KEY = "mes_session_activity_ts"
PROFILE_KEY = "mes_session_profile"
PROFILE_BROWSER = "browser"
PROFILE_HMI = "hmi"
BACKGROUND_HEADER = "X-Live-Refresh"


def _minutes(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes >= 120 and minutes % 60 == 0:
        return f"{minutes // 60} hours"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def session_idle_limit_s(data: Mapping[str, Any]) -> int:
    if data.get(PROFILE_KEY) == PROFILE_HMI:
        return settings.SESSION_HMI_IDLE_TIMEOUT_S
    return settings.SESSION_IDLE_TIMEOUT_S


def session_end_reason(data: Mapping[str, Any], *, now_ts: float) -> str | None:
    """Why the session's login is over (a sentence for the user), or None while it holds.

    A session without stamps (a login this middleware has not seen yet) holds."""
    started_ts = data.get(STARTED_KEY)
    activity_ts = data.get(ACTIVITY_KEY)
    if started_ts is None or activity_ts is None:
        return None
    if now_ts - started_ts >= settings.SESSION_ABSOLUTE_TIMEOUT_S:
        return (
            "Your session ended: logins last "
            f"{_minutes(settings.SESSION_ABSOLUTE_TIMEOUT_S)} at most. Please log in again."
        )
    idle_limit_s = session_idle_limit_s(data)
    if now_ts - activity_ts >= idle_limit_s:
        return (
            f"Your session ended after {_minutes(idle_limit_s)} without activity. "
            "Please log in again."
        )
    return None


def _stamp_login(request: HttpRequest, now_ts: float) -> None:
    session = request.session
    session[STARTED_KEY] = now_ts
    session[ACTIVITY_KEY] = now_ts
    # The cookie and the stored session expire with the absolute limit.
    session.set_expiry(datetime.fromtimestamp(now_ts + settings.SESSION_ABSOLUTE_TIMEOUT_S, tz=UTC))


def _login_stamp(sender, request: HttpRequest | None = None, **kwargs) -> None:
    """Every login, a repeated one of the same user in the same session included, starts
    both clocks (Django keeps the session of a user who logs in again as is)."""
    if request is not None and hasattr(request, "session"):
        _stamp_login(request, time.time())


def connect() -> None:
    """Stamp every login (Django's own login hook); mes_site's AppConfig calls this."""
    user_logged_in.connect(_login_stamp, dispatch_uid="mes_session_timeout_login_stamp")


def _is_page_view(request: HttpRequest) -> bool:
    return request.method == "GET" and not request.path.startswith(("/api/", "/static/"))


class SessionTimeoutMiddleware:
    """Log out sessions idle or old past their limits; record the user's activity."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        now_ts = time.time()
        is_background = request.headers.get(BACKGROUND_HEADER) == "1"
        # The session's own user: an API token's user, which DRF puts on the request while
        # the view runs, has no session to time out (nor to create).
        is_session_user = request.user.is_authenticated
        if is_session_user:
            self._check(request, now_ts, is_background=is_background)
        response = self.get_response(request)
        # A session logged in before this middleware was deployed: its clocks start now.
        if is_session_user and request.user.is_authenticated and STARTED_KEY not in request.session:
            _stamp_login(request, now_ts)
        return response

    def _check(self, request: HttpRequest, now_ts: float, *, is_background: bool) -> None:
        session = request.session
        if STARTED_KEY not in session:
            return  # stamped after the response
        reason = session_end_reason(session, now_ts=now_ts)
        if reason is not None:
            username = request.user.get_username()
            logout(request)
            messages.info(request, reason)
            logger.info("session of %s ended: %s", username, reason)
            return
        if not is_background:
            if now_ts - session[ACTIVITY_KEY] >= settings.SESSION_ACTIVITY_RESOLUTION_S:
                session[ACTIVITY_KEY] = now_ts
            self._note_profile(request)

    @staticmethod
    def _note_profile(request: HttpRequest) -> None:
        """The idle limit follows the last page the user opened: HMI or not."""
        if not _is_page_view(request):
            return
        is_hmi = request.path.startswith(tuple(settings.SESSION_HMI_PATH_PREFIXES))
        profile = PROFILE_HMI if is_hmi else PROFILE_BROWSER
        # No profile means the browser one: no session write for the usual page.
        if request.session.get(PROFILE_KEY, PROFILE_BROWSER) != profile:
            request.session[PROFILE_KEY] = profile
