"""Reads of schedule runs: the runs in the user's scope, the current plan, its entries."""

from __future__ import annotations

from django.db.models import Max, QuerySet

from mes_site.scope import scope_get
from planning.choices import ScheduleRunStatus
from planning.models import ScheduledOperation, ScheduleRun
from production.models import Line

__all__ = [
    "latest_run_of_sites",
    "schedule_run_current",
    "schedule_run_list",
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


def scheduled_operation_list(*, run: ScheduleRun) -> QuerySet[ScheduledOperation]:
    return (
        ScheduledOperation.objects.filter(run=run)
        .select_related("equipment", "operation__work_order")
        .order_by("equipment__uns_path", "position")
    )


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
