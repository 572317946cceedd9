"""The second factor: TOTP (an authenticator app) with one-time recovery codes, django-otp.

Who must use it: users of the roles in ``MFA_REQUIRED_ROLES`` (the role "admin" also covers
staff and superusers); for everyone else it is optional, and once a user has enrolled, their
logins ask for it too. ``MfaRequiredMiddleware`` holds a logged-in user who needs the factor
and has not given it in this session: pages and the admin redirect to the verify (or, without
a device, the enrol) page, session calls to the API answer 403 ``mfa_required``. Requests
authenticated by an API token carry no session and are not affected.

The device writes are the functions at the end (``mfa_*``); the pages are ``mfa_views``.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY, user_has_device
from django_otp import login as otp_login
from django_otp import verify_token as otp_verify_token
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from mes_site.errors import error_body
from mes_site.lockout import locked_out_error
from mes_site.roles import ROLE_ADMIN
from mes_site.scope import STATION_SESSION_KEY

TOTP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"
# Pages an unverified user may reach: logging in and out, and the second factor itself.
OPEN_PATHS = ("/accounts/login/", "/accounts/logout/", "/accounts/mfa/verify/",
              "/accounts/mfa/enrol/", "/healthz", "/static/")  # fmt: skip


# Pages among the API's paths: held like every page.
PAGES_UNDER_API = ("/api/docs/",)


def mfa_required_by_role(user) -> bool:
    """True when one of the user's roles is in ``MFA_REQUIRED_ROLES``."""
    required = set(settings.MFA_REQUIRED_ROLES)
    if not required or not user.is_authenticated:
        return False
    if ROLE_ADMIN in required and (user.is_superuser or user.is_staff):
        return True
    return user.groups.filter(name__in=required).exists()


def mfa_is_enrolled(user) -> bool:
    return user_has_device(user, confirmed=True)


def mfa_station_session(session) -> bool:
    """A badge/PIN station session (live/station_session.py): the badge and its PIN are the
    HMI's two factors, and the session reaches only that station's HMI, so the operator
    who chose a TOTP device is not asked for it there."""
    return session is not None and bool(session.get(STATION_SESSION_KEY))


def mfa_needed(user) -> bool:
    """The user must give the second factor: required by a role, or chosen by enrolling."""
    return mfa_required_by_role(user) or mfa_is_enrolled(user)


def url_with_next(url_name: str, next_url: str) -> str:
    return f"{reverse(url_name)}?{urlencode({'next': next_url})}"


class MfaRequiredMiddleware:
    """After django_otp's OTPMiddleware: no page, admin or session API call before the second
    factor for a user who needs it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not user.is_verified()
            and not request.path.startswith(OPEN_PATHS)
            and not mfa_station_session(getattr(request, "session", None))
            and mfa_needed(user)
        ):
            return self._hold(request, user)
        return self.get_response(request)

    @staticmethod
    def _hold(request: HttpRequest, user) -> HttpResponse:
        enrolled = mfa_is_enrolled(user)
        url_name = "mfa-verify" if enrolled else "mfa-enrol"
        if request.path.startswith("/api/") and not request.path.startswith(PAGES_UNDER_API):
            return JsonResponse(
                error_body(
                    "mfa_required",
                    "Give your second factor first: this session has only the password.",
                    {"url": reverse(url_name)},
                ),
                status=403,
            )
        return redirect(url_with_next(url_name, request.get_full_path()))


# --- device writes ----------------------------------------------------------------------------


def mfa_enrolment_start(*, user) -> TOTPDevice:
    """The user's unconfirmed TOTP device (a new secret), to show as a QR code and confirm."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        return TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)


def mfa_enrolment_confirm(*, request: HttpRequest, device_id: int, code: str) -> list[str] | None:
    """Confirm the unconfirmed device with a code from the app; on success the session is
    verified and the new recovery codes are returned (shown once). None: wrong code."""
    user = request.user
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(pk=device_id, user=user, confirmed=False)
            .first()
        )
        if device is None or not device.verify_token(code.strip()):
            return None
        TOTPDevice.objects.filter(user=user, confirmed=True).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = _recovery_codes_replace(user)
    request.session.cycle_key()
    otp_login(request, device)
    return codes


def mfa_recovery_codes_regenerate(*, user) -> list[str]:
    """New recovery codes; the old ones stop working."""
    with transaction.atomic():
        return _recovery_codes_replace(user)


def mfa_disable(*, request: HttpRequest) -> None:
    """Remove the user's devices; the session is no longer verified."""
    user = request.user
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
    request.session.pop(DEVICE_ID_SESSION_KEY, None)


def mfa_verify(*, request: HttpRequest, code: str) -> bool:
    """Check a code (six digits: the app; otherwise a recovery code, used up) and verify the
    session. A wrong code is reported like a failed password (user_login_failed): it counts
    towards the lockout and is audited."""
    user = request.user
    credentials = {"username": user.get_username()}
    if not AxesProxyHandler.is_allowed(request, credentials):
        _second_factor_failed(request, credentials)  # counted and audited like a password
        raise locked_out_error(request)
    code = "".join(code.split()).lower()
    if code.isdigit() and len(code) < 10:
        devices = TOTPDevice.objects.filter(user=user, confirmed=True)
    else:
        devices = StaticDevice.objects.filter(user=user, confirmed=True)
    for device in devices:
        verified = otp_verify_token(user, device.persistent_id, code)
        if verified is not None:
            request.session.cycle_key()  # a new session id for the raised privilege
            otp_login(request, verified)
            return True
    _second_factor_failed(request, credentials)
    return False


def _second_factor_failed(request: HttpRequest, credentials: dict) -> None:
    user_login_failed.send(
        sender=__name__, credentials={**credentials, "otp_token": "********"}, request=request
    )


def _recovery_codes_replace(user) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME, confirmed=True)
    codes = [_recovery_code() for _ in range(settings.MFA_RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def _recovery_code() -> str:
    """Ten characters from an alphabet without look-alikes (about 50 bits)."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(10))
