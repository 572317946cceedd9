"""Celery tasks of the scheduling area (thin: ids in, one service call).

``schedule_*`` tasks run on the ``scheduling`` queue (``CELERY_TASK_ROUTES``); the backlog
retry is cheap and runs on ``default``.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from mes_site.tasks import DatabaseRetryTask
from planning.selectors.dispatch import backlog_area_ids
from planning.services import schedule_runs
from planning.services.dispatch import customer_orders_backlog_retry

RUN_TIME_LIMIT_S = 300


@shared_task(
    bind=True,
    name="planning.tasks.schedule_run_execute",
    base=DatabaseRetryTask,
    acks_late=True,
    max_retries=None,
    soft_time_limit=RUN_TIME_LIMIT_S,
    time_limit=RUN_TIME_LIMIT_S + 30,
)
def schedule_run_execute(self, run_id: int) -> str:
    """Run one queued schedule run; while another run of the site runs, try again shortly."""
    outcome = schedule_runs.schedule_run_execute(run_id=run_id)
    if outcome == schedule_runs.RunOutcome.BUSY:
        raise self.retry(countdown=float(getattr(settings, "SCHEDULING_BUSY_RETRY_S", 5.0)))
    return outcome.value


@shared_task(name="planning.tasks.schedule_runs_maintain", soft_time_limit=90, time_limit=120)
def schedule_runs_maintain() -> dict:
    """Beat: recover lost runs, re-plan sites whose input changed, prune the old plans."""
    recovered = schedule_runs.schedule_runs_recover()
    requested = schedule_runs.schedule_sites_check()
    pruned = schedule_runs.schedule_runs_prune()
    return {**recovered, "requested": [run.pk for run in requested], "pruned": pruned}


@shared_task(name="planning.tasks.dispatch_backlog_retry", soft_time_limit=90, time_limit=120)
def dispatch_backlog_retry() -> dict:
    """Beat: dispatch backlogged customer orders wherever line capacity has freed."""
    dispatched: dict[int, list[str]] = {}
    for area_id in backlog_area_ids():
        orders = customer_orders_backlog_retry(area_id=area_id)
        if orders:
            dispatched[area_id] = [order.number for order in orders]
    return dispatched
