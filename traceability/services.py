"""Writes of the traceability app: audit events, lots and genealogy."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from mes_site.errors import Conflict, InvalidTransition, ValidationFailed
from traceability.choices import LotOrigin, LotStatus
from traceability.models import AuditEvent, GenealogyLink, Lot


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
        object_id=str(obj.pk),
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


@transaction.atomic
def lot_create(
    *,
    item,
    code: str,
    quantity: Decimal,
    origin: str,
    actor=None,
    produced_by=None,
) -> Lot:
    if quantity < 0:
        raise ValidationFailed(
            "A lot's quantity must not be negative.", detail={"quantity": quantity}
        )
    if origin not in LotOrigin.values:
        raise ValidationFailed(f"Unknown lot origin {origin!r}.")
    try:
        with transaction.atomic():
            lot = Lot.objects.create(
                item=item, code=code, quantity=quantity, origin=origin, produced_by=produced_by
            )
    except IntegrityError as error:
        raise Conflict(f"A lot with code {code!r} exists already.") from error
    audit_event_record(actor=actor, obj=lot, action="create", new_value=LotStatus.AVAILABLE)
    return lot


@dataclass(frozen=True)
class Consumption:
    lot_id: int
    quantity: Decimal


@transaction.atomic
def lot_consume(
    *,
    produced_lot_id: int,
    consumptions: list[Consumption],
    operation=None,
    actor=None,
    at: datetime | None = None,
) -> list[GenealogyLink]:
    """Record that ``consumptions`` went into ``produced_lot``: genealogy links and lot draws.

    Each consumed lot's quantity is drawn down under a row lock; a lot drawn to zero is
    marked consumed. Refuses lots that are not available or have too little left.
    """
    at = at or timezone.now()
    if not consumptions:
        raise ValidationFailed("Name at least one consumed lot.")
    produced = Lot.objects.select_for_update().get(pk=produced_lot_id)
    links = []
    for consumption in sorted(consumptions, key=lambda c: c.lot_id):
        if consumption.quantity <= 0:
            raise ValidationFailed("Consumed quantities must be positive.")
        if consumption.lot_id == produced.pk:
            raise ValidationFailed("A lot cannot consume itself.")
        lot = Lot.objects.select_for_update().get(pk=consumption.lot_id)
        if lot.status != LotStatus.AVAILABLE:
            raise InvalidTransition(
                f"Lot {lot.code} is {lot.status}; only available lots can be consumed.",
                detail={"current_state": lot.status},
            )
        if lot.quantity < consumption.quantity:
            raise ValidationFailed(
                f"Lot {lot.code} has {lot.quantity} left, less than {consumption.quantity}.",
                detail={"available": str(lot.quantity)},
            )
        old_quantity = lot.quantity
        lot.quantity = old_quantity - consumption.quantity
        old_status = lot.status
        if lot.quantity == 0:
            lot.status = LotStatus.CONSUMED
        lot.save(update_fields=["quantity", "status"])
        links.append(
            GenealogyLink.objects.create(
                consumed_lot=lot,
                produced_lot=produced,
                quantity=consumption.quantity,
                operation=operation,
                linked_at=at,
            )
        )
        audit_event_record(
            actor=actor,
            obj=lot,
            action="consume",
            old_value=f"{old_quantity} {old_status}",
            new_value=f"{lot.quantity} {lot.status}",
            data={"produced_lot": produced.code},
            at=at,
        )
    return links


def lot_set_status(*, lot_id: int, status: str, actor, reason: str = "") -> Lot:
    allowed = {
        LotStatus.ON_HOLD: {LotStatus.AVAILABLE},
        LotStatus.AVAILABLE: {LotStatus.ON_HOLD},
        LotStatus.SCRAPPED: {LotStatus.AVAILABLE, LotStatus.ON_HOLD},
        LotStatus.SHIPPED: {LotStatus.AVAILABLE},
    }
    if status not in allowed:
        raise ValidationFailed(f"A lot cannot be set to {status!r} directly.")
    with transaction.atomic():
        return state_transition(
            model=Lot,
            pk=lot_id,
            allowed_from=allowed[status],
            to_state=status,
            field="status",
            actor=actor,
            action=f"set status {status}",
            reason=reason,
        )
