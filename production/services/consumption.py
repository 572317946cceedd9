"""Material consumption at an operation: by scan, and backflushed from the BOM at completion.

A scan (GS1 element string) names a lot or a serial unit; it is booked into the unit being
made (a serial unit or the work order's lot) through ``traceability.services.material_consume``
after the BOM of the work order's product says that this operation consumes that item. The
backflush books, for the BOM lines of the operation that scans have not covered, what the
reported units need (scrap factor included), from the item's available lots, first expiring
first then oldest first (FEFO, then FIFO). Any refusal books nothing.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models import F, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from mes_site.errors import InvalidTransition, NotFound, ValidationFailed
from production.choices import OperationState
from production.models import BillOfMaterials, Operation
from production.selectors.bom import bom_effective, bom_requirements
from traceability.choices import ConsumptionMethod, LotStatus
from traceability.models import GenealogyLink, Lot, SerialUnit
from traceability.services import Consumed, material_consume
from traceability.services.scan import gs1_scan_parse, scan_resolve

RUNNING = {OperationState.IN_PROGRESS, OperationState.PAUSED}


def _operation_bom(operation: Operation) -> BillOfMaterials | None:
    at = operation.actual_start_at or timezone.now()
    return bom_effective(product_id=operation.work_order.product_id, at=at)


def _check_item_expected(operation: Operation, item, *, field: str) -> None:
    """With a BOM, only an item of this operation's BOM lines may be consumed here."""
    bom = _operation_bom(operation)
    if bom is None:
        return
    expected = [
        line.item for line in bom.lines.all() if line.operation_id in {None, operation.template_id}
    ]
    if item.pk not in {expected_item.pk for expected_item in expected}:
        raise ValidationFailed(
            f"{item.code} is not consumed at {operation} (BOM {bom.version} expects "
            f"{', '.join(sorted(i.code for i in expected)) or 'nothing'} here).",
            code="wrong_item",
            detail={field: item.code, "expected": sorted(i.code for i in expected)},
        )


def unit_being_made(into_code: str, operation: Operation) -> tuple[int | None, int | None]:
    """(lot id, serial unit id) of the unit being made, by its serial number or lot code; it
    must be of this work order's product."""
    unit = SerialUnit.objects.select_related("lot").filter(serial=into_code).first()
    lot = unit.lot if unit is not None else Lot.objects.filter(code=into_code).first()
    if lot is None:
        raise NotFound(
            f"No serial unit or lot {into_code!r} is being made.",
            code="unknown_code",
            detail={"into": "the serial number or lot code of the unit being made"},
        )
    product_item = operation.work_order.product.item_id
    if product_item is not None and lot.item_id != product_item:
        raise ValidationFailed(
            f"{into_code} is not a unit of {operation.work_order.product.code}.",
            code="wrong_item",
            detail={"into": into_code},
        )
    return (None, unit.pk) if unit is not None else (lot.pk, None)


def _running(operation_id: int) -> Operation:
    operation = (
        Operation.objects.select_for_update()
        .select_related("work_order__product")
        .get(pk=operation_id)
    )
    if operation.state not in RUNNING:
        raise InvalidTransition(
            f"Operation {operation} is {operation.state}; material is consumed while it runs.",
            detail={"current_state": operation.state},
        )
    return operation


@transaction.atomic
def operation_consume_scan(
    *,
    operation_id: int,
    scan: str,
    into: str,
    quantity: Decimal = Decimal(1),
    actor=None,
):
    """Book the scanned lot (``quantity`` of it) or serial unit into the unit being made
    (``into``: its serial number or lot code)."""
    operation = _running(operation_id)
    parsed = gs1_scan_parse(scan)
    into_lot_id, into_serial_unit_id = unit_being_made(into, operation)
    code = scan_resolve(parsed)
    item = code.lot.item if isinstance(code, SerialUnit) else code.item
    _check_item_expected(operation, item, field="scan")
    consumed = (
        Consumed(serial_unit_id=code.pk)
        if isinstance(code, SerialUnit)
        else Consumed(lot_id=code.pk, quantity=Decimal(quantity))
    )
    return material_consume(
        parent_lot_id=None if into_serial_unit_id is not None else into_lot_id,
        parent_serial_unit_id=into_serial_unit_id,
        consumed=[consumed],
        operation=operation,
        method=ConsumptionMethod.SCAN,
        actor=actor,
    )


def _consumed_at(operation: Operation) -> dict[int, Decimal]:
    """Item id → quantity consumed at this operation so far (any method)."""
    rows = (
        GenealogyLink.objects.filter(operation=operation)
        .annotate(item_id=Coalesce(F("child__lot__item_id"), F("child__serial_unit__lot__item_id")))
        .values("item_id")
        .annotate(total=Sum("quantity"))
    )
    return {row["item_id"]: row["total"] for row in rows}


def _lots_fefo(item_id: int) -> list[Lot]:
    return list(
        Lot.objects.select_for_update()
        .filter(item_id=item_id, status=LotStatus.AVAILABLE, quantity__gt=0)
        .order_by(F("expires_at").asc(nulls_last=True), "created_at", "id")
    )


@transaction.atomic
def operation_backflush(
    *,
    operation_id: int,
    units: Decimal,
    into_lot_id: int | None = None,
    into_serial_unit_id: int | None = None,
    actor=None,
) -> list[GenealogyLink]:
    """Book what ``units`` need of each non-serialized BOM line of the operation, less what
    was consumed at it already, from the item's lots (FEFO, then FIFO). A shortage of any
    line refuses the whole backflush, naming each short item."""
    operation = Operation.objects.select_related("work_order__product").get(pk=operation_id)
    bom = _operation_bom(operation)
    if bom is None or operation.template_id is None:
        return []
    done = _consumed_at(operation)
    consumed: list[Consumed] = []
    shortages = {}
    for line, needed in bom_requirements(
        bom=bom, units=Decimal(units), operation_template_id=operation.template_id
    ):
        if line.is_serialized:
            continue  # a serial unit is scanned: the BOM cannot say which one
        remaining = needed - done.get(line.item_id, Decimal(0))
        for lot in _lots_fefo(line.item_id):
            if remaining <= 0:
                break
            take = min(lot.quantity, remaining)
            consumed.append(Consumed(lot_id=lot.pk, quantity=take))
            remaining -= take
        if remaining > 0:
            shortages[line.item.code] = str(remaining)
    if shortages:
        raise ValidationFailed(
            "Not enough available stock to backflush "
            + ", ".join(f"{quantity} × {code}" for code, quantity in shortages.items())
            + ".",
            code="not_enough",
            detail={"short": shortages},
        )
    if not consumed:
        return []
    return material_consume(
        parent_lot_id=None if into_serial_unit_id is not None else into_lot_id,
        parent_serial_unit_id=into_serial_unit_id,
        consumed=consumed,
        operation=operation,
        method=ConsumptionMethod.BACKFLUSH,
        actor=actor,
    )


def operation_backflush_at_completion(*, operation: Operation, actor=None) -> list:
    """The completion's backflush into the work order's output lot (the first lot made by one
    of its operations); nothing without an output lot, a BOM or reported units."""
    units = operation.quantity_good + operation.quantity_scrap
    output = (
        Lot.objects.filter(produced_by__work_order_id=operation.work_order_id)
        .order_by("created_at", "id")
        .values_list("id", flat=True)
        .first()
    )
    if output is None or units == 0:
        return []
    return operation_backflush(
        operation_id=operation.pk, units=Decimal(units), into_lot_id=output, actor=actor
    )
