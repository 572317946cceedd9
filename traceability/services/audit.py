"""The audit log and the audited state transition every service uses.

This is the base of the state machines: it imports no domain app, so the guardrails
(``autonomy``) and every domain app can build on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from mes_site.errors import InvalidTransition
from traceability.models import AuditEvent


def audit_event_record(
    *,
    actor,
    obj: models.Model,
    action: str,
    old_value: str = "",
    new_value: str = "",
    reason: str = "",
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Append one audit event for ``obj``; call it inside the transaction of the change."""
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEvent.objects.create(
        at=at or timezone.now(),
        actor=actor if is_user else None,
        actor_name=actor.get_username() if is_user else "system",
        content_type=ContentType.objects.get_for_model(obj, for_concrete_model=False),
        object_id=str(obj.pk) if obj.pk is not None else "",
        object_repr=str(obj)[:300],
        action=action,
        old_value=str(old_value)[:200],
        new_value=str(new_value)[:200],
        reason=reason,
        data=data or {},
    )


def state_transition(
    *,
    model: type[models.Model],
    pk: int,
    allowed_from: Iterable[str],
    to_state: str,
    actor,
    action: str,
    reason: str = "",
    field: str = "state",
    updates: dict[str, Any] | None = None,
    queryset: models.QuerySet | None = None,
):
    """Move one object's state under a row lock, checking the allowed-from set.

    Writes the new state, the ``updates`` and one audit event in the caller's transaction.
    Concurrent transitions of one object serialise on the lock, so exactly one of two
    racing requests wins; the other sees the new state and is refused.
    """
    allowed = set(allowed_from)
    source = queryset if queryset is not None else model.objects.all()
    obj = source.select_for_update().get(pk=pk)
    current = getattr(obj, field)
    if current not in allowed:
        label = model._meta.verbose_name
        raise InvalidTransition(
            f"Cannot {action} {label} {obj} while it is {current!r}; "
            f"allowed from: {', '.join(sorted(allowed))}.",
            detail={"current_state": current, "allowed_from": sorted(allowed)},
        )
    setattr(obj, field, to_state)
    for name, value in (updates or {}).items():
        setattr(obj, name, value)
    obj.save(update_fields=[field, *(updates or {}).keys()])
    audit_event_record(
        actor=actor, obj=obj, action=action, old_value=current, new_value=to_state, reason=reason
    )
    return obj
