"""The audit log, the audited state transition every service uses, and electronic signatures.

This is the base of the state machines: it imports no domain app, so the guardrails
(``autonomy``) and every domain app can build on it.

Electronic signatures (21 CFR Part 11 §11.50, §11.70): a signature names its signer (printed
name), the time (UTC), its meaning and the reason, and is linked to the signed record; it is
append-only (ORM guard and database trigger) and writes a ``sign`` audit event, so the audit
hash chain covers it. A failed attempt (a wrong password) writes a ``signature failed`` audit
event on the user's account, committed although the command that asked for it is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.utils import timezone

from mes_site.errors import InvalidTransition, ValidationFailed
from traceability.choices import SignatureMeaning
from traceability.models import AuditEvent, ElectronicSignature


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


def signature_meaning_check(meaning: str) -> str:
    if meaning not in SignatureMeaning.values:
        raise ValidationFailed(
            f"Unknown signature meaning {meaning!r}.",
            detail={"meaning": list(SignatureMeaning.values)},
        )
    return meaning


def electronic_signature_record(
    *,
    signer,
    obj: models.Model,
    meaning: str,
    reason: str = "",
    at: datetime | None = None,
) -> ElectronicSignature:
    """Sign ``obj`` as ``signer``; call it in the transaction of the signed change."""
    signature_meaning_check(meaning)
    signature = ElectronicSignature.objects.create(
        signer=signer,
        printed_name=signer.get_full_name() or signer.get_username(),
        signed_at=at or timezone.now(),
        meaning=meaning,
        reason=reason,
        content_type=ContentType.objects.get_for_model(obj, for_concrete_model=False),
        object_id=str(obj.pk),
        object_repr=str(obj)[:300],
    )
    audit_event_record(
        actor=signer,
        obj=obj,
        action="sign",
        new_value=meaning,
        reason=reason,
        at=signature.signed_at,
        data={
            "signature_id": signature.pk,
            "printed_name": signature.printed_name,
            "signed_at": signature.signed_at.isoformat(),
            "meaning": meaning,
        },
    )
    return signature


def signature_failure_record(
    *, user, subject: str, data: dict[str, Any] | None = None
) -> AuditEvent:
    """Record a refused signature (wrong password) for ``user``, who tried to sign ``subject``.

    Runs in a transaction of its own, outside the refused command's (call it before raising),
    so the record survives the command's rollback.
    """
    with transaction.atomic():
        return audit_event_record(
            actor=user,
            obj=user,
            action="signature failed",
            reason=f"wrong password while signing {subject}",
            data=data or {},
        )


__all__ = [
    "SignatureMeaning",
    "audit_event_record",
    "electronic_signature_record",
    "signature_failure_record",
    "signature_meaning_check",
    "state_transition",
]
