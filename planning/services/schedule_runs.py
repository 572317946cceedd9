"""Writes of schedule runs: requests (debounced), execution, recovery, pruning and the
periodic check.

:func:`schedule_run_request` is the one entry point (health changes, machine changes, on
demand, the periodic check). Requests are debounced: while a run of the site is queued, new
requests are absorbed by it (its ``triggers`` list grows); the Celery task starts it
``SCHEDULING_DEBOUNCE_S`` seconds after the first request. :func:`schedule_run_execute` reads
the site (:func:`planning.selectors.scheduling_input.scheduling_input_load`), runs the pure
scheduler (keeping operations in place where a move gains little,
:mod:`planning.services.plan_stability`) and its improvement step, then stores the plan and
makes it the site's current plan (:mod:`planning.services.plan_store`).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from mes_site.errors import Conflict, NotFound, ValidationFailed
from mes_site.metrics import SCHEDULE_COMPUTATION
from mes_site.publish import broadcast, group_name
from planning.algorithms.scheduler.diff import diff_plans
from planning.algorithms.scheduler.improve import improve_plan
from planning.algorithms.scheduler.model import ImprovementConfig, SchedulerConfig
from planning.algorithms.scheduler.placement import schedule
from planning.choices import ScheduleRunStatus, ScheduleTrigger
from planning.models import ScheduleRun
from planning.selectors.machine_health import equipment_down_ids
from planning.selectors.schedule_runs import latest_run_of_sites, schedule_run_current
from planning.selectors.scheduling_input import (
    SCHEDULED_WORK_ORDER_STATES,
    scheduling_input_load,
)
from planning.services.plan_stability import plan_stabilise
from planning.services.plan_store import plan_store
from planning.services.values import jsonable, setting
from production.models import Equipment, Site, WorkOrder

logger = logging.getLogger(__name__)

__all__ = [
    "FINGERPRINT_TRIGGERS",
    "RunOutcome",
    "health_changed_receive",
    "schedule_on_equipment_state_change",
    "schedule_run_execute",
    "schedule_run_request",
    "schedule_runs_prune",
    "schedule_runs_recover",
    "schedule_sites_check",
]

RUN = ScheduleRunStatus


def _run_payload(run: ScheduleRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "site": run.site_id,
        "status": run.status,
        "progress_percent": run.progress_percent,
        "trigger": run.trigger,
        "is_current": run.is_current,
        "duration_ms": run.duration_ms,
    }


def _run_broadcast(run: ScheduleRun, *, is_progress: bool = False) -> None:
    broadcast(
        [group_name("site", run.site_id)],
        "schedule_run",
        _run_payload(run),
        aggregate=is_progress,
        subject=run.pk,
    )


def _run_enqueue(run_id: int, *, countdown_s: float | None = None) -> None:
    """Hand the run to the ``scheduling`` queue; a lost message is re-sent by the recovery."""
    # Imported here: planning.tasks imports this module (a service and its own Celery task).
    from planning.tasks import schedule_run_execute as task

    delay = setting("SCHEDULING_DEBOUNCE_S", 3.0) if countdown_s is None else countdown_s
    try:
        task.apply_async(args=[run_id], countdown=delay)
    except Exception:  # broker down: the periodic recovery enqueues queued runs again
        logger.warning("could not enqueue schedule run %s", run_id, exc_info=True)


def health_changed_receive(*, site_id: int, detail: str) -> None:
    """Machine health changed (``maintenance.hooks.health_changed``): ask for a new plan."""
    try:
        schedule_run_request(
            site_id=site_id, trigger=ScheduleTrigger.HEALTH_CHANGE, detail=detail[:300]
        )
    except Exception:  # the plan is refreshed periodically anyway
        logger.warning("scheduler trigger for site %s failed", site_id, exc_info=True)


def schedule_run_request(
    *, site_id: int, trigger: str, detail: str = "", requested_by=None
) -> ScheduleRun:
    """Ask for a new plan of the site; returns the queued run that will make it.

    Debounced: while a run of the site is queued, the request is added to it (its
    ``triggers``) instead of queuing another, so a burst of health snapshots, work order
    changes and machine state changes gives one run. Safe to call from any process, inside or
    outside a transaction (the run is enqueued after commit).
    """
    if trigger not in ScheduleTrigger.values:
        raise ValidationFailed(
            f"Unknown schedule trigger {trigger!r}.",
            detail={"allowed": list(ScheduleTrigger.values)},
        )
    if not Site.objects.filter(pk=site_id).exists():
        raise NotFound(f"Site {site_id} does not exist.")
    user = requested_by if requested_by is not None and requested_by.is_authenticated else None
    entry = {
        "trigger": trigger,
        "detail": (detail or "")[:300],
        "at": timezone.now().isoformat(),
        "by": user.get_username() if user is not None else None,
    }
    for _attempt in range(5):
        with transaction.atomic():
            queued = (
                ScheduleRun.objects.select_for_update()
                .filter(site_id=site_id, status=RUN.QUEUED)
                .first()
            )
            if queued is not None:
                queued.triggers = [*(queued.triggers or []), entry][-50:]
                queued.save(update_fields=["triggers"])
                return queued
            try:
                with transaction.atomic():
                    run = ScheduleRun.objects.create(
                        site_id=site_id,
                        trigger=trigger,
                        trigger_detail=(detail or "")[:300],
                        requested_by=user,
                        triggers=[entry],
                    )
            except IntegrityError:
                continue  # a concurrent request queued one first: absorb into it
            transaction.on_commit(partial(_run_enqueue, run.pk))
            _run_broadcast(run)
            return run
    raise Conflict("Could not queue a schedule run; try again.")


def schedule_on_equipment_state_change(
    equipment_id: int, *, is_down: bool | None = None
) -> ScheduleRun | None:
    """Re-plan when a machine went down or came back (call it on any state event).

    Cheap when nothing changed for the plan: only a change between ``down`` and not down
    against what the current plan assumed requests a run. ``is_down`` (when the caller knows
    it) saves a query.
    """
    row = (
        Equipment.objects.filter(pk=equipment_id)
        .values("code", "cell__line__area__site_id")
        .first()
    )
    if row is None:
        return None
    site_id = row["cell__line__area__site_id"]
    if is_down is None:
        is_down = equipment_id in equipment_down_ids(equipment_ids=[equipment_id])
    current = schedule_run_current(site_id=site_id)
    was_down = current is not None and equipment_id in (current.inputs or {}).get(
        "down_equipment_ids", []
    )
    if is_down == was_down:
        return None
    return schedule_run_request(
        site_id=site_id,
        trigger=ScheduleTrigger.EQUIPMENT_STATE,
        detail=f"{row['code']} {'went down' if is_down else 'is back'}",
    )


class RunOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    BUSY = "busy"  # another run of the site is running: try again later
    SKIPPED = "skipped"  # not queued any more (done by another worker, or unknown)


def _run_start(run_id: int, now: datetime) -> tuple[ScheduleRun | None, RunOutcome | None]:
    with transaction.atomic():
        run = ScheduleRun.objects.filter(pk=run_id).first()
        if run is None or run.status != RUN.QUEUED:
            return None, RunOutcome.SKIPPED
        # Starts of one site serialise on the site row: one running run per site.
        Site.objects.select_for_update().filter(pk=run.site_id).first()
        timeout = timedelta(seconds=float(setting("SCHEDULING_RUN_TIMEOUT_S", 600)))
        ScheduleRun.objects.filter(
            site_id=run.site_id, status=RUN.RUNNING, started_at__lt=now - timeout
        ).update(
            status=RUN.FAILED,
            finished_at=now,
            error="No result within the run timeout (worker lost?).",
        )
        if ScheduleRun.objects.filter(site_id=run.site_id, status=RUN.RUNNING).exists():
            return run, RunOutcome.BUSY
        if not ScheduleRun.objects.filter(pk=run_id, status=RUN.QUEUED).update(
            status=RUN.RUNNING, started_at=now, progress_percent=5
        ):
            return None, RunOutcome.SKIPPED
        run.refresh_from_db()
        _run_broadcast(run)
    return run, None


def _progress(run: ScheduleRun, percent: int) -> None:
    run.progress_percent = percent
    ScheduleRun.objects.filter(pk=run.pk, status=RUN.RUNNING).update(progress_percent=percent)
    _run_broadcast(run, is_progress=True)


def schedule_run_execute(*, run_id: int, now: datetime | None = None) -> RunOutcome:
    """Run one queued schedule run to the end (idempotent: a run not queued is skipped).

    Returns ``busy`` without doing anything while another run of the same site is running.
    A failure is stored on the run (status failed, the error text) and not raised.
    """
    started_wall = time.perf_counter()
    now = now or timezone.now()
    run, outcome = _run_start(run_id, now)
    if outcome is not None:
        return outcome
    assert run is not None
    outcome = _run_execute(run, now, started_wall)
    SCHEDULE_COMPUTATION.labels(outcome=outcome.value).observe(time.perf_counter() - started_wall)
    return outcome


def _run_execute(run: ScheduleRun, now: datetime, started_wall: float) -> RunOutcome:
    try:
        _run_body(run, now, started_wall)
    except Exception as error:
        logger.exception("schedule run %s failed", run.pk)
        duration_ms = (time.perf_counter() - started_wall) * 1000.0
        ScheduleRun.objects.filter(pk=run.pk, status=RUN.RUNNING).update(
            status=RUN.FAILED,
            finished_at=timezone.now(),
            duration_ms=duration_ms,
            error=f"{type(error).__name__}: {error}"[:2000],
        )
        run.refresh_from_db()
        _run_broadcast(run)
        return RunOutcome.FAILED
    return RunOutcome.SUCCEEDED if run.status == RUN.SUCCEEDED else RunOutcome.FAILED


def _run_body(run: ScheduleRun, now: datetime, started_wall: float) -> None:
    timings: dict[str, Any] = {}
    mark = time.perf_counter()
    data = scheduling_input_load(site_id=run.site_id, now=now)
    timings["load_ms"] = (time.perf_counter() - mark) * 1000.0
    _progress(run, 25)

    mark = time.perf_counter()
    config = SchedulerConfig(anomaly_threshold=float(setting("SCHEDULING_ANOMALY_THRESHOLD", 0.6)))
    plan = schedule(data.machines, data.jobs, data.now_s, config=config)
    stability = plan_stabilise(data, plan, config)
    data, plan = stability.data, stability.plan
    timings["schedule_ms"] = (time.perf_counter() - mark) * 1000.0
    timings["kept_in_place"] = stability.kept_in_place
    timings["damped"] = stability.damped
    if stability.held:
        timings["held_back"] = dict(list(stability.held.items())[:50])
    _progress(run, 55)

    mark = time.perf_counter()
    iterations = int(setting("SCHEDULING_IMPROVEMENT_ITERATIONS", 300))
    if iterations > 0 and plan.operation_count > 1:
        budget = setting("SCHEDULING_IMPROVEMENT_BUDGET_S", 0.5)
        improvement = improve_plan(
            plan,
            data.machines,
            data.jobs,
            config=ImprovementConfig(
                seed=0,
                max_iterations=iterations,
                time_budget_s=None if budget is None else float(budget),
                objective=str(setting("SCHEDULING_IMPROVEMENT_OBJECTIVE", "max_lateness")),
            ),
        )
        plan = improvement.plan
        timings["improvement"] = {
            "objective": str(setting("SCHEDULING_IMPROVEMENT_OBJECTIVE", "max_lateness")),
            "iterations": improvement.iterations,
            "improving_moves": improvement.improving_moves,
            "initial_objective_s": jsonable(improvement.initial_objective_s),
            "objective_s": jsonable(improvement.objective_s),
        }
    timings["improve_ms"] = (time.perf_counter() - mark) * 1000.0
    _progress(run, 75)

    mark = time.perf_counter()
    changes = diff_plans(
        data.current_slots,
        plan,
        retime_tolerance_s=float(setting("SCHEDULING_RETIME_TOLERANCE_S", 300.0)),
    )
    plan_store(run, data, plan, changes, timings)
    timings["store_ms"] = (time.perf_counter() - mark) * 1000.0
    total_ms = (time.perf_counter() - started_wall) * 1000.0
    timings["total_ms"] = total_ms
    ScheduleRun.objects.filter(pk=run.pk).update(timings=timings, duration_ms=total_ms)
    run.timings, run.duration_ms = timings, total_ms
    _run_broadcast(run)
    broadcast(
        [group_name("site", run.site_id)],
        "schedule",
        {"site": run.site_id, "run": run.pk, "is_current": run.is_current},
    )


# --- recovery and the periodic check -----------------------------------------------------------


def schedule_runs_recover(*, now: datetime | None = None) -> dict[str, int]:
    """Fail runs whose worker vanished; enqueue queued runs whose message was lost."""
    now = now or timezone.now()
    timeout = timedelta(seconds=float(setting("SCHEDULING_RUN_TIMEOUT_S", 600)))
    failed = ScheduleRun.objects.filter(status=RUN.RUNNING, started_at__lt=now - timeout).update(
        status=RUN.FAILED,
        finished_at=now,
        error="No result within the run timeout (worker lost?).",
    )
    grace = timedelta(seconds=float(setting("SCHEDULING_DEBOUNCE_S", 3.0)) + 30.0)
    stuck = list(
        ScheduleRun.objects.filter(status=RUN.QUEUED, requested_at__lt=now - grace).values_list(
            "pk", flat=True
        )
    )
    for run_id in stuck:
        _run_enqueue(run_id, countdown_s=0)
    return {"failed": failed, "requeued": len(stuck)}


def schedule_runs_prune(*, keep_per_site: int | None = None) -> int:
    """Delete finished runs (and their plans) beyond the newest ``keep_per_site`` per site.

    The current plan and queued or running runs are never deleted. A 1,000-operation plan
    stores about 1.5 MB of explanations, so the history is bounded
    (``SCHEDULING_RUNS_KEPT_PER_SITE``, default 100).
    """
    keep = int(
        setting("SCHEDULING_RUNS_KEPT_PER_SITE", 100) if keep_per_site is None else keep_per_site
    )
    deleted = 0
    for site_id in ScheduleRun.objects.values_list("site_id", flat=True).distinct():
        old_ids = list(
            ScheduleRun.objects.filter(
                site_id=site_id, status__in=[RUN.SUCCEEDED, RUN.FAILED], is_current=False
            )
            .order_by("-pk")
            .values_list("pk", flat=True)[keep:]
        )
        if old_ids:
            deleted += (
                ScheduleRun.objects.filter(pk__in=old_ids, is_current=False)
                .delete()[1]
                .get("planning.ScheduleRun", 0)
            )
    return deleted


FINGERPRINT_TRIGGERS = {
    "equipment": (ScheduleTrigger.EQUIPMENT_STATE, "a machine went down, came back or changed"),
    "health": (ScheduleTrigger.HEALTH_CHANGE, "machine health changed"),
    "work_orders": (ScheduleTrigger.WORK_ORDER_CHANGE, "work orders or operations changed"),
    "maintenance": (ScheduleTrigger.PERIODIC, "a maintenance window changed"),
}


def schedule_sites_check(*, now: datetime | None = None) -> list[ScheduleRun]:
    """Request a run for every site whose input changed since its last run (or got old).

    Catches what no hook reported (work orders changed through the admin or the API,
    machines going down, new health, maintenance windows) and re-plans at least every
    ``SCHEDULING_REPLAN_INTERVAL_S`` while the site has open work.
    """
    now = now or timezone.now()
    busy = set(
        ScheduleRun.objects.filter(status__in=[RUN.QUEUED, RUN.RUNNING]).values_list(
            "site_id", flat=True
        )
    )
    latest = latest_run_of_sites()
    open_sites = set(
        WorkOrder.objects.filter(state__in=SCHEDULED_WORK_ORDER_STATES).values_list(
            "site_id", flat=True
        )
    )
    interval = timedelta(seconds=float(setting("SCHEDULING_REPLAN_INTERVAL_S", 1800)))
    requested = []
    for site_id in sorted((open_sites | set(latest)) - busy):
        last = latest.get(site_id)
        data = scheduling_input_load(site_id=site_id, now=now)
        old = (last.input_fingerprints or {}) if last is not None else {}
        trigger = detail = None
        if last is None:
            trigger, detail = ScheduleTrigger.WORK_ORDER_CHANGE, "no plan yet"
        else:
            for key, (candidate, text) in FINGERPRINT_TRIGGERS.items():
                if old.get(key) != data.fingerprints.get(key):
                    trigger, detail = candidate, text
                    break
        if (
            trigger is None
            and site_id in open_sites
            and last is not None
            and last.requested_at < now - interval
        ):
            trigger, detail = ScheduleTrigger.PERIODIC, "periodic re-plan"
        if trigger is not None and (last is not None or data.jobs):
            requested.append(
                schedule_run_request(site_id=site_id, trigger=trigger, detail=detail or "")
            )
    return requested
