"""Guardrail handlers of the closed loop's action kinds (registered in ``MaintenanceConfig``).

Each ``apply(action)`` performs the proposed change from ``action.payload`` and returns the
ids it created (stored as ``action.result``); each ``revert(action)`` undoes it. Both run in
the guardrails' transaction and raise a ``DomainError`` when they cannot.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils.dateparse import parse_datetime

from autonomy.choices import ActionKind
from autonomy.services.guardrails import action_handler_register
from inventory.choices import ProcurementStatus, ReservationStatus
from inventory.models import Item, ProcurementRequest, Reservation
from inventory.services import (
    item_reserve,
    procurement_request_cancel,
    procurement_request_create,
    reservation_release,
)
from maintenance.models import AnomalyEpisode, MaintenanceWorkOrder
from maintenance.services.work_orders import (
    OPEN_STATES,
    maintenance_work_order_cancel,
    maintenance_work_order_create,
)
from mes_site.errors import Conflict, NotFound, ValidationFailed
from production.models import Equipment, Site


def _datetime(payload: dict[str, Any], key: str) -> datetime | None:
    value = payload.get(key)
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        raise ValidationFailed(f"{key} {value!r} is not a date-time.")
    return parsed


def _result_id(action, key: str) -> int:
    value = (action.result or {}).get(key)
    if not isinstance(value, int):
        raise ValidationFailed(f"Action {action.pk} has no {key} in its result; nothing to undo.")
    return value


# --- maintenance_order -------------------------------------------------------------------------


def maintenance_order_apply(action) -> dict[str, Any]:
    payload = action.payload
    existing = MaintenanceWorkOrder.objects.filter(number=payload["number"]).first()
    if existing is not None:
        return {"work_order_id": existing.pk, "number": existing.number}
    equipment = Equipment.objects.filter(pk=payload["equipment_id"]).first()
    if equipment is None:
        raise NotFound(f"Equipment {payload['equipment_id']} no longer exists.")
    episode = AnomalyEpisode.objects.filter(pk=payload.get("episode_id")).first()
    order = maintenance_work_order_create(
        equipment=equipment,
        kind=payload["kind"],
        title=payload["title"],
        description=payload.get("description", ""),
        priority=payload["priority"],
        component=payload.get("component", ""),
        window_start_at=_datetime(payload, "window_start_at"),
        window_end_at=_datetime(payload, "window_end_at"),
        number=payload["number"],
        estimated_duration_h=payload.get("estimated_duration_h"),
        anomaly_episode=episode,
        actor=action.decided_by,
    )
    return {"work_order_id": order.pk, "number": order.number}


def maintenance_order_revert(action) -> None:
    order = MaintenanceWorkOrder.objects.filter(pk=_result_id(action, "work_order_id")).first()
    if order is None or order.state not in OPEN_STATES:
        if order is not None and order.state != "cancelled":
            raise Conflict(f"{order.number} is {order.state}; a finished order cannot be reverted.")
        return
    maintenance_work_order_cancel(
        order_id=order.pk, actor=action.reverted_by, reason=f"action {action.pk} reverted"
    )


# --- part_reservation --------------------------------------------------------------------------


def part_reservation_apply(action) -> dict[str, Any]:
    payload = action.payload
    order = MaintenanceWorkOrder.objects.filter(number=payload["reference"]).first()
    reservation = item_reserve(
        item_id=payload["item_id"],
        site_id=payload["site_id"],
        quantity=Decimal(payload["quantity"]),
        maintenance_work_order=order,
        reference=payload["reference"],
        reason=f"proposed action {action.pk}",
        actor=action.decided_by,
    )
    return {
        "reservation_id": reservation.pk,
        "stock_id": reservation.stock_id,
        "lot_code": reservation.stock.lot.code,
        "location_code": reservation.stock.location.code,
    }


def part_reservation_revert(action) -> None:
    reservation = Reservation.objects.filter(pk=_result_id(action, "reservation_id")).first()
    if reservation is None or reservation.status == ReservationStatus.RELEASED:
        return
    if reservation.status == ReservationStatus.CONSUMED:
        raise Conflict("The reserved part was issued already; the reservation cannot be undone.")
    reservation_release(
        reservation_id=reservation.pk,
        actor=action.reverted_by,
        reason=f"action {action.pk} reverted",
    )


# --- procurement_request -----------------------------------------------------------------------


def procurement_request_apply(action) -> dict[str, Any]:
    payload = action.payload
    number = f"PR-{payload['reference']}"
    existing = ProcurementRequest.objects.filter(number=number).first()
    if existing is not None:
        return {"procurement_request_id": existing.pk, "number": existing.number}
    site = Site.objects.filter(pk=payload["site_id"]).first()
    item = Item.objects.filter(pk=payload["item_id"]).first()
    if site is None or item is None:
        raise NotFound("The site or the item of the procurement request no longer exists.")
    request = procurement_request_create(
        site=site,
        item=item,
        quantity=Decimal(payload["quantity"]),
        needed_by=_datetime(payload, "needed_by"),
        reason=payload.get("reason", ""),
        reference=payload["reference"],
        maintenance_work_order=MaintenanceWorkOrder.objects.filter(
            number=payload["reference"]
        ).first(),
        number=number,
        actor=action.decided_by,
    )
    return {"procurement_request_id": request.pk, "number": request.number}


def procurement_request_revert(action) -> None:
    request = ProcurementRequest.objects.filter(
        pk=_result_id(action, "procurement_request_id")
    ).first()
    if request is None or request.status == ProcurementStatus.CANCELLED:
        return
    if request.status == ProcurementStatus.ACKNOWLEDGED:
        raise Conflict(
            f"{request.number} was acknowledged by the ERP as {request.erp_reference!r}; "
            "cancel it in the ERP."
        )
    procurement_request_cancel(
        request_id=request.pk, actor=action.reverted_by, reason=f"action {action.pk} reverted"
    )


def handlers_register() -> None:
    action_handler_register(
        ActionKind.MAINTENANCE_ORDER, apply=maintenance_order_apply, revert=maintenance_order_revert
    )
    action_handler_register(
        ActionKind.PART_RESERVATION, apply=part_reservation_apply, revert=part_reservation_revert
    )
    action_handler_register(
        ActionKind.PROCUREMENT_REQUEST,
        apply=procurement_request_apply,
        revert=procurement_request_revert,
    )
