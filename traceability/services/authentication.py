"""Audit events of authentication: every failed password or second-factor check.

Django sends ``user_login_failed`` for each failed ``authenticate`` (login page, admin,
signature re-entry) and ``mes_site.mfa`` sends it for a wrong second-factor code;
``traceability.receivers`` hands each one to ``authentication_failure_record``. django-axes
keeps its own access-failure log of the same attempts for the lockout.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model

from traceability.models import AuditEvent
from traceability.services.audit import audit_event_record

ACTION_LOGIN_FAILED = "login failed"
ACTION_SECOND_FACTOR_FAILED = "second factor failed"


def authentication_failure_record(
    *,
    username: str,
    ip_address: str | None,
    path: str,
    is_second_factor: bool = False,
    is_locked_out: bool = False,
) -> AuditEvent:
    """One audit event on the account tried (or, for an unknown name, on no account)."""
    user_model = get_user_model()
    account = user_model.objects.filter(**{user_model.USERNAME_FIELD: username}).first()
    if account is None:
        account = user_model(**{user_model.USERNAME_FIELD: username})  # not saved: no such user
    if is_locked_out:
        reason = "refused: this user name is locked out from this address"
    elif is_second_factor:
        reason = "wrong second-factor code"
    else:
        reason = "wrong user name or password"
    return audit_event_record(
        actor=None,
        obj=account,
        action=ACTION_SECOND_FACTOR_FAILED if is_second_factor else ACTION_LOGIN_FAILED,
        reason=reason,
        data={
            "username": username[:150],
            "ip_address": ip_address,
            "path": path[:300],
            "is_known_user": account.pk is not None,
            "is_locked_out": is_locked_out,
        },
    )
