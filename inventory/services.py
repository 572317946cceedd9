"""Writes of the inventory app: every stock change is a ledger row plus a locked stock update."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from inventory.choices import MovementKind
from inventory.models import Location, Stock, StockMovement
from mes_site.errors import ValidationFailed
from traceability.choices import LotStatus
from traceability.models import Lot


def _locked_stock(*, lot: Lot, location: Location) -> Stock:
    stock, _ = Stock.objects.get_or_create(lot=lot, location=location)
    return Stock.objects.select_for_update().get(pk=stock.pk)


def _check_quantity(quantity: Decimal) -> Decimal:
    quantity = Decimal(quantity)
    if quantity <= 0:
        raise ValidationFailed("The quantity must be positive.", detail={"quantity": str(quantity)})
    return quantity


@transaction.atomic
def stock_move(
    *,
    lot: Lot,
    quantity: Decimal,
    kind: str,
    from_location: Location | None = None,
    to_location: Location | None = None,
    reference: str = "",
    actor=None,
    at: datetime | None = None,
) -> StockMovement:
    """Book one movement: draw from ``from_location`` and/or add to ``to_location``."""
    quantity = _check_quantity(quantity)
    if kind not in MovementKind.values:
        raise ValidationFailed(f"Unknown movement kind {kind!r}.")
    if from_location is None and to_location is None:
        raise ValidationFailed("A movement needs a source or a destination location.")
    if from_location is not None and from_location == to_location:
        raise ValidationFailed("Source and destination are the same location.")
    if lot.status in {LotStatus.SCRAPPED, LotStatus.SHIPPED}:
        raise ValidationFailed(f"Lot {lot.code} is {lot.status}; its stock cannot move.")
    if from_location is not None:
        source = _locked_stock(lot=lot, location=from_location)
        if source.quantity < quantity:
            raise ValidationFailed(
                f"Only {source.quantity} of lot {lot.code} at {from_location.code}; "
                f"cannot move {quantity}.",
                detail={"available": str(source.quantity), "requested": str(quantity)},
            )
        source.quantity -= quantity
        source.save(update_fields=["quantity"])
    if to_location is not None:
        target = _locked_stock(lot=lot, location=to_location)
        target.quantity += quantity
        target.save(update_fields=["quantity"])
    return StockMovement.objects.create(
        at=at or timezone.now(),
        kind=kind,
        lot=lot,
        from_location=from_location,
        to_location=to_location,
        quantity=quantity,
        reference=reference,
        actor=actor if actor is not None and actor.is_authenticated else None,
    )


def stock_receive(*, lot: Lot, location: Location, quantity: Decimal, reference="", actor=None):
    return stock_move(
        lot=lot,
        quantity=quantity,
        kind=MovementKind.RECEIPT,
        to_location=location,
        reference=reference,
        actor=actor,
    )


def stock_issue(*, lot: Lot, location: Location, quantity: Decimal, reference="", actor=None):
    return stock_move(
        lot=lot,
        quantity=quantity,
        kind=MovementKind.ISSUE,
        from_location=location,
        reference=reference,
        actor=actor,
    )


def stock_transfer(
    *, lot: Lot, from_location: Location, to_location: Location, quantity: Decimal, actor=None
):
    return stock_move(
        lot=lot,
        quantity=quantity,
        kind=MovementKind.TRANSFER,
        from_location=from_location,
        to_location=to_location,
        actor=actor,
    )
