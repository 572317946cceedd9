"""Writes of the traceability app: audit events, lots and genealogy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction

from integration.choices import EventType
from integration.services.events import emit
from mes_site.errors import Conflict, ValidationFailed
from traceability.choices import LotOrigin, LotStatus
from traceability.hooks import lot_release_check
from traceability.models import GenealogyLink, Lot
from traceability.services.audit import audit_event_record, state_transition
from traceability.services.genealogy import Consumed, material_consume


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


def lot_consume(
    *,
    produced_lot_id: int,
    consumptions: list[Consumption],
    operation=None,
    actor=None,
    at: datetime | None = None,
) -> list[GenealogyLink]:
    """Record that lots went into ``produced_lot`` (``genealogy.material_consume``): each
    consumed lot is drawn down under a row lock and marked consumed at zero; lots that are
    not available or have too little left are refused."""
    return material_consume(
        parent_lot_id=produced_lot_id,
        consumed=[Consumed(lot_id=c.lot_id, quantity=c.quantity) for c in consumptions],
        operation=operation,
        actor=actor,
        at=at,
    )


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
        before = (
            Lot.objects.select_for_update()
            .filter(pk=lot_id)
            .values_list("status", flat=True)
            .first()
        )
        if before == LotStatus.ON_HOLD and status != LotStatus.ON_HOLD:
            lot_release_check(lot_id=lot_id, to_status=status)
        lot = state_transition(
            model=Lot,
            pk=lot_id,
            allowed_from=allowed[status],
            to_state=status,
            field="status",
            actor=actor,
            action=f"set status {status}",
            reason=reason,
        )
        _lot_status_emit(lot, previous_status=before, reason=reason)
        return lot


# Status changes an ERP hears of: a lot put on hold, and the quality disposition of a held lot
# (released for use or scrapped).
_LOT_EVENTS = {
    (LotStatus.AVAILABLE, LotStatus.ON_HOLD): EventType.LOT_ON_HOLD,
    (LotStatus.ON_HOLD, LotStatus.AVAILABLE): EventType.QUALITY_DISPOSITION,
    (LotStatus.ON_HOLD, LotStatus.SCRAPPED): EventType.QUALITY_DISPOSITION,
}
_DISPOSITIONS = {LotStatus.AVAILABLE: "release", LotStatus.SCRAPPED: "scrap"}


def lot_site_id(lot: Lot) -> int | None:
    """The site of a lot: where it was produced, else the one site where it is in stock."""
    produced_on = (
        Lot.objects.filter(pk=lot.pk)
        .values_list("produced_by__work_order__site_id", flat=True)
        .first()
    )
    if produced_on is not None:
        return produced_on
    stocked_on = set(
        Lot.objects.filter(pk=lot.pk, stock__quantity__gt=0).values_list(
            "stock__location__site_id", flat=True
        )
    )
    return stocked_on.pop() if len(stocked_on) == 1 else None


def _lot_status_emit(lot: Lot, *, previous_status: str | None, reason: str) -> None:
    event_type = _LOT_EVENTS.get((previous_status, lot.status))
    if event_type is not None:
        data = lot_event_data(lot, previous_status=previous_status, reason=reason)
        emit(event_type, data, site=lot_site_id(lot))


def lot_event_data(lot: Lot, *, previous_status: str | None, reason: str) -> dict:
    """The webhook payload of a lot event (docs/api.md "Webhooks")."""
    data = {
        "id": lot.pk,
        "code": lot.code,
        "item": lot.item.code,
        "quantity": lot.quantity,
        "status": lot.status,
        "previous_status": previous_status,
        "reason": reason,
    }
    if previous_status == LotStatus.ON_HOLD:
        data["disposition"] = _DISPOSITIONS.get(lot.status)
    return data
