"""The supervisor dashboard's planning panels: the schedule Gantt and order dispatch."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Sum

from live.selectors.actions import explanation_text
from planning.choices import CustomerOrderState
from planning.models import CustomerOrder, CustomerOrderLine, ScheduleRun
from planning.selectors.dispatch import customer_order_list
from planning.selectors.schedule_runs import schedule_run_scoped, scheduled_operation_list
from production.selectors.plant import line_list


def schedule_gantt(*, user, site_id: int) -> dict[str, Any] | None:
    """The site's current plan, one row per machine in scope, with its operations; the
    changes and unschedulable work of the work orders in scope."""
    run = ScheduleRun.objects.filter(site_id=site_id, is_current=True).first()
    if run is None:
        return None
    run = schedule_run_scoped(run=run, user=user)
    entries = scheduled_operation_list(run=run, user=user)
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
    """Per dispatch area of the site: line loads against capacity, backlog, last decisions
    (the lines and decisions of the user's scope; the backlog is the area's queue)."""
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
            customer_order_list(user=user)
            .filter(area_id=area["id"], dispatched_at__isnull=False)
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
