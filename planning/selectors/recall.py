"""The recall impact report of a supplier lot: every lot and serial unit it went into, where
each one is now (in WIP, in stock by location, shipped for which customer order) and how much.

Planning is the layer that sees all it needs: the genealogy (traceability), stock
(inventory), work orders (production) and customer orders with their shipments (planning).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import QuerySet

from inventory.models import Stock
from planning.models import Shipment
from production.choices import WorkOrderState
from traceability.choices import LotStatus, SerialStatus
from traceability.models import Lot
from traceability.selectors.trace import trace_forward_from_supplier_lot

OPEN_WORK_ORDER_STATES = {
    WorkOrderState.PLANNED,
    WorkOrderState.RELEASED,
    WorkOrderState.IN_PROGRESS,
    WorkOrderState.PAUSED,
}
WIP, STOCK, SHIPPED, OTHER = "wip", "stock", "shipped", "other"
PLACE_LABELS = {
    WIP: "in WIP",
    STOCK: "in stock",
    SHIPPED: "shipped",
    OTHER: "elsewhere",
}


@dataclass(frozen=True)
class RecallRow:
    kind: str  # "lot" or "serial"
    code: str
    item: str
    is_finished: bool
    status: str
    place_kind: str  # wip, stock, shipped, other
    place: str  # work order, location or customer order
    quantity: Decimal
    lot_id: int
    lot_code: str
    lot_status: str
    is_in_our_hands: bool


@dataclass
class RecallReport:
    supplier_lot_code: str
    rows: list[RecallRow] = field(default_factory=list)
    reached_count: int = 0

    @property
    def finished_serial_count(self) -> int:
        return len({r.code for r in self.rows if r.kind == "serial" and r.is_finished})

    @property
    def quantity_by_place(self) -> list[tuple[str, str, Decimal]]:
        totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for row in self.rows:
            totals[(row.place_kind, row.place)] += row.quantity
        return [(kind, place, quantity) for (kind, place), quantity in sorted(totals.items())]

    @property
    def lots_to_hold(self) -> list[int]:
        """The lots still in our hands (WIP or stock) that are available (not held yet)."""
        return sorted(
            {
                r.lot_id
                for r in self.rows
                if r.is_in_our_hands and r.lot_status == LotStatus.AVAILABLE
            }
        )


def _work_orders_of(lot_ids: set[int]) -> dict[int, tuple[str, str]]:
    """Lot id → (work order number, state) of the operation that made it."""
    rows = Lot.objects.filter(pk__in=lot_ids, produced_by__isnull=False).values_list(
        "pk", "produced_by__work_order__number", "produced_by__work_order__state"
    )
    return {lot: (number, state) for lot, number, state in rows}


def recall_report(*, supplier_lot_code: str, visible: QuerySet[Lot] | None = None) -> RecallReport:
    """Everything the supplier lot reached, with its place. A consumed lot or serial unit is
    not listed on its own: what it went into is. Four queries whatever the depth."""
    if not supplier_lot_code.strip():
        return RecallReport(supplier_lot_code=supplier_lot_code)
    reached = trace_forward_from_supplier_lot(supplier_lot_code=supplier_lot_code, visible=visible)
    report = RecallReport(supplier_lot_code=supplier_lot_code, reached_count=len(reached))
    lot_ids = {node.lot_id for node in reached}
    stock: dict[int, list[tuple[str, Decimal]]] = defaultdict(list)
    for lot_id, location, quantity in Stock.objects.filter(
        lot_id__in=lot_ids, quantity__gt=0
    ).values_list("lot_id", "location__code", "quantity"):
        stock[lot_id].append((location, quantity))
    lot_shipments: dict[int, list[tuple[str, Decimal]]] = defaultdict(list)
    serial_shipments: dict[int, str] = {}
    for lot_id, serial_id, order, quantity in Shipment.objects.filter(
        lot_id__in=lot_ids
    ).values_list("lot_id", "serial_unit_id", "customer_order__number", "quantity"):
        if serial_id is None:
            lot_shipments[lot_id].append((order, quantity))
        else:
            serial_shipments[serial_id] = order
    made_by = _work_orders_of(lot_ids)
    for node in reached:
        base = {
            "kind": node.kind,
            "code": node.code,
            "item": node.item_code,
            "is_finished": node.item_kind == "product",
            "status": node.status,
            "lot_id": node.lot_id,
            "lot_code": node.lot_code,
            "lot_status": node.lot_status,
        }
        for place_kind, place, quantity in _places(node, stock, lot_shipments, serial_shipments,
                                                   made_by):  # fmt: skip
            report.rows.append(
                RecallRow(
                    **base,
                    place_kind=place_kind,
                    place=place,
                    quantity=quantity,
                    is_in_our_hands=place_kind in {WIP, STOCK},
                )
            )
    report.rows.sort(key=lambda r: (not r.is_finished, r.place_kind, r.place, r.code))
    return report


def _places(node, stock, lot_shipments, serial_shipments, made_by):
    """Where one reached lot or serial unit is: (place kind, place, quantity) rows."""
    work_order = made_by.get(node.lot_id)
    in_work = work_order is not None and work_order[1] in OPEN_WORK_ORDER_STATES
    if node.kind == "serial":
        if node.status == SerialStatus.CONSUMED:
            return []
        if node.status == SerialStatus.SHIPPED:
            order = serial_shipments.get(node.serial_unit_id, "unknown customer order")
            return [(SHIPPED, order, Decimal(1))]
        if node.status == SerialStatus.SCRAPPED:
            return [(OTHER, "scrapped", Decimal(1))]
        if node.status == SerialStatus.IN_PROCESS or in_work:
            return [(WIP, work_order[0] if work_order else "in process", Decimal(1))]
        locations = stock.get(node.lot_id)
        return [(STOCK, locations[0][0] if locations else "no location", Decimal(1))]
    rows = [(STOCK, location, quantity) for location, quantity in stock.get(node.lot_id, [])]
    rows += [(SHIPPED, order, quantity) for order, quantity in lot_shipments.get(node.lot_id, [])]
    if in_work and not rows and node.status != LotStatus.CONSUMED:
        rows.append((WIP, work_order[0], node.lot_quantity))
    return rows
