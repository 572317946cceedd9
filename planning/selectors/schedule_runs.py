"""Reads of schedule runs: the runs in the user's scope, the current plan, its entries."""

from __future__ import annotations

import copy
from typing import Any

from django.db.models import Max, QuerySet

from mes_site.scope import scope_filter, scope_get
from planning.choices import ScheduleRunStatus
from planning.models import ScheduledOperation, ScheduleRun
from production.models import Line
from production.selectors.plant import equipment_list, operation_list, work_order_list

__all__ = [
    "latest_run_of_sites",
    "schedule_run_current",
    "schedule_run_list",
    "schedule_run_scoped",
    "scheduled_operation_list",
]


def schedule_run_list(*, user) -> QuerySet[ScheduleRun]:
    """Runs of the sites in scope; a user scoped to lines sees the runs of their sites (the
    Gantt then shows only their lines' machines)."""
    queryset = ScheduleRun.objects.select_related("site", "requested_by")
    scope = scope_get(user)
    if scope.is_unrestricted:
        return queryset
    site_ids = set(scope.site_ids) | set(
        Line.objects.filter(pk__in=scope.line_ids).values_list("area__site_id", flat=True)
    )
    return queryset.filter(site_id__in=site_ids)


def schedule_run_current(*, site_id: int) -> ScheduleRun | None:
    return ScheduleRun.objects.filter(site_id=site_id, is_current=True).first()


def scheduled_operation_list(*, run: ScheduleRun, user) -> QuerySet[ScheduledOperation]:
    """The run's planned operations on the machines in the user's scope (a run is per site;
    a user scoped to lines sees their lines' machines only)."""
    return scope_filter(
        ScheduledOperation.objects.filter(run=run)
        .select_related("equipment", "operation__work_order")
        .order_by("equipment__uns_path", "position"),
        user,
        line="equipment__cell__line_id",
        site="equipment__cell__line__area__site_id",
    )


def schedule_run_scoped(*, run: ScheduleRun, user) -> ScheduleRun:
    """The run as the user may see it: for a user scoped to some lines of the run's site, an
    unsaved copy whose changes, unschedulable work, warnings and inputs name only the work
    orders and machines in scope (the site-wide counts stay)."""
    scope = scope_get(user)
    if scope.is_unrestricted or run.site_id in scope.site_ids:
        return run
    equipment_ids = set(
        equipment_list(user=user)
        .filter(cell__line__area__site_id=run.site_id)
        .values_list("pk", flat=True)
    )
    work_orders = set(
        work_order_list(user=user).filter(site_id=run.site_id).values_list("number", flat=True)
    )
    inputs: dict[str, Any] = dict(run.inputs or {})
    for key in ("machines", "running"):
        inputs[key] = [
            item for item in inputs.get(key, []) if item.get("equipment_id") in equipment_ids
        ]
    inputs["down_equipment_ids"] = [
        equipment_id
        for equipment_id in inputs.get("down_equipment_ids", [])
        if equipment_id in equipment_ids
    ]
    pinned = inputs.get("pinned") or {}
    visible_operations = {
        str(pk)
        for pk in operation_list(user=user)
        .filter(pk__in=[int(key) for key in pinned])
        .values_list("pk", flat=True)
    }
    inputs["pinned"] = {key: value for key, value in pinned.items() if key in visible_operations}
    shown = copy.copy(run)
    shown.inputs = inputs
    shown.changes = [item for item in run.changes or [] if item.get("work_order") in work_orders]
    shown.unschedulable = [
        item for item in run.unschedulable or [] if item.get("work_order") in work_orders
    ]
    shown.warnings = [
        item
        for item in run.warnings or []
        if "work_order" not in item or item["work_order"] in work_orders
    ]
    return shown


def latest_run_of_sites() -> dict[int, ScheduleRun]:
    """Per site with open work or a plan, the latest finished run (for the periodic check)."""
    latest_ids = (
        ScheduleRun.objects.filter(
            status__in=[ScheduleRunStatus.SUCCEEDED, ScheduleRunStatus.FAILED]
        )
        .values("site_id")
        .annotate(latest=Max("pk"))
        .values_list("latest", flat=True)
    )
    return {run.site_id: run for run in ScheduleRun.objects.filter(pk__in=list(latest_ids))}
