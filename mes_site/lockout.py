"""Lockout of repeated failed password checks (django-axes), its answers, and the password
check of electronic signatures.

Every password check goes through ``django.contrib.auth.authenticate`` with the request, so
django-axes counts it: the login page, the admin login and a supervisor's signature on a
proposed action. A second-factor code that fails is reported the same way
(``mes_site.mfa``). After ``AXES_FAILURE_LIMIT`` failures of one user name from one address
that pair is locked for ``AXES_COOLOFF_TIME``; a locked pair is refused even with the right
password, and each refused attempt restarts the cool-off.
"""

from __future__ import annotations

import math

from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib.auth import authenticate
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from mes_site.errors import LockedOut, error_body

LOCKED_OUT_MESSAGE = (
    "Too many failed attempts for this user name from this address. Try again in {minutes} "
    "minutes, or ask an administrator to unlock the account."
)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: the peer, or the entry that the trusted proxies appended.

    With ``AUTH_TRUSTED_PROXY_COUNT`` = n, the n-th address from the right of
    X-Forwarded-For is the one the outermost trusted proxy saw; anything left of it was
    written by the client and is ignored.
    """
    proxies = settings.AUTH_TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR")


def lockout_username(request: HttpRequest | None, credentials: dict | None) -> str | None:
    """The name axes counts failures under: the user name, or ``badge:<id>`` for the HMI's
    badge/PIN login (production.auth_backends.StationPinBackend), so a badge is locked after
    repeated wrong PINs like a user name after wrong passwords."""
    if not credentials:
        return None
    if credentials.get("username"):
        return str(credentials["username"])
    badge = credentials.get("badge")
    return f"badge:{badge}" if badge else None


def cool_off_s(request: HttpRequest | None = None) -> int:
    cool_off = get_cool_off(request)
    return int(cool_off.total_seconds()) if cool_off else 0


def locked_out_error(request: HttpRequest | None = None) -> LockedOut:
    seconds = cool_off_s(request)
    return LockedOut(
        LOCKED_OUT_MESSAGE.format(minutes=max(1, math.ceil(seconds / 60))),
        detail={"retry_after_s": seconds},
    )


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials=None
) -> HttpResponse:
    """The answer to a locked-out attempt (``AXES_LOCKOUT_CALLABLE``): the documented error
    body under /api/, a page everywhere else; 429 with ``Retry-After``."""
    error = locked_out_error(request)
    if request.path.startswith("/api/"):
        response = JsonResponse(
            error_body(error.code, error.message, error.detail), status=error.http_status
        )
    else:
        response = render(
            request,
            "registration/locked_out.html",
            {"message": error.message, "retry_after_s": error.detail["retry_after_s"]},
            status=error.http_status,
        )
    response["Retry-After"] = str(error.detail["retry_after_s"])
    return response


def signature_password_confirms(*, user, password: str, request=None) -> bool:
    """True when ``password`` is ``user``'s: an electronic signature's re-entered password.

    With a request (a DRF request or a Django one) the check goes through ``authenticate``,
    so a failure counts towards the lockout and is audited like a failed login; a locked
    pair raises ``LockedOut`` whatever the password. Without one the call comes from inside
    the server (a task, a command, a test), where there is no client to lock out.
    """
    if not password:
        return False
    if request is None:
        return user.check_password(password)
    django_request = getattr(request, "_request", request)  # DRF wraps the Django request
    authenticated = authenticate(django_request, username=user.get_username(), password=password)
    if getattr(django_request, "axes_locked_out", False):
        raise locked_out_error(django_request)
    return authenticated is not None and authenticated.pk == user.pk
