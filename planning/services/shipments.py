"""Shipments: which lot or serial unit left the plant for which customer order."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from mes_site.errors import ValidationFailed
from planning.models import CustomerOrder, Shipment
from traceability.choices import LotStatus, SerialStatus
from traceability.models import Lot, SerialUnit
from traceability.services import audit_event_record


@transaction.atomic
def shipment_record(
    *,
    customer_order: CustomerOrder,
    lot_id: int | None = None,
    serial_unit_id: int | None = None,
    quantity: Decimal = Decimal(1),
    actor=None,
    at: datetime | None = None,
) -> Shipment:
    """Record a shipment of a lot (``quantity`` of it) or of one serial unit (which becomes
    ``shipped``; a serial unit ships once). Held, scrapped or consumed material is refused."""
    if (lot_id is None) == (serial_unit_id is None):
        raise ValidationFailed("Name the lot or the serial unit shipped (one of them).")
    unit = None
    if serial_unit_id is not None:
        unit = SerialUnit.objects.select_for_update().select_related("lot").get(pk=serial_unit_id)
        lot = unit.lot
        quantity = Decimal(1)
        if unit.status != SerialStatus.COMPLETED:
            raise ValidationFailed(
                f"Serial {unit.serial} is {unit.status}; only completed units ship.",
                detail={"serial_unit": unit.serial, "current_state": unit.status},
            )
    else:
        lot = Lot.objects.select_for_update().get(pk=lot_id)
    if quantity <= 0:
        raise ValidationFailed("The quantity must be positive.", detail={"quantity": quantity})
    if lot.status != LotStatus.AVAILABLE:
        raise ValidationFailed(
            f"Lot {lot.code} is {lot.status}; only available material ships.",
            detail={"lot": lot.code, "current_state": lot.status},
        )
    try:
        with transaction.atomic():
            shipment = Shipment.objects.create(
                customer_order=customer_order,
                lot=lot,
                serial_unit=unit,
                quantity=quantity,
                shipped_at=at or timezone.now(),
                recorded_by=actor if getattr(actor, "is_authenticated", False) else None,
            )
    except IntegrityError:
        raise ValidationFailed(
            f"Serial {unit.serial} was shipped already.", detail={"serial_unit": unit.serial}
        ) from None
    if unit is not None:
        unit.status = SerialStatus.SHIPPED
        unit.save(update_fields=["status"])
    audit_event_record(
        actor=actor,
        obj=unit or lot,
        action="ship",
        new_value=customer_order.number,
        data={"quantity": str(quantity), "customer_order": customer_order.number},
    )
    return shipment
