"""Writes of the line order state machine: the plant's ``station`` events move each
customer order through ``planning.algorithms.line_order``.

:func:`line_order_events_ingest` takes the events (same shape as the equipment events of the
monitoring contract); ``update_stock`` books the finished parts (one produced lot per order
and product into the finished-goods location) and completes the order, which frees line
capacity for the backlog.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.db import transaction

from inventory.choices import MovementKind
from inventory.models import Location
from inventory.services import stock_move
from mes_site.errors import DomainError, ValidationFailed
from planning.algorithms.line_order import (
    LineOrderEvent,
    LineOrderEventKind,
    LineOrderStage,
    LineOrderState,
    OrderFinishedError,
    StaleEventError,
    TransitionNotAllowedError,
    advance,
)
from planning.choices import CustomerOrderState
from planning.models import CustomerOrder
from planning.services.dispatch import customer_orders_backlog_retry
from planning.services.order_transitions import customer_order_broadcast, customer_order_move
from planning.services.values import setting
from production.models import Equipment
from traceability.choices import LotOrigin
from traceability.models import Lot
from traceability.services import audit_event_record, lot_create

__all__ = [
    "STATIONS",
    "StationEventIn",
    "StationEventResult",
    "StationRejectReason",
    "line_order_events_ingest",
]

ORDER = CustomerOrderState


class StationRejectReason(StrEnum):
    """Why a station event was not applied (the caller dead-letters it with this code)."""

    INVALID_EVENT = "invalid_event"
    UNKNOWN_STATION = "unknown_station"
    UNKNOWN_EQUIPMENT = "unknown_equipment"
    UNKNOWN_ORDER = "unknown_order"
    WRONG_LINE = "wrong_line"
    ORDER_NOT_ON_LINE = "order_not_on_line"
    STALE_EVENT = "stale_event"
    TRANSITION_NOT_ALLOWED = "transition_not_allowed"
    ORDER_FINISHED = "order_finished"
    STOCK_UPDATE_FAILED = "stock_update_failed"


@dataclass(frozen=True)
class StationEventIn:
    """A station event (the monitoring contract's ``EquipmentEventIn`` has the same shape)."""

    equipment_path: str  # UNS path of the reporting station
    ts: datetime  # aware UTC
    kind: str  # "station"
    data: dict  # {"station": <step>, "order": <number>, "result": "pass"|"fail" (QC only)}


@dataclass(frozen=True)
class StationEventResult:
    """Same shape as the monitoring contract's ``EventIngestResult``."""

    accepted: int
    rejected: list[tuple[int, str, str]]


STATION_EVENT_KINDS = {
    "order_start": LineOrderEventKind.ORDER_STARTED,
    "warehouse_locate": LineOrderEventKind.PARTS_LOCATED,
    "classification": LineOrderEventKind.PARTS_CLASSIFIED,
    "distribute_pallet": LineOrderEventKind.PALLET_DISTRIBUTED,
    "machining": LineOrderEventKind.MACHINING_DONE,
    "storage": LineOrderEventKind.STORED,
    "update_stock": LineOrderEventKind.STOCK_UPDATED,
}
STATIONS = (*STATION_EVENT_KINDS, "quality_control", "complete")


class _Rejected(Exception):
    def __init__(self, code: StationRejectReason, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def line_order_events_ingest(*, events: Sequence[Any]) -> StationEventResult:
    """Apply a batch of ``station`` events to the customer orders on the plant's lines.

    Each event is an object with ``equipment_path`` (UNS path of the reporting station),
    ``ts`` (aware datetime), ``kind`` (``"station"``) and ``data``
    (``{"station": <step>, "order": <number>, "result": "pass"|"fail"}``; the result only for
    ``quality_control``). Events are applied in time order; each one in its own transaction,
    so one bad event never blocks the others. A redelivered event (same order, station,
    result and time as the last one applied) is accepted and changes nothing; an older event
    is rejected as ``stale_event``. See :class:`StationRejectReason` for every code.
    """
    rejected: list[tuple[int, str, str]] = []
    parsed: list[tuple[int, Any, str, str, str | None]] = []
    for index, event in enumerate(events):
        try:
            parsed.append((index, *_station_event_parse(event)))
        except _Rejected as error:
            rejected.append((index, error.code.value, error.message))
    paths = {event.equipment_path for _, event, *_ in parsed}
    stations = {
        path: (equipment_id, code, line_id)
        for path, equipment_id, code, line_id in Equipment.objects.filter(
            uns_path__in=paths
        ).values_list("uns_path", "id", "code", "cell__line_id")
    }
    parsed.sort(key=lambda item: (item[1].ts, item[0]))
    areas_freed: set[int] = set()
    for index, event, station, number, result in parsed:
        try:
            station_row = stations.get(event.equipment_path)
            if station_row is None:
                raise _Rejected(
                    StationRejectReason.UNKNOWN_EQUIPMENT,
                    f"no equipment with UNS path {event.equipment_path!r}",
                )
            with transaction.atomic():
                freed = _station_event_apply(event, station, number, result, station_row)
            if freed is not None:
                areas_freed.add(freed)
        except _Rejected as error:
            rejected.append((index, error.code.value, error.message))
        except DomainError as error:
            rejected.append((index, StationRejectReason.STOCK_UPDATE_FAILED.value, error.message))
    for area_id in sorted(areas_freed):
        customer_orders_backlog_retry(area_id=area_id)
    rejected.sort()
    return StationEventResult(accepted=len(events) - len(rejected), rejected=rejected)


def _station_event_parse(event: Any) -> tuple[Any, str, str, str | None]:
    data = getattr(event, "data", None)
    ts = getattr(event, "ts", None)
    if getattr(event, "kind", None) != "station" or not isinstance(data, dict):
        raise _Rejected(StationRejectReason.INVALID_EVENT, "not a station event with a data dict")
    if not isinstance(ts, datetime) or ts.tzinfo is None:
        raise _Rejected(StationRejectReason.INVALID_EVENT, "the event needs an aware timestamp")
    if not isinstance(getattr(event, "equipment_path", None), str):
        raise _Rejected(StationRejectReason.INVALID_EVENT, "the event needs an equipment path")
    station = data.get("station")
    number = data.get("order")
    if not isinstance(station, str) or station not in STATIONS:
        raise _Rejected(
            StationRejectReason.UNKNOWN_STATION,
            f"unknown station {station!r} (known: {', '.join(STATIONS)})",
        )
    if not isinstance(number, str) or not number:
        raise _Rejected(StationRejectReason.INVALID_EVENT, "the event names no order number")
    result = data.get("result")
    if station == "quality_control":
        if result not in ("pass", "fail"):
            raise _Rejected(
                StationRejectReason.INVALID_EVENT,
                f"quality_control needs result 'pass' or 'fail', got {result!r}",
            )
    else:
        result = None
    return event, station, number, result


def _station_event_apply(
    event: Any, station: str, number: str, result: str | None, station_row: tuple
) -> int | None:
    """Apply one event (inside a transaction); returns the area id when capacity freed."""
    equipment_id, station_code, line_id = station_row
    order = (
        CustomerOrder.objects.select_for_update(of=("self",))
        .select_related("line", "site")
        .filter(number=number)
        .first()
    )
    if order is None:
        raise _Rejected(StationRejectReason.UNKNOWN_ORDER, f"no customer order {number!r}")
    if order.state not in (ORDER.DISPATCHED, ORDER.IN_PROGRESS, ORDER.COMPLETED):
        raise _Rejected(
            StationRejectReason.ORDER_NOT_ON_LINE,
            f"order {number} is {order.state}; station events apply to dispatched orders",
        )
    if order.line_id != line_id:
        raise _Rejected(
            StationRejectReason.WRONG_LINE,
            f"order {number} is on line {order.line.code if order.line else '—'}, the event "
            f"came from {station_code} on another line",
        )
    key = station if result is None else f"{station}:{result}"
    if order.line_last_event == key and order.line_updated_at == event.ts:
        return None  # redelivered: accepted, nothing changes
    if station == "complete":
        if order.line_stage != LineOrderStage.COMPLETE:
            raise _Rejected(
                StationRejectReason.TRANSITION_NOT_ALLOWED,
                f"order {number} is in stage {order.line_stage or 'new'}; 'complete' comes after "
                "'update_stock'",
            )
        if order.line_updated_at is not None and event.ts < order.line_updated_at:
            raise _Rejected(StationRejectReason.STALE_EVENT, f"order {number}: older event")
        CustomerOrder.objects.filter(pk=order.pk).update(
            line_step="complete", line_last_event=key, line_updated_at=event.ts
        )
        return None
    kind = (
        STATION_EVENT_KINDS[station]
        if station != "quality_control"
        else (
            LineOrderEventKind.QUALITY_PASSED
            if result == "pass"
            else LineOrderEventKind.QUALITY_FAILED
        )
    )
    state = LineOrderState(
        order_id=order.number,
        line_id=order.line.code,
        stage=LineOrderStage(order.line_stage or LineOrderStage.NEW),
        updated_at_s=order.line_updated_at.timestamp() if order.line_updated_at else -math.inf,
        rework_count=order.rework_count,
    )
    try:
        new = advance(state, LineOrderEvent(kind, event.ts.timestamp(), station_code))
    except StaleEventError as error:
        raise _Rejected(StationRejectReason.STALE_EVENT, str(error)) from error
    except OrderFinishedError as error:
        raise _Rejected(StationRejectReason.ORDER_FINISHED, str(error)) from error
    except TransitionNotAllowedError as error:
        raise _Rejected(StationRejectReason.TRANSITION_NOT_ALLOWED, str(error)) from error
    updates: dict[str, Any] = {
        "line_stage": new.stage.value,
        "line_step": "distribute_pallet" if kind == LineOrderEventKind.QUALITY_FAILED else station,
        "line_updated_at": event.ts,
        "line_last_event": key,
        "rework_count": new.rework_count,
    }
    reason = f"{station}{' ' + result if result else ''} at {station_code}"
    if kind == LineOrderEventKind.ORDER_STARTED and order.state == ORDER.DISPATCHED:
        customer_order_move(
            order,
            to_state=ORDER.IN_PROGRESS,
            allowed_from={ORDER.DISPATCHED},
            actor=None,
            action="start",
            reason=reason,
            updates=updates,
        )
        return None
    if new.stage == LineOrderStage.COMPLETE:
        booked = _stock_book(order, at=event.ts)
        updates["completed_at"] = event.ts
        customer_order_move(
            order,
            to_state=ORDER.COMPLETED,
            allowed_from={ORDER.DISPATCHED, ORDER.IN_PROGRESS},
            actor=None,
            action="complete",
            reason=f"{reason}; stock booked: {', '.join(booked) or 'nothing'}",
            updates=updates,
        )
        return order.area_id
    for name, value in updates.items():
        setattr(order, name, value)
    order.save(update_fields=list(updates))
    audit_event_record(
        actor=None,
        obj=order,
        action=f"station {station}",
        old_value=state.stage.value,
        new_value=new.stage.value,
        reason=reason,
        data={"equipment_id": equipment_id, "rework_count": new.rework_count},
    )
    customer_order_broadcast(order)
    return None


def _stock_book(order: CustomerOrder, *, at: datetime) -> list[str]:
    """Book the order's finished parts: one produced lot per product into finished goods."""
    code = str(setting("SCHEDULING_FINISHED_GOODS_LOCATION", "FG-STORE"))
    location = Location.objects.filter(site_id=order.site_id, code=code).first()
    if location is None:
        raise ValidationFailed(
            f"Site {order.site.code} has no finished-goods location {code!r}; create it "
            "(Inventory › Locations) so completed orders can be booked."
        )
    booked = []
    for line in order.lines.select_related("product__item").order_by("product__code"):
        item = line.product.item
        if item is None:
            raise ValidationFailed(
                f"Product {line.product.code} has no inventory item; link one in the admin."
            )
        lot_code = f"{order.number}-{line.product.code}"
        if Lot.objects.filter(code=lot_code).exists():
            booked.append(lot_code)
            continue
        lot = lot_create(
            item=item, code=lot_code, quantity=Decimal(line.quantity), origin=LotOrigin.PRODUCED
        )
        stock_move(
            lot=lot,
            quantity=Decimal(line.quantity),
            kind=MovementKind.PRODUCTION,
            to_location=location,
            reference=order.number,
            at=at,
        )
        booked.append(lot_code)
    return booked
