"""Consumption: which lots and serial units went into which lot or serial unit.

Every consumption is a set of genealogy links between nodes (``GenealogyNode``: one lot or
one serial unit) booked in one transaction: lots are drawn down under a row lock, a consumed
serial unit becomes ``consumed`` and can never be consumed again (also a partial unique index
on the link table). Any refusal books nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from mes_site.errors import InvalidTransition, NotFound, ValidationFailed
from traceability.choices import ConsumptionMethod, LotStatus, SerialStatus
from traceability.models import GenealogyLink, GenealogyNode, Lot, SerialUnit
from traceability.selectors.trace import trace_reachable_node_ids
from traceability.services.audit import audit_event_record

# serial units in these states can still be built into something
CONSUMABLE_SERIAL_STATES = frozenset({SerialStatus.IN_PROCESS, SerialStatus.COMPLETED})


@dataclass(frozen=True)
class Consumed:
    """One input: a lot (with the quantity drawn from it) or a serial unit (quantity 1)."""

    lot_id: int | None = None
    serial_unit_id: int | None = None
    quantity: Decimal = Decimal(1)


def genealogy_node_for(*, lot_id: int | None = None, serial_unit_id: int | None = None):
    """The node of a lot or serial unit, made on first use (concurrent first uses agree)."""
    if (lot_id is None) == (serial_unit_id is None):
        raise ValueError("name exactly one of lot_id and serial_unit_id")
    lookup = {"lot_id": lot_id} if lot_id is not None else {"serial_unit_id": serial_unit_id}
    node = GenealogyNode.objects.filter(**lookup).first()
    if node is not None:
        return node
    try:
        with transaction.atomic():
            return GenealogyNode.objects.create(**lookup)
    except IntegrityError:
        return GenealogyNode.objects.get(**lookup)


def _field(index: int, name: str) -> str:
    return f"consumed[{index}].{name}"


def _draw_lot(lot: Lot, quantity: Decimal, index: int) -> tuple[str, str]:
    if quantity <= 0:
        raise ValidationFailed(
            "Consumed quantities must be positive.",
            detail={_field(index, "quantity"): str(quantity)},
        )
    if lot.status != LotStatus.AVAILABLE:
        raise InvalidTransition(
            f"Lot {lot.code} is {lot.status}; only available lots can be consumed.",
            detail={"current_state": lot.status, _field(index, "lot"): lot.code},
        )
    if lot.quantity < quantity:
        raise ValidationFailed(
            f"Lot {lot.code} has {lot.quantity} left, less than {quantity}.",
            code="not_enough",
            detail={
                _field(index, "quantity"): str(quantity),
                "available": str(lot.quantity),
            },
        )
    before = f"{lot.quantity} {lot.status}"
    lot.quantity -= quantity
    if lot.quantity == 0:
        lot.status = LotStatus.CONSUMED
    lot.save(update_fields=["quantity", "status"])
    return before, f"{lot.quantity} {lot.status}"


def _use_serial(unit: SerialUnit, quantity: Decimal, index: int) -> tuple[str, str]:
    if quantity != 1:
        raise ValidationFailed(
            f"A serial unit is consumed whole (quantity 1), not {quantity}.",
            detail={_field(index, "quantity"): str(quantity)},
        )
    if unit.status == SerialStatus.CONSUMED:
        raise ValidationFailed(
            f"Serial {unit.serial} was consumed already; a serial unit goes into one unit only.",
            code="serial_consumed",
            detail={_field(index, "serial_unit"): unit.serial},
        )
    if unit.status not in CONSUMABLE_SERIAL_STATES:
        raise ValidationFailed(
            f"Serial {unit.serial} is {unit.status}; it cannot be consumed.",
            code="serial_not_consumable",
            detail={_field(index, "serial_unit"): unit.serial, "current_state": unit.status},
        )
    before = unit.status
    unit.status = SerialStatus.CONSUMED
    unit.save(update_fields=["status"])
    return before, unit.status


def _locked_parent(lot_id: int | None, serial_unit_id: int | None):
    if (lot_id is None) == (serial_unit_id is None):
        raise ValidationFailed("Name the lot or the serial unit that was made, not both.")
    if lot_id is not None:
        parent = Lot.objects.select_for_update().filter(pk=lot_id).first()
    else:
        parent = SerialUnit.objects.select_for_update().filter(pk=serial_unit_id).first()
    if parent is None:
        raise NotFound("The lot or serial unit that was made does not exist.")
    return parent


@transaction.atomic
def material_consume(
    *,
    parent_lot_id: int | None = None,
    parent_serial_unit_id: int | None = None,
    consumed: list[Consumed],
    operation=None,
    method: str = ConsumptionMethod.MANUAL,
    actor=None,
    at: datetime | None = None,
) -> list[GenealogyLink]:
    """Book that ``consumed`` went into the parent lot or serial unit: one link each.

    Refused with nothing booked: an unknown input, a lot not available or with too little
    left, a serial unit consumed before (or scrapped or shipped), an input twice, an input
    that is the parent or already contains it (a loop in the genealogy).
    """
    at = at or timezone.now()
    if not consumed:
        raise ValidationFailed("Name at least one consumed lot or serial unit.")
    if method not in ConsumptionMethod.values:
        raise ValidationFailed(f"Unknown consumption method {method!r}.")
    parent = _locked_parent(parent_lot_id, parent_serial_unit_id)
    parent_node = genealogy_node_for(lot_id=parent_lot_id, serial_unit_id=parent_serial_unit_id)
    seen: set[tuple[str, int]] = set()
    links = []
    actor_row = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    # lock in a fixed order (lots, then serials, by id) so concurrent consumptions cannot deadlock
    order = sorted(
        enumerate(consumed), key=lambda pair: (pair[1].lot_id is None, pair[1].lot_id or 0,
                                               pair[1].serial_unit_id or 0)
    )  # fmt: skip
    for index, entry in order:
        if (entry.lot_id is None) == (entry.serial_unit_id is None):
            raise ValidationFailed(
                "Each consumed entry names a lot or a serial unit.",
                detail={_field(index, "lot"): None},
            )
        key = (
            ("lot", entry.lot_id) if entry.lot_id is not None else ("serial", entry.serial_unit_id)
        )
        if key in seen:
            raise ValidationFailed(
                "The same lot or serial unit is named twice.",
                detail={_field(index, key[0]): key[1]},
            )
        seen.add(key)
        if entry.lot_id is not None:
            row = Lot.objects.select_for_update().filter(pk=entry.lot_id).first()
            is_parent = parent_lot_id == entry.lot_id
        else:
            row = SerialUnit.objects.select_for_update().filter(pk=entry.serial_unit_id).first()
            is_parent = parent_serial_unit_id == entry.serial_unit_id
        if row is None:
            raise ValidationFailed(
                f"No {key[0]} {key[1]}.", code="unknown", detail={_field(index, key[0]): key[1]}
            )
        if is_parent:
            raise ValidationFailed(
                f"{row} cannot consume itself.", detail={_field(index, key[0]): key[1]}
            )
        if entry.lot_id is not None:
            before, after = _draw_lot(row, Decimal(entry.quantity), index)
        else:
            before, after = _use_serial(row, Decimal(entry.quantity), index)
        child_node = genealogy_node_for(lot_id=entry.lot_id, serial_unit_id=entry.serial_unit_id)
        if parent_node.pk in trace_reachable_node_ids(node_id=child_node.pk, direction="backward"):
            raise ValidationFailed(
                f"{row} already contains {parent}: the genealogy would loop.",
                code="genealogy_loop",
                detail={_field(index, key[0]): key[1]},
            )
        try:
            with transaction.atomic():
                link = GenealogyLink.objects.create(
                    parent=parent_node,
                    child=child_node,
                    child_is_serial=entry.serial_unit_id is not None,
                    quantity=entry.quantity,
                    operation=operation,
                    method=method,
                    linked_at=at,
                    actor=actor_row,
                )
        except IntegrityError:
            raise ValidationFailed(
                f"{row} was consumed already; a serial unit goes into one unit only.",
                code="serial_consumed",
                detail={_field(index, key[0]): key[1]},
            ) from None
        links.append(link)
        audit_event_record(
            actor=actor,
            obj=row,
            action="consume",
            old_value=before,
            new_value=after,
            data={"into": str(parent), "method": method, "link": link.pk},
            at=at,
        )
    return links
