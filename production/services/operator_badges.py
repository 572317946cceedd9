"""Operator badges and PINs for the station login on HMI tablets, and its audit trail.

A PIN is 4 to 8 digits, stored with Django's password hasher (never in clear). It is set by
the operator themself, by an admin (the admin role or a superuser), or by a supervisor for an
operator of the supervisor's lines. Lockout after repeated failures is django-axes' job: the
check is a Django authentication backend (``production.auth_backends``), so axes sees it.
"""

from __future__ import annotations

import re

from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.utils import timezone

from mes_site.errors import Conflict, Forbidden, ValidationFailed
from mes_site.roles import ROLE_ADMIN, ROLE_OPERATOR, ROLE_SUPERVISOR
from mes_site.scope import scope_get
from production.models import Equipment, OperatorBadge
from traceability.services.audit import audit_event_record

PIN_PATTERN = re.compile(r"[0-9]{4,8}")
BADGE_MAX_LENGTH = 64


def _role_names(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def operator_badge_may_manage(actor) -> bool:
    """May ``actor`` set anybody's badge and PIN (the admin role or a superuser)?"""
    if actor is None or not actor.is_authenticated or not actor.is_active:
        return False
    return actor.is_superuser or ROLE_ADMIN in _role_names(actor)


def _may_set_pin(actor, user) -> bool:
    if actor is None or not actor.is_authenticated or not actor.is_active:
        return False
    if actor.pk == user.pk or operator_badge_may_manage(actor):
        return True
    actor_roles = _role_names(actor)
    if ROLE_SUPERVISOR not in actor_roles or _role_names(user) != {ROLE_OPERATOR}:
        return False
    plant_scope = getattr(user, "plant_scope", None)
    if plant_scope is None:
        return False
    supervisor_scope = scope_get(actor)
    lines = list(plant_scope.lines.select_related("area"))
    return bool(lines) and all(
        supervisor_scope.allows_line(line.pk, line.area.site_id) for line in lines
    )


def operator_badge_set_pin(*, actor, user, badge_id: str, pin: str) -> OperatorBadge:
    """Give ``user`` the badge ``badge_id`` and a new PIN (replacing the old ones)."""
    badge_id = (badge_id or "").strip()
    if not badge_id or len(badge_id) > BADGE_MAX_LENGTH:
        raise ValidationFailed(f"A badge id is 1 to {BADGE_MAX_LENGTH} characters.")
    if not isinstance(pin, str) or PIN_PATTERN.fullmatch(pin) is None:
        raise ValidationFailed("A PIN is 4 to 8 digits.")
    if not _may_set_pin(actor, user):
        raise Forbidden(f"You may not set the PIN of {user.get_username()}.")
    now = timezone.now()
    try:
        with transaction.atomic():
            badge, created = OperatorBadge.objects.update_or_create(
                user=user,
                defaults={
                    "badge_id": badge_id,
                    "pin_hash": make_password(pin),
                    "pin_set_at": now,
                    "pin_set_by": actor,
                },
            )
            audit_event_record(
                actor=actor,
                obj=badge,
                action="operator_pin_set",
                new_value=badge_id,
                data={"user": user.get_username(), "badge": badge_id, "is_new": created},
                at=now,
            )
    except IntegrityError:
        raise Conflict(f"The badge {badge_id} belongs to another user.") from None
    return badge


def station_login_record(*, user, equipment: Equipment, badge_id: str) -> None:
    """Audit a successful badge/PIN login at ``equipment``'s HMI."""
    audit_event_record(
        actor=user,
        obj=equipment,
        action="station_login",
        data={"badge": badge_id, "line_id": equipment.cell.line_id},
    )


def station_login_failure_record(*, equipment: Equipment, badge_id: str) -> None:
    """Audit a refused badge/PIN login (wrong PIN, unknown badge, station out of scope)."""
    audit_event_record(
        actor=None,
        obj=equipment,
        action="station_login_failed",
        data={"badge": badge_id[:BADGE_MAX_LENGTH]},
    )
