"""Reads of bills of materials: the version in force, the containment graph, requirements."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from django.db.models import Prefetch, Q, QuerySet

from production.algorithms.bom import required_quantity
from production.models import BillOfMaterials, BomLine


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
    included."""
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
            ),
        )
        for line in lines
    ]
