"""Reads behind the live screens: websocket targets, current-state snapshots and panels.

Everything here is scoped by the user's plant scope (``scope_get``) and returns plain data
(dicts of JSON-able values) that the consumer sends as a snapshot and the templates render.
Panels read the models the foundation defines; where another area's richer selector exists
it is used instead (see ``docs/live.md``).
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db.models import Max, Q, Sum
from django.utils import timezone

from autonomy.choices import ActionStatus
from autonomy.models import ProposedAction
from planning.choices import CustomerOrderState
from planning.models import CustomerOrder, CustomerOrderLine, ScheduledOperation, ScheduleRun
from production.api.serializers import OperationSerializer
from production.choices import (
    AlertState,
    EquipmentState,
    OeePeriod,
    OeeScope,
    OperationState,
    WorkOrderState,
)
from production.models import (
    Alert,
    Equipment,
    EquipmentStateInterval,
    Line,
    OeeSnapshot,
    Operation,
    Site,
    WorkOrder,
)
from production.selectors.plant import equipment_list, line_list, scope_get, site_list
from workers.algorithms.lttb import lttb_indices

logger = logging.getLogger(__name__)

TARGET_PATTERN = re.compile(r"^(site|line|equipment)\.([1-9][0-9]{0,17})$")
TARGET_KINDS = ("site", "line", "equipment")
VIEW_PERMISSION = {
    "site": "production.view_site",
    "line": "production.view_line",
    "equipment": "production.view_equipment",
}
# States that are a loss in the Pareto (planned stops and no-data time are not losses).
LOSS_STATES = {
    EquipmentState.DOWN,
    EquipmentState.SETUP,
    EquipmentState.IDLE,
    EquipmentState.STARVED,
    EquipmentState.BLOCKED,
}
OPEN_ACTION_STATUSES = (ActionStatus.PROPOSED, ActionStatus.AWAITING_APPROVAL)


class TargetUnknown(ValueError):
    """The subscription target is not of the form site.<id>, line.<id> or equipment.<id>."""


class TargetRefused(PermissionError):
    """The target does not exist or is outside the user's plant scope (told apart by nobody)."""


@dataclass(frozen=True)
class LiveTarget:
    kind: str
    object_id: int
    site_id: int
    line_id: int | None

    @property
    def group(self) -> str:
        return f"{self.kind}.{self.object_id}"


def live_user_get(user_id: int):
    """A fresh, active user (no cached scope or permissions), or None."""
    return get_user_model().objects.filter(pk=user_id, is_active=True).first()


def live_target_authorize(*, user, target: str) -> LiveTarget:
    """Resolve ``target`` and check that ``user`` may watch it.

    Raises TargetUnknown for a malformed target and TargetRefused for one that does not
    exist or lies outside the user's scope (the same answer, so ids do not leak).
    """
    match = TARGET_PATTERN.match(target) if isinstance(target, str) else None
    if match is None:
        raise TargetUnknown(
            f"Unknown subscription target {str(target)[:80]!r}: use site.<id>, line.<id> "
            "or equipment.<id>."
        )
    kind, object_id = match.group(1), int(match.group(2))
    refused = TargetRefused(
        f"You may not watch {target}: it is outside your plant scope or does not exist."
    )
    if user is None or not user.is_authenticated or not user.has_perm(VIEW_PERMISSION[kind]):
        raise refused
    scope = scope_get(user)
    if kind == "site":
        if not Site.objects.filter(pk=object_id).exists():
            raise refused
        if not (scope.is_unrestricted or object_id in scope.site_ids):
            raise refused
        return LiveTarget(kind, object_id, object_id, None)
    if kind == "line":
        row = Line.objects.filter(pk=object_id).values("id", "area__site_id").first()
        if row is None or not scope.allows_line(row["id"], row["area__site_id"]):
            raise refused
        return LiveTarget(kind, object_id, row["area__site_id"], row["id"])
    row = (
        Equipment.objects.filter(pk=object_id)
        .values("id", "cell__line_id", "cell__line__area__site_id")
        .first()
    )
    if row is None or not scope.allows_line(row["cell__line_id"], row["cell__line__area__site_id"]):
        raise refused
    return LiveTarget(kind, object_id, row["cell__line__area__site_id"], row["cell__line_id"])


# --- small building blocks -------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
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
        "start_at": _iso(interval.start_at),
        "end_at": _iso(interval.end_at),
        "duration_s": round(_duration_s(interval.start_at, interval.end_at, now), 1),
        "reason_id": reason.pk if reason else None,
        "reason_code": reason.code if reason else None,
        "reason_name": reason.name if reason else None,
        "needs_reason": interval.needs_reason,
        "is_minor_stop": interval.is_minor_stop,
    }


def _oee_dict(snapshot: OeeSnapshot | None) -> dict[str, Any] | None:
    if snapshot is None:
        return None
    return {
        "scope": snapshot.scope,
        "scope_id": snapshot.scope_id,
        "period": snapshot.period,
        "period_start_at": _iso(snapshot.period_start_at),
        "period_end_at": _iso(snapshot.period_end_at),
        "is_closed": snapshot.is_closed,
        "availability": snapshot.availability,
        "effectiveness": snapshot.effectiveness,
        "quality_ratio": snapshot.quality_ratio,
        "oee": snapshot.oee,
        "good_quantity": snapshot.good_quantity,
        "scrap_quantity": snapshot.scrap_quantity,
        "produced_quantity": snapshot.produced_quantity,
        "no_data_time_s": snapshot.no_data_time_s,
        "computed_at": _iso(snapshot.computed_at),
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
    return {scope_id: _oee_dict(best.get(scope_id)) for scope_id in scope_ids}


def oee_current(scope: str, scope_ids: list[int]) -> dict[int, dict | None]:
    """The OEE to show now: the live OEE of the open shift (monitoring's accumulators) where
    it has a value, else the latest stored snapshot."""
    shown = oee_latest_snapshots(scope, scope_ids)
    try:
        from production.selectors import oee as production_oee

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
            "period_start_at": _iso(report.get("period_start_at")),
            "period_end_at": _iso(report.get("period_end_at")),
            "is_closed": not report.get("is_open", True),
            "availability": kpis.get("availability"),
            "effectiveness": kpis.get("effectiveness"),
            "quality_ratio": kpis.get("quality_ratio"),
            "oee": kpis.get("oee"),
            "good_quantity": report["elements"].get("good_quantity"),
            "scrap_quantity": report["elements"].get("scrap_quantity"),
            "produced_quantity": report["elements"].get("produced_quantity"),
            "no_data_time_s": report["elements"].get("no_data_time_s"),
            "computed_at": _iso(report.get("computed_at")),
        }
    return shown


def _alert_dict(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.pk,
        "severity": alert.severity,
        "state": alert.state,
        "message": alert.message,
        "value": alert.value,
        "raised_at": _iso(alert.raised_at),
        "equipment_id": alert.equipment_id,
        "equipment_code": alert.equipment.code if alert.equipment_id else None,
        "line_id": alert.line_id,
        "acknowledged_at": _iso(alert.acknowledged_at),
        "acknowledged_by": alert.acknowledged_by.get_username() if alert.acknowledged_by else None,
    }


def alerts_open(
    *,
    site_id: int | None = None,
    line_id: int | None = None,
    equipment_id: int | None = None,
    limit: int = 50,
) -> list[dict]:
    """Active and acknowledged (not cleared) alerts, newest first."""
    alerts = Alert.objects.exclude(state=AlertState.CLEARED).select_related(
        "equipment", "acknowledged_by"
    )
    if equipment_id is not None:
        alerts = alerts.filter(equipment_id=equipment_id)
    elif line_id is not None:
        alerts = alerts.filter(Q(line_id=line_id) | Q(equipment__cell__line_id=line_id))
    elif site_id is not None:
        alerts = alerts.filter(
            Q(line__area__site_id=site_id) | Q(equipment__cell__line__area__site_id=site_id)
        )
    return [_alert_dict(alert) for alert in alerts.order_by("-raised_at")[:limit]]


def stops_recent(
    *,
    site_id: int | None = None,
    line_id: int | None = None,
    equipment_id: int | None = None,
    since: datetime | None = None,
    limit: int = 20,
) -> list[dict]:
    """Recent unplanned stops (down, setup, starved, blocked, idle), unclassified first."""
    now = timezone.now()
    since = since or now - timedelta(hours=24)
    intervals = (
        EquipmentStateInterval.objects.filter(state__in=LOSS_STATES)
        .filter(Q(end_at__isnull=True) | Q(end_at__gt=since))
        .select_related("reason", "equipment", "classified_by")
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
        "due_at": _iso(work_order.due_at),
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


def _equipment_dict(machine: Equipment) -> dict[str, Any]:
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


def operation_dict(operation: Operation | None) -> dict[str, Any] | None:
    if operation is None:
        return None
    data = dict(OperationSerializer(operation).data)
    data["state_label"] = OperationState(operation.state).label
    data["work_order_number"] = operation.work_order.number
    data["work_order_state"] = operation.work_order.state
    data["work_order_quantity"] = operation.work_order.quantity
    data["product_code"] = operation.work_order.product.code
    return data


def health_latest(equipment_ids: list[int]) -> dict[int, dict]:
    """The latest assessed health snapshot of each equipment (α, δ, RUL band, advice)."""
    model = _health_model()
    if model is None or not equipment_ids:
        return {}
    assessed = model.objects.filter(equipment_id__in=equipment_ids, alpha__isnull=False)
    newest = assessed.values("equipment_id").annotate(newest_ts=Max("ts"))
    condition = Q(pk__in=[])
    for row in newest:
        condition |= Q(equipment_id=row["equipment_id"], ts=row["newest_ts"])
    latest: dict[int, dict] = {}
    for row in assessed.filter(condition).order_by("equipment_id", "-pk"):
        latest.setdefault(row.equipment_id, _health_dict(row))
    return latest


def _health_model():
    """maintenance.HealthSnapshot, or None where the maintenance app does not have it."""
    try:
        return apps.get_model("maintenance", "HealthSnapshot")
    except LookupError:
        return None


def _health_dict(row) -> dict[str, Any]:
    return {
        "equipment_id": row.equipment_id,
        "ts": _iso(row.ts),
        "alpha": row.alpha,
        "delta_per_h": row.degradation_slope_per_h,
        "health_index": row.health_index,
        "rul_state": row.rul_state,
        "rul_p10_h": row.rul_p10_h,
        "rul_p50_h": row.rul_p50_h,
        "rul_p90_h": row.rul_p90_h,
        "recommendation": row.recommendation,
        "is_anomaly": row.is_anomaly,
    }


def live_snapshot(*, target: LiveTarget) -> dict[str, Any]:
    """The current state of a subscription target (sent before any delta)."""
    now = timezone.now()
    if target.kind == "equipment":
        machine = Equipment.objects.select_related("cell__line").get(pk=target.object_id)
        return {
            "equipment": _equipment_dict(machine),
            "state": equipment_states([machine.pk], now=now).get(machine.pk),
            "operation": operation_dict(station_current_operation(machine.pk)),
            "oee": oee_current(OeeScope.EQUIPMENT, [machine.pk])[machine.pk],
            "alerts": alerts_open(equipment_id=machine.pk),
            "stops": stops_recent(equipment_id=machine.pk, limit=10),
            "health": health_latest([machine.pk]).get(machine.pk),
        }
    if target.kind == "line":
        line = Line.objects.select_related("area").get(pk=target.object_id)
        machines = list(
            Equipment.objects.filter(cell__line=line).select_related("cell").order_by("uns_path")
        )
        states = equipment_states([machine.pk for machine in machines], now=now)
        return {
            "line": {
                "id": line.pk,
                "code": line.code,
                "name": line.name,
                "site_id": target.site_id,
            },
            "equipment": [
                {**_equipment_dict(machine), "state": states.get(machine.pk)}
                for machine in machines
            ],
            "work_orders": work_orders_current([line.pk])[line.pk],
            "oee": oee_current(OeeScope.LINE, [line.pk])[line.pk],
            "alerts": alerts_open(line_id=line.pk),
            "stops": stops_recent(line_id=line.pk, limit=10),
        }
    site = Site.objects.get(pk=target.object_id)
    return {
        "site": {
            "id": site.pk,
            "code": site.code,
            "name": site.name,
            "autonomy_mode": site.autonomy_mode,
        },
        "lines": list(
            Line.objects.filter(area__site=site).order_by("code").values_list("id", flat=True)
        ),
        "actions": proposed_actions_open(site_id=site.pk),
        "oee": oee_current(OeeScope.SITE, [site.pk])[site.pk],
    }


# --- supervisor dashboard panels -------------------------------------------------------


def dashboard_site_get(*, user, site_id: int | None) -> Site | None:
    """The site the dashboard shows: the requested one if in scope, else the first."""
    sites = site_list(user=user).order_by("code")
    if site_id is not None:
        chosen = sites.filter(pk=site_id).first()
        if chosen is not None:
            return chosen
    return sites.first()


def lines_overview(*, user, site_id: int) -> list[dict]:
    """Each line of the site in scope: equipment tiles with states, OEE, work orders, alerts."""
    now = timezone.now()
    lines = list(line_list(user=user).filter(area__site_id=site_id).order_by("area__code", "code"))
    line_ids = [line.pk for line in lines]
    machines = list(
        equipment_list(user=user).filter(cell__line_id__in=line_ids).order_by("uns_path")
    )
    states = equipment_states([machine.pk for machine in machines], now=now)
    oee = oee_current(OeeScope.LINE, line_ids)
    work_orders = work_orders_current(line_ids)
    alert_counts: dict[int, int] = defaultdict(int)
    for alert in Alert.objects.exclude(state=AlertState.CLEARED).values(
        "line_id", "equipment__cell__line_id"
    ):
        line_id = alert["line_id"] or alert["equipment__cell__line_id"]
        if line_id is not None:
            alert_counts[line_id] += 1
    by_line: dict[int, list[dict]] = defaultdict(list)
    for machine in machines:
        state = states.get(machine.pk)
        by_line[machine.cell.line_id].append(
            {
                **_equipment_dict(machine),
                "state": state["state"] if state else "unknown",
                "state_label": state["state_label"] if state else "No data",
                "since": state["start_at"] if state else None,
                "needs_reason": bool(state and state["needs_reason"]),
            }
        )
    return [
        {
            "id": line.pk,
            "code": line.code,
            "name": line.name,
            "area": line.area.name,
            "equipment": by_line.get(line.pk, []),
            "oee": oee.get(line.pk),
            "work_orders": work_orders.get(line.pk, []),
            "open_alerts": alert_counts.get(line.pk, 0),
        }
        for line in lines
    ]


def loss_pareto(*, user, site_id: int, hours: float = 24.0) -> dict[str, Any]:
    """Lost time by reason over the last ``hours``, largest first (monitoring's definition:
    shift time only, planned downtime excluded, unexplained stops grouped by state).

    A user scoped to some lines of the site gets the sum over those lines only.
    """
    from production.selectors import losses

    now = timezone.now()
    since = now - timedelta(hours=hours)
    scope = scope_get(user)
    if scope.is_unrestricted or site_id in scope.site_ids:
        parts = [losses.loss_pareto(scope="site", scope_id=site_id, start=since, end=now)]
    else:
        line_ids = line_list(user=user).filter(area__site_id=site_id).values_list("id", flat=True)
        parts = [
            losses.loss_pareto(scope="line", scope_id=line_id, start=since, end=now)
            for line_id in line_ids
        ]
    totals: dict[str, dict[str, Any]] = {}
    for part in parts:
        for row in part["rows"]:
            merged = totals.setdefault(
                row["key"], {"label": row["label"], "duration_s": 0.0, "stop_count": 0}
            )
            merged["duration_s"] += row["duration_s"]
            merged["stop_count"] += row["stop_count"]
    ordered = sorted(totals.values(), key=lambda row: (-row["duration_s"], row["label"]))
    total_s = sum(row["duration_s"] for row in ordered)
    cumulative = 0.0
    rows = []
    for row in ordered:
        cumulative += row["duration_s"]
        rows.append({**row, "cumulative_share": cumulative / total_s if total_s else 0.0})
    return {"since": since, "until": now, "hours": hours, "rows": rows, "total_s": total_s}


def oee_trend(*, scope: str, scope_ids: list[int], hours: float = 24.0) -> dict[int, list[dict]]:
    """Hourly OEE of each scope object over the last ``hours`` (shift snapshots if no hours)."""
    since = timezone.now() - timedelta(hours=hours)
    trend: dict[int, list[dict]] = {scope_id: [] for scope_id in scope_ids}
    for period, window in ((OeePeriod.HOUR, since), (OeePeriod.SHIFT, since - timedelta(days=6))):
        snapshots = OeeSnapshot.objects.filter(
            scope=scope, scope_id__in=scope_ids, period=period, period_start_at__gte=window
        ).order_by("period_start_at")
        for snapshot in snapshots:
            if period == OeePeriod.SHIFT and any(
                row["period"] == OeePeriod.HOUR for row in trend[snapshot.scope_id]
            ):
                continue
            trend[snapshot.scope_id].append(_oee_dict(snapshot))
    return trend


def schedule_gantt(*, user, site_id: int) -> dict[str, Any] | None:
    """The site's current plan, one row per machine in scope, with its operations."""
    run = ScheduleRun.objects.filter(site_id=site_id, is_current=True).first()
    if run is None:
        return None
    allowed = set(
        equipment_list(user=user)
        .filter(cell__line__area__site_id=site_id)
        .values_list("id", flat=True)
    )
    entries = (
        ScheduledOperation.objects.filter(run=run, equipment_id__in=allowed)
        .select_related("equipment", "operation__work_order")
        .order_by("equipment__uns_path", "position")
    )
    rows: dict[int, dict] = {}
    start_at: datetime | None = None
    end_at: datetime | None = None
    for entry in entries:
        row = rows.setdefault(
            entry.equipment_id,
            {"equipment_id": entry.equipment_id, "code": entry.equipment.code, "bars": []},
        )
        row["bars"].append(
            {
                "operation_id": entry.operation_id,
                "label": f"{entry.operation.work_order.number}/{entry.operation.sequence}",
                "name": entry.operation.name,
                "state": entry.operation.state,
                "start_at": entry.planned_start_at,
                "end_at": entry.planned_end_at,
                "priority": entry.priority,
                "explanation": entry.explanation,
            }
        )
        start_at = min(start_at, entry.planned_start_at) if start_at else entry.planned_start_at
        end_at = max(end_at, entry.planned_end_at) if end_at else entry.planned_end_at
    return {
        "run_id": run.pk,
        "finished_at": run.finished_at,
        "trigger": run.get_trigger_display(),
        "makespan_s": run.makespan_s,
        "changes": run.changes if isinstance(run.changes, list) else [],
        "unschedulable": run.unschedulable if isinstance(run.unschedulable, list) else [],
        "rows": list(rows.values()),
        "start_at": start_at,
        "end_at": end_at,
    }


LOADING_STATES = (CustomerOrderState.DISPATCHED, CustomerOrderState.IN_PROGRESS)
BACKLOG_STATES = (CustomerOrderState.PENDING, CustomerOrderState.BACKLOG)


def dispatch_overview(*, user, site_id: int) -> list[dict]:
    """Per dispatch area of the site: line loads against capacity, backlog, last decisions."""
    lines = list(
        line_list(user=user)
        .filter(area__site_id=site_id, area__dispatch_policy__isnull=False)
        .select_related("area__dispatch_policy")
        .order_by("area__code", "code")
    )
    areas: dict[int, dict] = {}
    for line in lines:
        area = areas.setdefault(
            line.area_id,
            {
                "id": line.area_id,
                "name": line.area.name,
                "threshold": line.area.dispatch_policy.imbalance_threshold,
                "lines": [],
            },
        )
        load = (
            CustomerOrderLine.objects.filter(
                order__line=line, order__state__in=LOADING_STATES
            ).aggregate(units=Sum("quantity"))["units"]
            or 0
        )
        area["lines"].append(
            {
                "id": line.pk,
                "code": line.code,
                "capacity_units": line.capacity_units,
                "load_units": load,
                "load_share": load / line.capacity_units if line.capacity_units else 0.0,
                "orders": CustomerOrder.objects.filter(line=line, state__in=LOADING_STATES).count(),
            }
        )
    for area in areas.values():
        backlog = CustomerOrder.objects.filter(area_id=area["id"], state__in=BACKLOG_STATES)
        area["backlog_orders"] = backlog.count()
        area["backlog_units"] = (
            CustomerOrderLine.objects.filter(order__in=backlog).aggregate(units=Sum("quantity"))[
                "units"
            ]
            or 0
        )
        decisions = (
            CustomerOrder.objects.filter(area_id=area["id"], dispatched_at__isnull=False)
            .select_related("line")
            .order_by("-dispatched_at")[:6]
        )
        area["decisions"] = [
            {
                "number": order.number,
                "line_code": order.line.code if order.line else None,
                "state": order.get_state_display(),
                "dispatched_at": order.dispatched_at,
                "why": explanation_text(order.dispatch_explanation),
            }
            for order in decisions
        ]
    return list(areas.values())


def explanation_text(explanation: Any) -> str:
    """A one-line reading of a decision's explanation (text, or the dict's telling keys)."""
    if not explanation:
        return ""
    if isinstance(explanation, str):
        return explanation
    if isinstance(explanation, dict):
        for key in ("summary", "text", "reason", "message", "rule"):
            if isinstance(explanation.get(key), str) and explanation[key]:
                return explanation[key]
        parts = []
        for key, value in list(explanation.items())[:6]:
            if isinstance(value, float):
                value = f"{value:.3g}"
            elif isinstance(value, dict | list):
                continue
            parts.append(f"{key.replace('_', ' ')}: {value}")
        return "; ".join(parts)
    return str(explanation)[:300]


def proposed_action_dict(action: ProposedAction) -> dict[str, Any]:
    return {
        "id": action.pk,
        "kind": action.kind,
        "kind_label": action.get_kind_display(),
        "risk": action.risk,
        "status": action.status,
        "status_label": action.get_status_display(),
        "target": action.target,
        "explanation": action.explanation,
        "created_at": _iso(action.created_at),
        "decided_by": action.decided_by.get_username() if action.decided_by else None,
        "signature_name": action.signature_name,
        "decided_at": _iso(action.decided_at),
        "result": action.result,
    }


def proposed_actions_open(*, site_id: int, limit: int = 50) -> list[dict]:
    actions = (
        ProposedAction.objects.filter(site_id=site_id, status__in=OPEN_ACTION_STATUSES)
        .select_related("decided_by")
        .order_by("-created_at")[:limit]
    )
    return [proposed_action_dict(action) for action in actions]


def proposed_actions_recent(*, site_id: int, limit: int = 10) -> list[dict]:
    actions = (
        ProposedAction.objects.filter(site_id=site_id)
        .exclude(status__in=OPEN_ACTION_STATUSES)
        .select_related("decided_by")
        .order_by("-created_at")[:limit]
    )
    return [proposed_action_dict(action) for action in actions]


def _downsampled(points: list[dict], *, max_points: int) -> list[dict]:
    """LTTB on (ts, α): the trend keeps its shape with at most ``max_points`` points."""
    if len(points) <= max_points:
        return points
    timestamps = [datetime.fromisoformat(point["ts"]).timestamp() for point in points]
    indices = lttb_indices(timestamps, [point["alpha"] for point in points], max_points)
    return [points[index] for index in indices]


def health_overview(
    *, user, site_id: int, hours: float = 72.0, trend_points: int = 120
) -> list[dict]:
    """Latest α and RUL band of each machine with health data, and its α trend."""
    model = _health_model()
    if model is None:
        return []
    machines = {
        machine.pk: machine
        for machine in equipment_list(user=user).filter(cell__line__area__site_id=site_id)
    }
    since = timezone.now() - timedelta(hours=hours)
    rows = model.objects.filter(
        equipment_id__in=list(machines), ts__gte=since, alpha__isnull=False
    ).order_by("ts")
    trends: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        trends[row.equipment_id].append(_health_dict(row))
    for equipment_id, points in trends.items():
        trends[equipment_id] = _downsampled(points, max_points=trend_points)
    latest = health_latest(list(machines))
    overview = []
    for equipment_id, health in latest.items():
        overview.append(
            {
                "equipment_id": equipment_id,
                "code": machines[equipment_id].code,
                "latest": health,
                "trend": trends.get(equipment_id, [health]),
            }
        )
    overview.sort(key=lambda row: -(row["latest"]["alpha"] or 0.0))
    return overview


# --- operator HMI ----------------------------------------------------------------------


def station_list(*, user) -> list[dict]:
    """Stations (equipment) in the user's scope grouped by line, for the HMI chooser."""
    machines = list(equipment_list(user=user).filter(is_active=True).order_by("uns_path"))
    states = equipment_states([machine.pk for machine in machines])
    lines: dict[int, dict] = {}
    for machine in machines:
        line = machine.cell.line
        entry = lines.setdefault(line.pk, {"id": line.pk, "code": line.code, "stations": []})
        state = states.get(machine.pk)
        entry["stations"].append(
            {
                "id": machine.pk,
                "code": machine.code,
                "name": machine.name,
                "state": state["state"] if state else "unknown",
                "state_label": state["state_label"] if state else "No data",
            }
        )
    return list(lines.values())


def station_queue(*, equipment: Equipment, limit: int = 6) -> list[Operation]:
    """Operations this station can start next: planned on it first, then matching work.

    Planned: the current schedule's entries for this machine, and operations assigned to it.
    Matching: the first open step of released or running work orders of its line whose
    capability the machine has.
    """
    queue: list[Operation] = []
    seen: set[int] = set()
    site_id = equipment.cell.line.area.site_id
    run = ScheduleRun.objects.filter(site_id=site_id, is_current=True).first()
    related = ("work_order__product", "capability", "assigned_equipment", "template")
    if run is not None:
        entries = (
            ScheduledOperation.objects.filter(
                run=run, equipment=equipment, operation__state=OperationState.PENDING
            )
            .select_related(*[f"operation__{name}" for name in related])
            .order_by("position")
        )
        for entry in entries:
            if entry.operation_id not in seen:
                seen.add(entry.operation_id)
                queue.append(entry.operation)
    assigned = (
        Operation.objects.filter(assigned_equipment=equipment, state=OperationState.PENDING)
        .select_related(*related)
        .order_by("work_order__due_at", "sequence")
    )
    candidates = list(assigned)
    capability_ids = list(equipment.capabilities.values_list("id", flat=True))
    open_work_orders = WorkOrder.objects.filter(
        line_id=equipment.cell.line_id,
        state__in=[WorkOrderState.RELEASED, WorkOrderState.IN_PROGRESS],
    ).order_by("due_at", "priority")[:50]
    first_open = {}
    for operation in (
        Operation.objects.filter(work_order__in=open_work_orders)
        .exclude(state__in=[OperationState.COMPLETED, OperationState.CANCELLED])
        .select_related(*related)
        .order_by("work_order__due_at", "work_order__priority", "work_order_id", "sequence")
    ):
        first_open.setdefault(operation.work_order_id, operation)
    candidates += [
        operation
        for operation in first_open.values()
        if operation.state == OperationState.PENDING
        and operation.capability_id in capability_ids
        and operation.assigned_equipment_id in (None, equipment.pk)
    ]
    for operation in candidates:
        if operation.pk not in seen:
            seen.add(operation.pk)
            queue.append(operation)
    return queue[:limit]


def station_view(*, equipment: Equipment) -> dict[str, Any]:
    """Everything the HMI shows for one station."""
    now = timezone.now()
    current = station_current_operation(equipment.pk)
    return {
        "equipment": equipment,
        "state": equipment_states([equipment.pk], now=now).get(equipment.pk),
        "operation": current,
        "operation_data": operation_dict(current),
        "queue": station_queue(equipment=equipment) if current is None else [],
        "oee": oee_current(OeeScope.EQUIPMENT, [equipment.pk])[equipment.pk],
        "alerts": alerts_open(equipment_id=equipment.pk, limit=10),
        "stops": stops_recent(equipment_id=equipment.pk, limit=8),
    }


def telemetry_urls(equipment_id: int) -> dict[str, str | None]:
    """URLs of the telemetry API for the equipment page (None where the API is absent).

    ``series`` has ``{id}`` where the signal id goes; ``current_values`` is this equipment's.
    """
    from django.urls import NoReverseMatch, reverse

    urls: dict[str, str | None] = {"series": None, "current_values": None}
    try:
        urls["series"] = reverse("telemetry-signal-series", kwargs={"signal_id": 0}).replace(
            "/0/", "/{id}/"
        )
        urls["current_values"] = reverse(
            "telemetry-current-values", kwargs={"equipment_id": equipment_id}
        )
    except NoReverseMatch:
        pass
    return urls
