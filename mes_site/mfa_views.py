"""Pages of the second factor: enrol (QR code, confirm, recovery codes shown once), verify
after the password, manage (new recovery codes, switch off)."""

from __future__ import annotations

import base64

import qrcode
import qrcode.image.svg
from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from mes_site import mfa
from mes_site.errors import LockedOut
from mes_site.lockout import lockout_response


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True}),
    )


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return settings.LOGIN_REDIRECT_URL


def _qr_svg(url: str) -> str:
    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathFillImage, border=2)
    return image.to_string(encoding="unicode")


@login_required
@require_http_methods(["GET", "POST"])
def mfa_verify_view(request: HttpRequest) -> HttpResponse:
    next_url = _next_url(request)
    if request.user.is_verified():
        return redirect(next_url)
    if not mfa.mfa_is_enrolled(request.user):
        return redirect(mfa.url_with_next("mfa-enrol", next_url))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            verified = mfa.mfa_verify(request=request, code=form.cleaned_data["code"])
        except LockedOut:
            return lockout_response(request)
        if verified:
            return redirect(next_url)
        form.add_error("code", "That code is not valid (or was used already). Try the next one.")
    return render(request, "registration/mfa_verify.html", {"form": form, "next": next_url})


@login_required
@require_http_methods(["GET", "POST"])
def mfa_enrol_view(request: HttpRequest) -> HttpResponse:
    next_url = _next_url(request)
    if mfa.mfa_is_enrolled(request.user):
        target = "mfa-manage" if request.user.is_verified() else "mfa-verify"
        return redirect(mfa.url_with_next(target, next_url))
    form = CodeForm(request.POST or None)
    device = None
    if request.method == "POST":
        device_id = request.POST.get("device", "")
        device = (
            TOTPDevice.objects.filter(user=request.user, confirmed=False, pk=device_id).first()
            if device_id.isdigit()
            else None
        )
        if device is not None and form.is_valid():
            codes = mfa.mfa_enrolment_confirm(
                request=request, device_id=device.pk, code=form.cleaned_data["code"]
            )
            if codes is not None:
                return render(
                    request,
                    "registration/mfa_recovery_codes.html",
                    {"codes": codes, "next": next_url, "enrolled": True},
                )
            form.add_error("code", "That code does not match. Check the time on the phone.")
    if device is None:
        device = mfa.mfa_enrolment_start(user=request.user)
        form = CodeForm()
    secret = base64.b32encode(device.bin_key).decode()
    return render(
        request,
        "registration/mfa_enrol.html",
        {
            "form": form,
            "device": device,
            "qr_svg": _qr_svg(device.config_url),
            "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            "next": next_url,
            "required": mfa.mfa_required_by_role(request.user),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def mfa_manage_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    enrolled = mfa.mfa_is_enrolled(user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and enrolled:
        if request.POST.get("action") == "regenerate":
            codes = mfa.mfa_recovery_codes_regenerate(user=user)
            return render(
                request,
                "registration/mfa_recovery_codes.html",
                {"codes": codes, "next": reverse("mfa-manage"), "enrolled": False},
            )
        if request.POST.get("action") == "disable" and form.is_valid():
            # Switching off asks for a fresh code: a session left open is not enough.
            device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
            if device is not None and device.verify_token(form.cleaned_data["code"].strip()):
                mfa.mfa_disable(request=request)
                return redirect("mfa-manage")
            form.add_error("code", "That code is not valid.")
    return render(
        request,
        "registration/mfa_manage.html",
        {
            "form": form,
            "enrolled": enrolled,
            "required": mfa.mfa_required_by_role(user),
            "codes_left": StaticToken.objects.filter(
                device__user=user, device__confirmed=True
            ).count(),
        },
    )
