"""The current state of plant objects as plain data: equipment states, OEE, alerts, stops,
work orders and the running operation.

Everything returns dicts of JSON-able values that the consumer sends and the templates render.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from production.choices import (
    AlertState,
    EquipmentState,
    OeePeriod,
    OperationState,
    WorkOrderState,
)
from production.models import (
    Alert,
    Equipment,
    EquipmentStateInterval,
    OeeSnapshot,
    Operation,
    WorkOrder,
)
from production.selectors import oee as production_oee
from production.selectors.alerts import alert_list
from production.selectors.state_intervals import state_interval_list

logger = logging.getLogger(__name__)


# States that are a loss in the Pareto (planned stops and no-data time are not losses).
LOSS_STATES = {
    EquipmentState.DOWN,
    EquipmentState.SETUP,
    EquipmentState.IDLE,
    EquipmentState.STARVED,
    EquipmentState.BLOCKED,
}


def iso_or_none(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _duration_s(start: datetime, end: datetime | None, now: datetime) -> float:
    return max(0.0, ((end or now) - start).total_seconds())


def equipment_states(equipment_ids: list[int], *, now: datetime | None = None) -> dict[int, dict]:
    """The current (open) state interval of each equipment, by equipment id."""
    now = now or timezone.now()
    intervals = (
        EquipmentStateInterval.objects.filter(equipment_id__in=equipment_ids, end_at__isnull=True)
        .select_related("reason")
        .order_by("equipment_id", "-start_at")
    )
    states: dict[int, dict] = {}
    for interval in intervals:
        if interval.equipment_id in states:
            continue
        states[interval.equipment_id] = _interval_dict(interval, now)
    return states


def _interval_dict(interval: EquipmentStateInterval, now: datetime) -> dict[str, Any]:
    reason = interval.reason
    return {
        "id": interval.pk,
        "equipment_id": interval.equipment_id,
        "state": interval.state,
        "state_label": EquipmentState(interval.state).label,
        "start_at": iso_or_none(interval.start_at),
        "end_at": iso_or_none(interval.end_at),
        "duration_s": round(_duration_s(interval.start_at, interval.end_at, now), 1),
        "reason_id": reason.pk if reason else None,
        "reason_code": reason.code if reason else None,
        "reason_name": reason.name if reason else None,
        "needs_reason": interval.needs_reason,
        "is_minor_stop": interval.is_minor_stop,
    }


def oee_dict(snapshot: OeeSnapshot | None) -> dict[str, Any] | None:
    if snapshot is None:
        return None
    return {
        "scope": snapshot.scope,
        "scope_id": snapshot.scope_id,
        "period": snapshot.period,
        "period_start_at": iso_or_none(snapshot.period_start_at),
        "period_end_at": iso_or_none(snapshot.period_end_at),
        "is_closed": snapshot.is_closed,
        "availability": snapshot.availability,
        "effectiveness": snapshot.effectiveness,
        "quality_ratio": snapshot.quality_ratio,
        "oee": snapshot.oee,
        "good_quantity": snapshot.good_quantity,
        "scrap_quantity": snapshot.scrap_quantity,
        "produced_quantity": snapshot.produced_quantity,
        "no_data_time_s": snapshot.no_data_time_s,
        "computed_at": iso_or_none(snapshot.computed_at),
    }


PERIOD_PREFERENCE = (OeePeriod.SHIFT, OeePeriod.DAY, OeePeriod.HOUR)


def oee_latest_snapshots(scope: str, scope_ids: list[int]) -> dict[int, dict | None]:
    """The latest stored OEE of each scope object: its shift snapshot, else day, else hour."""
    since = timezone.now() - timedelta(days=2)
    snapshots = OeeSnapshot.objects.filter(
        scope=scope,
        scope_id__in=scope_ids,
        period__in=PERIOD_PREFERENCE,
        period_start_at__gte=since,
    ).order_by("-period_start_at")
    best: dict[int, OeeSnapshot] = {}
    for snapshot in snapshots:
        current = best.get(snapshot.scope_id)
        if current is None or PERIOD_PREFERENCE.index(snapshot.period) < PERIOD_PREFERENCE.index(
            current.period
        ):
            best[snapshot.scope_id] = snapshot
    return {scope_id: oee_dict(best.get(scope_id)) for scope_id in scope_ids}


def oee_current(scope: str, scope_ids: list[int]) -> dict[int, dict | None]:
    """The OEE to show now: the live OEE of the open shift (monitoring's accumulators) where
    it has a value, else the latest stored snapshot."""
    shown = oee_latest_snapshots(scope, scope_ids)
    try:
        reports = production_oee.oee_current(scope=scope, scope_ids=scope_ids)
    except Exception:  # the live accumulators are an optimisation; snapshots still show
        logger.warning("live OEE unavailable; showing snapshots", exc_info=True)
        return shown
    for scope_id, report in reports.items():
        kpis = report.get("kpis") or {}
        if kpis.get("oee") is None:
            continue
        shown[scope_id] = {
            "scope": scope,
            "scope_id": scope_id,
            "period": f"{report.get('shift') or 'shift'}, live",
            "period_start_at": iso_or_none(report.get("period_start_at")),
            "period_end_at": iso_or_none(report.get("period_end_at")),
            "is_closed": not report.get("is_open", True),
            "availability": kpis.get("availability"),
            "effectiveness": kpis.get("effectiveness"),
            "quality_ratio": kpis.get("quality_ratio"),
            "oee": kpis.get("oee"),
            "good_quantity": report["elements"].get("good_quantity"),
            "scrap_quantity": report["elements"].get("scrap_quantity"),
            "produced_quantity": report["elements"].get("produced_quantity"),
            "no_data_time_s": report["elements"].get("no_data_time_s"),
            "computed_at": iso_or_none(report.get("computed_at")),
        }
    return shown


def _alert_dict(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.pk,
        "severity": alert.severity,
        "state": alert.state,
        "message": alert.message,
        "value": alert.value,
        "raised_at": iso_or_none(alert.raised_at),
        "equipment_id": alert.equipment_id,
        "equipment_code": alert.equipment.code if alert.equipment_id else None,
        "line_id": alert.line_id,
        "acknowledged_at": iso_or_none(alert.acknowledged_at),
        "acknowledged_by": alert.acknowledged_by.get_username() if alert.acknowledged_by else None,
    }


def alerts_open(
    *,
    user,
    site_id: int | None = None,
    line_id: int | None = None,
    equipment_id: int | None = None,
    limit: int = 50,
) -> list[dict]:
    """Active and acknowledged (not cleared) alerts in the user's scope, newest first (the
    API's alert list: a line-scoped user sees only the alerts of their lines)."""
    alerts = alert_list(user=user).exclude(state=AlertState.CLEARED)
    if equipment_id is not None:
        alerts = alerts.filter(equipment_id=equipment_id)
    elif line_id is not None:
        alerts = alerts.filter(Q(line_id=line_id) | Q(equipment__cell__line_id=line_id))
    elif site_id is not None:
        alerts = alerts.filter(
            Q(line__area__site_id=site_id) | Q(equipment__cell__line__area__site_id=site_id)
        )
    return [_alert_dict(alert) for alert in alerts.order_by("-raised_at", "-id")[:limit]]


def stops_recent(
    *,
    user,
    site_id: int | None = None,
    line_id: int | None = None,
    equipment_id: int | None = None,
    since: datetime | None = None,
    limit: int = 20,
) -> list[dict]:
    """Recent unplanned stops (down, setup, starved, blocked, idle) of the equipment in the
    user's scope, unclassified first."""
    now = timezone.now()
    since = since or now - timedelta(hours=24)
    intervals = (
        state_interval_list(user=user)
        .filter(state__in=LOSS_STATES)
        .filter(Q(end_at__isnull=True) | Q(end_at__gt=since))
    )
    if equipment_id is not None:
        intervals = intervals.filter(equipment_id=equipment_id)
    elif line_id is not None:
        intervals = intervals.filter(equipment__cell__line_id=line_id)
    elif site_id is not None:
        intervals = intervals.filter(equipment__cell__line__area__site_id=site_id)
    rows = []
    for interval in intervals.order_by("-needs_reason", "-start_at")[:limit]:
        row = _interval_dict(interval, now)
        row["equipment_code"] = interval.equipment.code
        row["classified_by"] = (
            interval.classified_by.get_username() if interval.classified_by else None
        )
        rows.append(row)
    return rows


def _work_order_dict(work_order: WorkOrder) -> dict[str, Any]:
    progress = (work_order.quantity_good / work_order.quantity) if work_order.quantity else 0.0
    return {
        "id": work_order.pk,
        "number": work_order.number,
        "product_code": work_order.product.code,
        "quantity": work_order.quantity,
        "quantity_good": work_order.quantity_good,
        "quantity_scrap": work_order.quantity_scrap,
        "progress": min(progress, 1.0),
        "state": work_order.state,
        "state_label": WorkOrderState(work_order.state).label,
        "due_at": iso_or_none(work_order.due_at),
        "is_late": work_order.due_at < timezone.now(),
        "line_id": work_order.line_id,
    }


def work_orders_current(line_ids: list[int]) -> dict[int, list[dict]]:
    """Work orders in progress or paused on each line, most urgent first."""
    by_line: dict[int, list[dict]] = {line_id: [] for line_id in line_ids}
    work_orders = (
        WorkOrder.objects.filter(
            line_id__in=line_ids, state__in=[WorkOrderState.IN_PROGRESS, WorkOrderState.PAUSED]
        )
        .select_related("product")
        .order_by("due_at", "priority")
    )
    for work_order in work_orders:
        by_line[work_order.line_id].append(_work_order_dict(work_order))
    return by_line


# --- snapshots (what a (re)subscribing client gets first) ------------------------------


def equipment_dict(machine: Equipment) -> dict[str, Any]:
    return {
        "id": machine.pk,
        "code": machine.code,
        "name": machine.name,
        "line_id": machine.cell.line_id,
        "uns_path": machine.uns_path,
    }


def station_current_operation(equipment_id: int) -> Operation | None:
    return (
        Operation.objects.filter(
            assigned_equipment_id=equipment_id,
            state__in=[OperationState.IN_PROGRESS, OperationState.PAUSED],
        )
        .select_related("work_order__product", "capability", "assigned_equipment", "template")
        .order_by("-actual_start_at")
        .first()
    )
