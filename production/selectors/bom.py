"""Reads of bills of materials: the version in force, the containment graph, requirements."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import ROUND_UP, Decimal

from django.db.models import F, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from production.algorithms.bom import required_quantity
from production.models import BillOfMaterials, BomLine
from traceability.models import GenealogyLink

LOT_PRECISION = Decimal("0.001")


def bom_list() -> QuerySet[BillOfMaterials]:
    return BillOfMaterials.objects.select_related("product", "routing").prefetch_related(
        Prefetch("lines", queryset=BomLine.objects.select_related("item", "operation"))
    )


def bom_effective(*, product_id: int, at: datetime) -> BillOfMaterials | None:
    """The BOM of a product in force at ``at``: the latest one started by then and not ended."""
    return (
        bom_list()
        .filter(product_id=product_id, effective_from__lte=at)
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gt=at))
        .order_by("-effective_from", "-id")
        .first()
    )


def bom_contains_map() -> dict[int, set[int]]:
    """Item id → the item ids any BOM version of the product booked to it lists."""
    contains: dict[int, set[int]] = defaultdict(set)
    rows = BomLine.objects.filter(bom__product__item__isnull=False).values_list(
        "bom__product__item_id", "item_id"
    )
    for parent, child in rows:
        contains[parent].add(child)
    return contains


def bom_requirements(
    *, bom: BillOfMaterials, units: Decimal, operation_template_id: int | None = None
) -> list[tuple[BomLine, Decimal]]:
    """Each line (of one routing step, when given) with what ``units`` need of it, scrap
    included, rounded up to the 0.001 that lot quantities are kept in."""
    lines = [
        line
        for line in bom.lines.all()
        if operation_template_id is None or line.operation_id == operation_template_id
    ]
    return [
        (
            line,
            required_quantity(
                quantity_per_unit=line.quantity_per_unit,
                units=Decimal(units),
                scrap_factor=line.scrap_factor,
            ).quantize(LOT_PRECISION, rounding=ROUND_UP),
        )
        for line in lines
    ]


def operation_consumption_variance(*, operation) -> list[dict]:
    """Per item: what the operation's reported units need by the BOM (scrap included) and what
    was consumed at it; ``variance`` = consumed − required (negative: under-consumed). Items
    consumed that the BOM does not list at this operation appear with required 0."""
    units = Decimal(operation.quantity_good + operation.quantity_scrap)
    at = operation.actual_start_at or timezone.now()
    bom = bom_effective(product_id=operation.work_order.product_id, at=at)
    required: dict[int, tuple[str, Decimal]] = {}
    if bom is not None and operation.template_id is not None:
        for line, needed in bom_requirements(
            bom=bom, units=units, operation_template_id=operation.template_id
        ):
            required[line.item_id] = (line.item.code, needed)
    consumed = {
        row["item_id"]: (row["item_code"], row["total"])
        for row in GenealogyLink.objects.filter(operation=operation)
        .annotate(
            item_id=Coalesce(F("child__lot__item_id"), F("child__serial_unit__lot__item_id")),
            item_code=Coalesce(
                F("child__lot__item__code"), F("child__serial_unit__lot__item__code")
            ),
        )
        .values("item_id", "item_code")
        .annotate(total=Sum("quantity"))
    }
    rows = []
    for item_id in sorted(set(required) | set(consumed)):
        code = (required.get(item_id) or consumed[item_id])[0]
        need = required.get(item_id, (code, Decimal(0)))[1]
        used = consumed.get(item_id, (code, Decimal(0)))[1]
        rows.append(
            {
                "item": code,
                "required": need,
                "consumed": used,
                "variance": used - need,
                "variance_percent": float((used - need) / need * 100) if need else None,
                "is_in_bom": item_id in required,
            }
        )
    return rows
