"""Receivers of Django's authentication signals, connected in ``TraceabilityConfig.ready``."""

from __future__ import annotations

from traceability.services.authentication import authentication_failure_record


def login_failed_audit(sender, credentials: dict, request=None, **kwargs) -> None:
    """``user_login_failed`` → one audit event (django-axes, connected first, has already
    counted the failure and marked a lockout on the request)."""
    username = str(credentials.get("username") or "")
    ip_address = None
    path = ""
    is_locked_out = False
    if request is not None:
        ip_address = getattr(request, "axes_ip_address", None) or request.META.get("REMOTE_ADDR")
        path = request.path
        is_locked_out = bool(getattr(request, "axes_locked_out", False))
    authentication_failure_record(
        username=username,
        ip_address=ip_address,
        path=path,
        is_second_factor="otp_token" in credentials,
        is_locked_out=is_locked_out,
    )
