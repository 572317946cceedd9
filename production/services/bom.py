"""Writes of bills of materials: a new version with its lines, checked for cycles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction

from mes_site.errors import Conflict, ValidationFailed
from production.algorithms.bom import bom_cycle_path
from production.models import BillOfMaterials, BomLine, OperationTemplate, Product, Routing
from production.selectors.bom import bom_contains_map
from traceability.services import audit_event_record


@dataclass(frozen=True)
class BomLineSpec:
    item_id: int
    quantity_per_unit: Decimal
    scrap_factor: Decimal = Decimal(0)
    operation_id: int | None = None
    is_serialized: bool = False


def _check_line(line: BomLineSpec, *, routing: Routing | None, index: int) -> None:
    field = f"lines[{index}]"
    if line.quantity_per_unit <= 0:
        raise ValidationFailed(
            "A BOM line's quantity per unit must be positive.",
            detail={f"{field}.quantity_per_unit": str(line.quantity_per_unit)},
        )
    if line.scrap_factor < 0:
        raise ValidationFailed(
            "A scrap factor must not be negative (0.05 = 5 % more).",
            detail={f"{field}.scrap_factor": str(line.scrap_factor)},
        )
    if line.operation_id is None:
        return
    if routing is None:
        raise ValidationFailed(
            "A line names an operation but the BOM has no routing.",
            detail={f"{field}.operation": line.operation_id},
        )
    if not OperationTemplate.objects.filter(pk=line.operation_id, routing=routing).exists():
        raise ValidationFailed(
            f"Operation {line.operation_id} is not a step of routing {routing}.",
            detail={f"{field}.operation": line.operation_id},
        )


def _item_codes(item_ids) -> dict[int, str]:
    """Item codes for the error message (inventory's Item, known here through the FK)."""
    item_model = BomLine._meta.get_field("item").related_model
    return dict(item_model.objects.filter(pk__in=set(item_ids)).values_list("id", "code"))


def _check_no_cycle(product: Product, lines: list[BomLineSpec]) -> None:
    """A component that contains (through any depth of BOMs) the product itself is refused."""
    if product.item_id is None:
        return  # nothing can contain a product that is no inventory item
    contains = bom_contains_map()
    for index, line in enumerate(lines):
        path = bom_cycle_path(contains, parent=product.item_id, child=line.item_id)
        if path is not None:
            codes = _item_codes(path)
            names = [codes.get(item_id, str(item_id)) for item_id in path]
            raise ValidationFailed(
                f"BOM cycle: {' contains '.join(names)}. A product cannot contain itself.",
                code="bom_cycle",
                detail={f"lines[{index}].item": line.item_id, "cycle": names},
            )


@transaction.atomic
def bom_create(
    *,
    product: Product,
    version: str,
    effective_from: datetime,
    effective_to: datetime | None = None,
    routing: Routing | None = None,
    lines: list[BomLineSpec],
    actor=None,
) -> BillOfMaterials:
    """A new BOM version with its lines. Refuses an empty BOM, a window that ends before it
    starts, a routing of another product, an operation outside the routing, a component
    twice, and any component that contains the product (a cycle), naming the cycle."""
    if not lines:
        raise ValidationFailed("A BOM needs at least one line.", detail={"lines": []})
    if effective_from.tzinfo is None:
        raise ValidationFailed("effective_from needs a time zone.")
    if effective_to is not None and effective_to <= effective_from:
        raise ValidationFailed(
            "effective_to must be after effective_from.",
            detail={"effective_to": effective_to.isoformat()},
        )
    if routing is not None and routing.product_id != product.pk:
        raise ValidationFailed(
            f"Routing {routing} belongs to another product.", detail={"routing": routing.pk}
        )
    item_ids = [line.item_id for line in lines]
    if len(set(item_ids)) != len(item_ids):
        raise ValidationFailed("A component appears twice in the BOM.", detail={"lines": item_ids})
    for index, line in enumerate(lines):
        _check_line(line, routing=routing, index=index)
    _check_no_cycle(product, lines)
    try:
        with transaction.atomic():
            bom = BillOfMaterials.objects.create(
                product=product,
                version=version,
                routing=routing,
                effective_from=effective_from,
                effective_to=effective_to,
            )
    except IntegrityError as error:
        raise Conflict(
            f"{product.code} has a BOM version {version!r} already.", detail={"version": version}
        ) from error
    BomLine.objects.bulk_create(
        BomLine(
            bom=bom,
            item_id=line.item_id,
            quantity_per_unit=line.quantity_per_unit,
            scrap_factor=line.scrap_factor,
            operation_id=line.operation_id,
            is_serialized=line.is_serialized,
        )
        for line in lines
    )
    audit_event_record(
        actor=actor,
        obj=bom,
        action="create",
        new_value=f"v{version}",
        data={"lines": len(lines), "effective_from": effective_from.isoformat()},
    )
    return bom
