"""Account pages and the HMI station login.

- "My API tokens" (``/account/tokens/``): every logged-in user creates (name, lifetime),
  rotates and revokes their own tokens; a new key is shown once, on the answer to the POST
  that made it, and never stored.
- "Station PIN" (``/account/pin/``): a user sets their own badge and PIN (password required).
- Station login (``/hmi/station/<id>/login/``): badge and PIN on an HMI tablet; the session
  is narrowed to the station (``live.station_session``).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from live.selectors.stations import station_for_login
from mes_site.errors import DomainError, Forbidden, NotFound, ValidationFailed
from mes_site.lockout import locked_out_error
from mes_site.scope import STATION_SESSION_KEY
from production.services.operator_badges import (
    operator_badge_set_pin,
    station_login_failure_record,
    station_login_record,
)
from traceability.selectors import api_token_list
from traceability.services.api_tokens import (
    api_token_create,
    api_token_revoke,
    api_token_rotate,
)


def _whole_number(value: str | None, *, message: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationFailed(message) from None


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def account_tokens(request: HttpRequest) -> HttpResponse:
    context: dict = {"new_key": None, "error": None}
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "create":
                ttl_days = _whole_number(
                    request.POST.get("ttl_days"),
                    message="Give the lifetime as a whole number of days.",
                )
                token, key = api_token_create(
                    actor=request.user,
                    owner=request.user,
                    name=request.POST.get("name", ""),
                    ttl_days=ttl_days,
                )
                context.update(new_key=key, new_token=token)
            elif action in {"revoke", "rotate"}:
                token_id = _whole_number(request.POST.get("token"), message="No such token.")
                if (
                    token_id is None
                    or not api_token_list(owner=request.user).filter(pk=token_id).exists()
                ):
                    raise Http404("No such API token.")
                if action == "revoke":
                    token = api_token_revoke(actor=request.user, token_id=token_id)
                    messages.success(request, f"Token {token.prefix}… revoked.")
                    return redirect("account-tokens")
                token, key = api_token_rotate(actor=request.user, token_id=token_id)
                context.update(new_key=key, new_token=token, rotated=True)
            else:
                raise ValidationFailed("Choose create, rotate or revoke.")
        except (Forbidden, NotFound):
            raise Http404("No such API token.") from None
        except DomainError as refused:
            context["error"] = refused.message
            status = 409 if refused.http_status == 409 else 400
    context.update(
        tokens=api_token_list(owner=request.user),
        now=timezone.now(),
        max_ttl_days=settings.API_TOKEN_MAX_TTL_DAYS,
        default_ttl_days=settings.API_TOKEN_DEFAULT_TTL_DAYS,
    )
    return render(request, "account/tokens.html", context, status=status)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def account_pin(request: HttpRequest) -> HttpResponse:
    badge = getattr(request.user, "operator_badge", None)
    context: dict = {"badge_id": badge.badge_id if badge else "", "error": None}
    if request.method == "POST":
        context["badge_id"] = request.POST.get("badge", "")
        if not request.user.check_password(request.POST.get("password", "")):
            context["error"] = "Your password is not right; the PIN was not changed."
            return render(request, "account/pin.html", context, status=400)
        try:
            operator_badge_set_pin(
                actor=request.user,
                user=request.user,
                badge_id=request.POST.get("badge", ""),
                pin=request.POST.get("pin", ""),
            )
        except DomainError as refused:
            context["error"] = refused.message
            return render(request, "account/pin.html", context, status=400)
        messages.success(request, "Your badge and PIN are set.")
        return redirect("account-pin")
    return render(request, "account/pin.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def hmi_station_login(request: HttpRequest, equipment_id: int) -> HttpResponse:
    equipment = get_object_or_404(station_for_login(), pk=equipment_id)
    context: dict = {"equipment": equipment, "error": None}
    if request.method == "POST":
        badge_id = request.POST.get("badge", "").strip()
        user = authenticate(
            request, badge=badge_id, pin=request.POST.get("pin", ""), station=equipment.pk
        )
        if user is not None:
            login(request, user)  # a new session: nothing of a previous one carries over
            request.session[STATION_SESSION_KEY] = {
                "equipment_id": equipment.pk,
                "line_id": equipment.cell.line_id,
            }
            station_login_record(user=user, equipment=equipment, badge_id=badge_id)
            return redirect("hmi-station", equipment.pk)
        station_login_failure_record(equipment=equipment, badge_id=badge_id)
        if getattr(request, "axes_locked_out", False):  # repeated wrong PINs (mes_site.lockout)
            context["error"] = locked_out_error(request).message
            return render(request, "hmi/station_login.html", context, status=429)
        context["error"] = "Badge or PIN not accepted."
        return render(request, "hmi/station_login.html", context, status=401)
    return render(request, "hmi/station_login.html", context)
