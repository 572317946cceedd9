"""Writes of the scheduling area: schedule runs, plan changes through the guardrails,
customer orders and their dispatch to lines, and the line order state machine.

Schedule runs
    :func:`schedule_run_request` is the one entry point (health changes, work order and machine
    changes, on demand, the periodic check). Requests are debounced: while a run of the site is
    queued, new requests are absorbed by it (its ``triggers`` list grows); the Celery task
    starts it ``SCHEDULING_DEBOUNCE_S`` seconds after the first request.
    :func:`schedule_run_execute` reads the site (``selectors.scheduling_input_load``), runs the
    pure scheduler and its improvement step, stores the plan and makes it the site's current
    plan (compare-and-set: an older run never replaces a newer plan), then compares it with the
    operations' committed assignments:

    * an operation scheduled for the first time, or only shifted in time on the same machine in
      the same order, is written at once (planned start/end and machine);
    * an operation moved to another machine becomes a ``reroute`` proposed action, one whose
      order on its machine changed a ``resequence`` action — applied or queued by the autonomy
      policy; the handlers (registered in ``ProductionConfig.ready``) write the current plan's
      machine and times when the action is applied and restore the old ones on revert;
    * an operation that can no longer be scheduled keeps its assignment and is listed with the
      reason.

Dispatch
    Customer orders (part counts per product code) go to a line of their area by the online
    rule (:func:`customer_order_create`, :func:`customer_order_dispatch`) or many at once by the
    integer program (:func:`customer_orders_dispatch_batch`); without room they wait in the
    backlog, retried whenever an order completes or is cancelled and periodically
    (:func:`customer_orders_backlog_retry`). Dispatch serialises per area by locking the
    area's line rows. A supervisor's override is a ``dispatch_override`` action (high risk).

Line orders
    :func:`line_order_events_ingest` takes the plant's ``station`` events (same shape as the
    equipment events of the monitoring contract) and moves each order through
    ``planning.algorithms.line_order``; ``update_stock`` books the finished parts (one
    produced lot per order and product into the finished-goods location) and completes the
    order, which frees line capacity for the backlog.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum, StrEnum
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from autonomy.choices import ActionKind, ActionStatus
from autonomy.models import ProposedAction
from autonomy.services.guardrails import action_propose
from mes_site.errors import Conflict, DomainError, NotFound, ValidationFailed
from mes_site.publish import broadcast, group_name
from planning.algorithms import dispatch as pure_dispatch
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
from planning.algorithms.scheduler import (
    ChangeKind,
    ImprovementConfig,
    Plan,
    PlanChange,
    SchedulerConfig,
    UnschedulableReason,
    diff_plans,
    improve_plan,
    schedule,
)
from planning.choices import CustomerOrderState, ScheduleRunStatus, ScheduleTrigger
from planning.models import CustomerOrder, CustomerOrderLine, ScheduledOperation, ScheduleRun
from planning.selectors import scheduling as selectors
from planning.selectors.scheduling import (
    LOADING_STATES,
    DispatchSetup,
    MachineInfo,
    SchedulingInput,
)
from production.choices import OperationState
from production.models import Area, Equipment, Line, Operation, Product, Site
from traceability.services import audit_event_record, state_transition

logger = logging.getLogger(__name__)

__all__ = [
    "RunOutcome",
    "StationEventIn",
    "StationEventResult",
    "StationRejectReason",
    "customer_order_cancel",
    "customer_order_create",
    "customer_order_dispatch",
    "customer_order_dispatch_override_request",
    "customer_orders_backlog_retry",
    "customer_orders_dispatch_batch",
    "dispatch_override_apply",
    "dispatch_override_revert",
    "line_order_events_ingest",
    "operation_reroute_apply",
    "operation_reroute_revert",
    "operation_resequence_apply",
    "operation_resequence_revert",
    "schedule_on_equipment_state_change",
    "schedule_on_work_order_change",
    "schedule_run_execute",
    "schedule_run_request",
    "schedule_runs_prune",
    "schedule_runs_recover",
    "schedule_sites_check",
]

RUN = ScheduleRunStatus
ORDER = CustomerOrderState


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _at(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, tz=UTC)


def jsonable(value: Any) -> Any:
    """Dataclasses, enums, tuples and non-finite floats as JSON-able data (inf/NaN → None)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {item.name: jsonable(getattr(value, item.name)) for item in fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(item) for item in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return value.isoformat()
    return value


# ==============================================================================================
# Schedule runs
# ==============================================================================================


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
    from planning.tasks import schedule_run_execute as task

    delay = _setting("SCHEDULING_DEBOUNCE_S", 3.0) if countdown_s is None else countdown_s
    try:
        task.apply_async(args=[run_id], countdown=delay)
    except Exception:  # broker down: the periodic recovery enqueues queued runs again
        logger.warning("could not enqueue schedule run %s", run_id, exc_info=True)


def health_changed_receive(*, site_id: int, detail: str) -> None:
    """Machine health changed (``maintenance.hooks.health_changed``): ask for a new plan."""
    try:
        schedule_run_request(site_id=site_id, trigger="health_change", detail=detail[:300])
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
        is_down = equipment_id in selectors.equipment_down_ids(equipment_ids=[equipment_id])
    current = selectors.schedule_run_current(site_id=site_id)
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


def schedule_on_work_order_change(work_order_id: int, *, detail: str = "") -> ScheduleRun | None:
    """Re-plan the work order's site (new, released, changed, finished or cancelled)."""
    from production.models import WorkOrder

    row = WorkOrder.objects.filter(pk=work_order_id).values("site_id", "number").first()
    if row is None:
        return None
    return schedule_run_request(
        site_id=row["site_id"],
        trigger=ScheduleTrigger.WORK_ORDER_CHANGE,
        detail=detail or f"work order {row['number']} changed",
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
        timeout = timedelta(seconds=float(_setting("SCHEDULING_RUN_TIMEOUT_S", 600)))
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
    data = selectors.scheduling_input_load(site_id=run.site_id, now=now)
    timings["load_ms"] = (time.perf_counter() - mark) * 1000.0
    _progress(run, 25)

    mark = time.perf_counter()
    config = SchedulerConfig(anomaly_threshold=float(_setting("SCHEDULING_ANOMALY_THRESHOLD", 0.6)))
    plan = schedule(data.machines, data.jobs, data.now_s, config=config)
    data, plan, kept = _keep_small_gains_in_place(data, plan, config)
    timings["schedule_ms"] = (time.perf_counter() - mark) * 1000.0
    timings["kept_in_place"] = kept
    _progress(run, 55)

    mark = time.perf_counter()
    iterations = int(_setting("SCHEDULING_IMPROVEMENT_ITERATIONS", 300))
    if iterations > 0 and plan.operation_count > 1:
        budget = _setting("SCHEDULING_IMPROVEMENT_BUDGET_S", 0.5)
        improvement = improve_plan(
            plan,
            data.machines,
            data.jobs,
            config=ImprovementConfig(
                seed=0,
                max_iterations=iterations,
                time_budget_s=None if budget is None else float(budget),
                objective=str(_setting("SCHEDULING_IMPROVEMENT_OBJECTIVE", "max_lateness")),
            ),
        )
        plan = improvement.plan
        timings["improvement"] = {
            "objective": str(_setting("SCHEDULING_IMPROVEMENT_OBJECTIVE", "max_lateness")),
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
        retime_tolerance_s=float(_setting("SCHEDULING_RETIME_TOLERANCE_S", 300.0)),
    )
    _plan_store(run, data, plan, changes, timings)
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


# --- stability: no reroute for a small gain ---------------------------------------------------


def _soft_moves(data: SchedulingInput, plan: Plan, min_gain: float) -> dict[str, str]:
    """Operations the plan moves off their machine for less than ``min_gain`` of priority.

    Only moves no hard rule forces: the old machine was ranked for the operation (so it is
    up, not excluded by the anomaly rule or its maintenance block) and its priority was within
    ``min_gain`` (relative) of the new machine's. Returns operation id → old machine id.
    """
    current = {slot.operation_id: slot.machine_id for slot in data.current_slots}
    soft: dict[str, str] = {}
    for item in plan.operations():
        old = current.get(item.operation_id)
        explanation = item.explanation
        if old is None or old == item.machine_id or explanation.priority is None:
            continue
        for candidate in explanation.candidates:
            if candidate.machine_id != old:
                continue
            if candidate.exclusion is None and math.isfinite(candidate.priority):
                gain = (explanation.priority - candidate.priority) / max(
                    abs(candidate.priority), 1e-9
                )
                if gain < min_gain:
                    soft[item.operation_id] = old
            break
    return soft


def _pinned(data: SchedulingInput, pins: dict[str, str]) -> SchedulingInput:
    """The input with each pinned operation allowed on its one machine only."""
    from dataclasses import replace

    extra: dict[str, set[str]] = {}
    for operation_id, machine_id in pins.items():
        extra.setdefault(machine_id, set()).add(f"keep:{operation_id}")
    machines = tuple(
        replace(machine, capabilities=machine.capabilities | extra[machine.id])
        if machine.id in extra
        else machine
        for machine in data.machines
    )
    jobs = tuple(
        replace(
            job,
            operations=tuple(
                replace(operation, capability=f"keep:{operation.id}")
                if operation.id in pins
                else operation
                for operation in job.operations
            ),
        )
        if any(operation.id in pins for operation in job.operations)
        else job
        for job in data.jobs
    )
    return replace(data, machines=machines, jobs=jobs)


def _keep_small_gains_in_place(
    data: SchedulingInput, plan: Plan, config: SchedulerConfig
) -> tuple[SchedulingInput, Plan, int]:
    """Plan again with operations kept on their machine where moving gains little.

    The priority rule reacts to every small shift of time left; without this, a plan made a
    minute later would move operations between equal machines for a fraction of a percent
    and each move would be a proposed action. ``SCHEDULING_REROUTE_MIN_GAIN`` (relative
    priority, default 0.1) is the least gain a move must bring; moves a hard rule forces are
    never held back. A kept operation that then no longer fits is released again.
    """
    min_gain = float(_setting("SCHEDULING_REROUTE_MIN_GAIN", 0.1))
    if min_gain <= 0 or not data.current_slots:
        return data, plan, 0
    pins = _soft_moves(data, plan, min_gain)
    if not pins:
        return data, plan, 0
    for _attempt in range(3):
        pinned_input = _pinned(data, pins)
        pinned_plan = schedule(pinned_input.machines, pinned_input.jobs, data.now_s, config=config)
        lost = {entry.operation_id for entry in pinned_plan.unschedulable} & set(pins)
        if not lost:
            return pinned_input, pinned_plan, len(pins)
        pins = {key: value for key, value in pins.items() if key not in lost}
        if not pins:
            break
    return data, plan, 0


# --- explanations -------------------------------------------------------------------------------


def _machine_code(data: SchedulingInput, machine_id: str | None) -> str:
    if machine_id is None:
        return "—"
    info = data.machine_info.get(machine_id)
    return info.code if info is not None else machine_id


def _health_text(info: MachineInfo) -> str:
    state = info.health
    if state is None:
        return "no health data"
    text = f"α {state.anomaly_score:.2f}, δ {state.degradation_per_h:.3g}/h"
    if state.rul_p10_h is not None:
        text += f", RUL p10 {state.rul_p10_h:.0f} h"
    return text + (", in anomaly" if state.is_anomaly else "")


def _is_in_anomaly(info: MachineInfo) -> bool:
    state = info.health
    threshold = float(_setting("SCHEDULING_ANOMALY_THRESHOLD", 0.6))
    return state is not None and (state.is_anomaly or state.anomaly_score > threshold)


def _formula_text(explanation) -> str:
    if explanation.priority is None or explanation.processing_time_s is None:
        return ""
    time_left_h = explanation.time_remaining_s / 3600.0
    processing_h = explanation.processing_time_s / 3600.0
    ratio = (
        f"TR {time_left_h:.2f} h / TP {processing_h:.2f} h"
        if explanation.time_remaining_s > 0
        else f"TR {time_left_h:.2f} h (past due) · TP {processing_h:.2f} h / TP_min²"
    )
    return (
        f"priority {explanation.priority:.3f} = {ratio} − θ {explanation.bottleneck_weight:g}"
        f" · α {explanation.anomaly_score:.2f} · δ {explanation.degradation_per_h:.3g}/h"
    )


def _why_not_old_machine(
    data: SchedulingInput, change: PlanChange, operation_force_kn: float
) -> tuple[str, str]:
    """(rule, sentence) for leaving the old machine, from the facts the scheduler used."""
    info = data.machine_info.get(change.old_machine_id or "")
    if info is None:
        return "machine_gone", "the old machine is no longer in the plant model"
    if not info.is_active:
        return "machine_inactive", f"{info.code} is inactive"
    if info.is_down:
        return "machine_down", f"{info.code} is down"
    if _is_in_anomaly(info) and operation_force_kn > info.stress_limit_kn:
        return (
            "high_stress_anomaly",
            f"{info.code} is in anomaly ({_health_text(info)}) and the operation is high-stress "
            f"({operation_force_kn:g} kN > its {info.stress_limit_kn:g} kN limit): the hard "
            "rule keeps it off that machine",
        )
    for candidate in change.explanation.candidates:
        if candidate.machine_id != change.old_machine_id:
            continue
        if candidate.exclusion is not None and candidate.exclusion.value == "maintenance_horizon":
            block = info.block.reason if info.block else "its RUL p10"
            return (
                "maintenance_horizon",
                f"on {info.code} it would not finish before the maintenance block ({block}; "
                f"{_health_text(info)})",
            )
        if candidate.priority is not None and math.isfinite(candidate.priority):
            return (
                "highest_priority",
                f"priority on {info.code} is lower ({candidate.priority:.3f}; "
                f"θ·α·δ {candidate.health_penalty:.3g})",
            )
    if info.block is not None or (info.health and info.health.rul_p10_h is not None):
        return (
            "maintenance_horizon",
            f"{info.code} has a maintenance block or short RUL ({_health_text(info)}"
            + (f"; {info.block.reason}" if info.block else "")
            + ")",
        )
    return change.explanation.rule, f"a better place was found than {info.code}"


def _change_record(
    data: SchedulingInput, change: PlanChange, operation_info, run: ScheduleRun
) -> dict[str, Any]:
    new_code = _machine_code(data, change.new_machine_id)
    old_code = _machine_code(data, change.old_machine_id)
    label = f"{operation_info.key} {operation_info.name} ({operation_info.force_kn:g} kN)"
    formula = _formula_text(change.explanation)
    rule = change.explanation.rule
    if change.kind is ChangeKind.MOVED_MACHINE:
        rule, why = _why_not_old_machine(data, change, operation_info.force_kn)
        sentence = f"Move {label} from {old_code} to {new_code}: {why}. On {new_code}: {formula}."
    elif change.kind is ChangeKind.RESEQUENCED:
        sentence = (
            f"Resequence {label} on {new_code}: {change.message.split('. ')[0].split(': ')[-1]}"
            f", start {_at(change.old_start_s or data.now_s):%H:%M} → "
            f"{_at(change.new_start_s or data.now_s):%H:%M} UTC ("
            + (
                "local search improved the plan"
                if change.explanation.sequencing == "local_search"
                else "critical-ratio order changed"
            )
            + f"; {formula})."
        )
    elif change.kind is ChangeKind.ADDED:
        sentence = f"Plan {label} on {new_code}: {formula}."
    elif change.kind is ChangeKind.RETIMED:
        sentence = (
            f"Retime {label} on {new_code}: start {_at(change.old_start_s or 0):%H:%M} → "
            f"{_at(change.new_start_s or 0):%H:%M} UTC."
        )
    else:
        sentence = f"{label} is no longer planned on {old_code}: {change.explanation.message}."
    return {
        "kind": change.kind.value,
        "operation_id": operation_info.operation_id,
        "operation": operation_info.key,
        "work_order": operation_info.work_order_number,
        "from_equipment_id": (
            data.machine_info[change.old_machine_id].equipment_id
            if change.old_machine_id in data.machine_info
            else None
        ),
        "from_equipment": old_code if change.old_machine_id else None,
        "to_equipment_id": (
            data.machine_info[change.new_machine_id].equipment_id
            if change.new_machine_id in data.machine_info
            else None
        ),
        "to_equipment": new_code if change.new_machine_id else None,
        "old_start_at": _iso(_at(change.old_start_s)) if change.old_start_s is not None else None,
        "new_start_at": _iso(_at(change.new_start_s)) if change.new_start_s is not None else None,
        "old_end_at": _iso(_at(change.old_end_s)) if change.old_end_s is not None else None,
        "new_end_at": _iso(_at(change.new_end_s)) if change.new_end_s is not None else None,
        "rule": rule,
        "explanation": sentence,
        "run": run.pk,
        "action_id": None,
        "action_status": None,
    }


def _unschedulable_record(data: SchedulingInput, entry) -> dict[str, Any]:
    info = data.operation_info.get(entry.operation_id or "")
    message = entry.message
    if info is not None and entry.reason is UnschedulableReason.NO_ELIGIBLE_MACHINE:
        capable = [
            machine
            for machine in data.machine_info.values()
            if (info.line_id is None or machine.line_id == info.line_id)
            and info.capability_code in machine.capabilities
        ]
        where = f" on line {info.line_code}" if info.line_id else ""
        if info.pinned_by_action_id is not None:
            pinned_to = next(
                (
                    m
                    for m in data.machine_info.values()
                    if m.equipment_id == info.assigned_equipment_id
                ),
                None,
            )
            code = pinned_to.code if pinned_to else "its machine"
            state = (
                "is down or inactive"
                if pinned_to is not None and not pinned_to.is_schedulable
                else "is in anomaly and the operation is high-stress"
            )
            message = (
                f"{info.key}: a supervisor kept it on {code} (declined reroute, action "
                f"{info.pinned_by_action_id}), and {code} {state}"
            )
        elif not capable:
            message = f"{info.key}: no machine{where} has capability {info.capability_code!r}"
        elif not any(machine.is_schedulable for machine in capable):
            names = ", ".join(
                f"{m.code} ({'inactive' if not m.is_active else 'down'})" for m in capable
            )
            message = (
                f"{info.key}: every machine{where} with capability {info.capability_code!r} "
                f"is down or inactive: {names}"
            )
        else:
            names = ", ".join(m.code for m in capable if m.is_schedulable)
            message = (
                f"{info.key}: every machine{where} with capability {info.capability_code!r} "
                f"({names}) is in anomaly and the operation is high-stress "
                f"({info.force_kn:g} kN)"
            )
    elif info is not None:
        message = message.replace(f"operation {info.key}", info.key)
    return {
        "work_order": entry.job_id,
        "operation": entry.operation_id,
        "operation_id": info.operation_id if info else None,
        "reason": entry.reason.value,
        "message": message,
    }


def _machines_record(data: SchedulingInput) -> list[dict[str, Any]]:
    records = []
    for info in data.machine_info.values():
        health = info.health
        block = info.block
        left_out = ""
        if not info.is_active:
            left_out = "inactive"
        elif info.is_down:
            left_out = "down"
        records.append(
            {
                "equipment_id": info.equipment_id,
                "machine_id": info.machine_id,
                "code": info.code,
                "stress_limit_kn": info.stress_limit_kn,
                "bottleneck_weight": info.bottleneck_weight,
                "left_out": left_out,
                "busy_until": _iso(info.busy_until),
                "health": None
                if health is None
                else {
                    "snapshot_id": health.snapshot_id,
                    "ts": _iso(health.ts),
                    "alpha": health.anomaly_score,
                    "degradation_per_h": health.degradation_per_h,
                    "is_anomaly": health.is_anomaly,
                    "is_in_anomaly": _is_in_anomaly(info),
                    "rul_p10_h": health.rul_p10_h,
                    "recommendation": health.recommendation,
                },
                "block": None
                if block is None
                else {
                    "start_at": _iso(block.start_at),
                    "end_at": _iso(block.end_at),
                    "maintenance_work_order": block.work_order_number,
                    "reason": block.reason,
                },
            }
        )
    return records


# --- storing a plan -------------------------------------------------------------------------


def _action_epochs(site_id: int, operation_ids: Iterable[int]) -> dict[int, int]:
    """Per operation the latest reroute/resequence that took effect (its id), 0 if none."""
    wanted = set(operation_ids)
    epochs: dict[int, int] = {}
    if not wanted:
        return epochs
    from django.db.models import Min

    from production.models import WorkOrder

    # Only actions since the oldest of these operations' work orders was created can name them.
    since = WorkOrder.objects.filter(operations__in=wanted).aggregate(oldest=Min("created_at"))[
        "oldest"
    ]
    rows = ProposedAction.objects.filter(
        site_id=site_id,
        kind__in=[ActionKind.REROUTE, ActionKind.RESEQUENCE],
        status__in=[ActionStatus.APPLIED, ActionStatus.REVERTED],
        created_at__gte=since or timezone.now(),
    ).values_list("pk", "payload")
    for action_id, payload in rows:
        ids = [payload.get("operation_id")] + [
            item.get("operation_id") for item in payload.get("operations", [])
        ]
        for operation_id in ids:
            if operation_id in wanted:
                epochs[operation_id] = max(epochs.get(operation_id, 0), action_id)
    return epochs


def _plan_store(
    run: ScheduleRun,
    data: SchedulingInput,
    plan: Plan,
    changes: Sequence[PlanChange],
    timings: dict[str, Any],
) -> None:
    unschedulable = [_unschedulable_record(data, entry) for entry in plan.unschedulable]
    warnings = []
    for late in plan.late_jobs:
        due = _at(late.due_at_s)
        if late.is_past_due_at_now:
            text = f"{late.job_id} was due {due:%Y-%m-%d %H:%M} UTC (past due); planned anyway"
        else:
            text = f"{late.job_id} will finish after its due date {due:%Y-%m-%d %H:%M} UTC"
        if late.lateness_s is not None:
            text += f", {late.lateness_s / 3600.0:.1f} h late"
        warnings.append(
            {
                "work_order": late.job_id,
                "kind": "past_due" if late.is_past_due_at_now else "late",
                "due_at": _iso(due),
                "planned_end_at": _iso(_at(late.planned_end_s))
                if late.planned_end_s is not None
                else None,
                "lateness_s": jsonable(late.lateness_s),
                "message": text,
            }
        )
    records = []
    for change in changes:
        info = data.operation_info.get(change.operation_id)
        if info is not None:
            records.append((change, _change_record(data, change, info, run)))
    counts: dict[str, int] = {}
    for change, _ in records:
        counts[change.kind.value] = counts.get(change.kind.value, 0) + 1
    entries = []
    for machine_id, sequence in plan.machine_sequences.items():
        equipment_id = data.machine_info[machine_id].equipment_id
        for position, item in enumerate(sequence):
            explanation = jsonable(item.explanation)
            explanation["equipment_code"] = data.machine_info[machine_id].code
            entries.append(
                ScheduledOperation(
                    run=run,
                    operation_id=data.operation_info[item.operation_id].operation_id,
                    equipment_id=equipment_id,
                    position=position,
                    planned_start_at=_at(item.start_s),
                    planned_end_at=_at(item.end_s),
                    priority=jsonable(item.explanation.priority),
                    explanation=explanation,
                )
            )
    machines = _machines_record(data)
    inputs = {
        "machines": machines,
        "running": list(data.running),
        "down_equipment_ids": sorted(
            info.equipment_id for info in data.machine_info.values() if info.is_down
        ),
        "job_count": len(data.jobs),
        "operation_count": data.operation_count,
        "pinned": data.notes.get("pinned", {}),
        "change_counts": counts,
        "anomaly_threshold": float(_setting("SCHEDULING_ANOMALY_THRESHOLD", 0.6)),
    }

    with transaction.atomic():
        locked = ScheduleRun.objects.select_for_update().get(pk=run.pk)
        if locked.status != RUN.RUNNING:
            return  # failed by the recovery meanwhile: do not write a late plan
        current = (
            ScheduleRun.objects.select_for_update().filter(site_id=run.site_id, is_current=True)
        ).first()
        is_newest = current is None or current.pk < run.pk
        ScheduledOperation.objects.bulk_create(entries, batch_size=1000)
        if is_newest:
            if current is not None:
                ScheduleRun.objects.filter(pk=current.pk).update(is_current=False)
            ScheduleRun.objects.filter(pk=run.pk).update(is_current=True)
            run.is_current = True
            _changes_apply(run, data, records, machines)
        else:
            warnings.append(
                {
                    "kind": "superseded",
                    "message": f"run {current.pk} finished first with a newer plan; this plan "
                    "was stored but not made current",
                }
            )
        limit = int(_setting("SCHEDULING_MAX_STORED_CHANGES", 500))
        important = [r for c, r in records if c.kind not in (ChangeKind.ADDED, ChangeKind.RETIMED)]
        routine = [r for c, r in records if c.kind in (ChangeKind.ADDED, ChangeKind.RETIMED)]
        run.status = RUN.SUCCEEDED
        run.progress_percent = 100
        run.finished_at = timezone.now()
        run.operation_count = plan.operation_count
        run.makespan_s = jsonable(plan.end_s - plan.now_s) if plan.operation_count else 0.0
        run.changes = (important + routine)[:limit]
        run.unschedulable = unschedulable
        run.warnings = warnings
        run.inputs = inputs
        run.input_fingerprints = data.fingerprints
        run.save(
            update_fields=[
                "status",
                "progress_percent",
                "finished_at",
                "operation_count",
                "makespan_s",
                "changes",
                "unschedulable",
                "warnings",
                "inputs",
                "input_fingerprints",
                "is_current",
            ]
        )
    timings["entries"] = len(entries)


def _operations_plan_write(operations: list[Operation]) -> None:
    """Write machine and planned times of many (locked) operations in a few statements.

    PostgreSQL: ``UPDATE … FROM (VALUES …)`` in chunks of 500 (Django's ``bulk_update``
    builds a CASE per row and field, which costs seconds of Python for a thousand rows);
    other databases: ``bulk_update``.
    """
    from django.db import connection

    fields_written = ["assigned_equipment", "planned_start_at", "planned_end_at"]
    if connection.vendor != "postgresql":
        Operation.objects.bulk_update(operations, fields_written, batch_size=100)
        return
    table = Operation._meta.db_table
    for offset in range(0, len(operations), 500):
        chunk = operations[offset : offset + 500]
        rows = ", ".join(
            ["(%s::bigint, %s::bigint, %s::timestamptz, %s::timestamptz)"] * len(chunk)
        )
        parameters: list[Any] = []
        for operation in chunk:
            parameters += [
                operation.pk,
                operation.assigned_equipment_id,
                operation.planned_start_at,
                operation.planned_end_at,
            ]
        with connection.cursor() as cursor:
            cursor.execute(
                f'UPDATE "{table}" AS o SET assigned_equipment_id = v.equipment_id, '  # noqa: S608
                "planned_start_at = v.start_at, planned_end_at = v.end_at "
                f"FROM (VALUES {rows}) AS v(id, equipment_id, start_at, end_at) "
                "WHERE o.id = v.id",
                parameters,
            )


def _changes_apply(
    run: ScheduleRun,
    data: SchedulingInput,
    records: list[tuple[PlanChange, dict[str, Any]]],
    machines: list[dict[str, Any]],
) -> None:
    """Write direct changes to the operations; propose reroutes and resequences."""
    direct = {
        record["operation_id"]: change
        for change, record in records
        if change.kind in (ChangeKind.ADDED, ChangeKind.RETIMED)
    }
    if direct:
        operations = list(
            Operation.objects.select_for_update()
            .filter(pk__in=list(direct), state=OperationState.PENDING)
            .order_by("pk")
        )
        for operation in operations:
            change = direct[operation.pk]
            operation.assigned_equipment_id = data.machine_info[
                change.new_machine_id or ""
            ].equipment_id
            operation.planned_start_at = _at(change.new_start_s or data.now_s)
            operation.planned_end_at = _at(change.new_end_s or data.now_s)
        _operations_plan_write(operations)
    guarded = [
        (change, record)
        for change, record in records
        if change.kind in (ChangeKind.MOVED_MACHINE, ChangeKind.RESEQUENCED)
    ]
    if not guarded:
        return
    site = Site.objects.get(pk=run.site_id)
    epochs = _action_epochs(run.site_id, [record["operation_id"] for _, record in guarded])
    by_machine: dict[int, list[tuple[PlanChange, dict[str, Any]]]] = {}
    for change, record in guarded:
        if change.kind is ChangeKind.RESEQUENCED:
            by_machine.setdefault(record["to_equipment_id"], []).append((change, record))
            continue
        info = data.operation_info[change.operation_id]
        old_equipment_id = record["from_equipment_id"]
        new_equipment_id = record["to_equipment_id"]
        action = action_propose(
            site=site,
            kind=ActionKind.REROUTE,
            target=f"{info.key} {info.name}: {record['from_equipment']} → {record['to_equipment']}",
            payload={
                "operation_id": info.operation_id,
                "operation": info.key,
                "run_id": run.pk,
                "from_equipment_id": old_equipment_id,
                "to_equipment_id": new_equipment_id,
                "planned_start_at": record["new_start_at"],
                "planned_end_at": record["new_end_at"],
            },
            inverse={
                "equipment_id": info.assigned_equipment_id,
                "planned_start_at": _iso(info.planned_start_at),
                "planned_end_at": _iso(info.planned_end_at),
            },
            explanation=record["explanation"],
            explanation_data={
                "rule": record["rule"],
                "run": run.pk,
                "scheduler": jsonable(change.explanation),
                "old_machine": next(
                    (item for item in machines if item["equipment_id"] == old_equipment_id),
                    None,
                ),
            },
            dedupe_key=(
                f"reroute:op{info.operation_id}:{old_equipment_id}>{new_equipment_id}"
                f":e{epochs.get(info.operation_id, 0)}"
            ),
        )
        record["action_id"] = action.pk
        record["action_status"] = action.status
    for equipment_id, items in by_machine.items():
        _resequence_propose(run, site, data, equipment_id, items, epochs)


def _resequence_propose(
    run: ScheduleRun,
    site: Site,
    data: SchedulingInput,
    equipment_id: int,
    items: list[tuple[PlanChange, dict[str, Any]]],
    epochs: dict[int, int],
) -> None:
    """One resequence action per machine: the operations whose order there changed."""
    items.sort(key=lambda pair: (pair[0].new_start_s or 0.0, pair[0].operation_id))
    code = items[0][1]["to_equipment"]
    infos = [data.operation_info[change.operation_id] for change, _ in items]
    is_local_search = any(change.explanation.sequencing == "local_search" for change, _ in items)
    moves = "; ".join(
        f"{info.key} {_at(change.old_start_s or data.now_s):%H:%M}→"
        f"{_at(change.new_start_s or data.now_s):%H:%M}"
        for info, (change, _) in zip(infos, items, strict=True)
    )
    explanation = (
        f"Resequence {code}: {len(items)} operation{'s' if len(items) != 1 else ''} in a new "
        f"order (UTC start {moves}) — "
        + (
            "the local search shortened the plan"
            if is_local_search
            else "their critical ratios (time left / work left) changed the order"
        )
        + f". {items[0][1]['explanation']}"
    )
    order_key = ",".join(str(info.operation_id) for info in infos)
    digest = hashlib.sha1(order_key.encode(), usedforsecurity=False).hexdigest()[:16]
    epoch = max(epochs.get(info.operation_id, 0) for info in infos)
    action = action_propose(
        site=site,
        kind=ActionKind.RESEQUENCE,
        target=f"{code}: new order of {len(items)} operation{'s' if len(items) != 1 else ''}",
        payload={
            "run_id": run.pk,
            "equipment_id": equipment_id,
            "operations": [
                {
                    "operation_id": info.operation_id,
                    "operation": info.key,
                    "planned_start_at": record["new_start_at"],
                    "planned_end_at": record["new_end_at"],
                }
                for info, (_, record) in zip(infos, items, strict=True)
            ],
        },
        inverse={
            "equipment_id": equipment_id,
            "operations": [
                {
                    "operation_id": info.operation_id,
                    "planned_start_at": _iso(info.planned_start_at),
                    "planned_end_at": _iso(info.planned_end_at),
                }
                for info in infos
            ],
        },
        explanation=explanation,
        explanation_data={
            "rule": "resequence",
            "run": run.pk,
            "operations": [
                {
                    "operation": info.key,
                    "rule": change.explanation.rule,
                    "sequencing": change.explanation.sequencing,
                    "message": record["explanation"],
                }
                for info, (change, record) in zip(infos, items, strict=True)
            ],
        },
        dedupe_key=f"resequence:eq{equipment_id}:{digest}:e{epoch}",
    )
    for _, record in items:
        record["action_id"] = action.pk
        record["action_status"] = action.status


# --- guardrail handlers: reroute and resequence ------------------------------------------------


def _operation_label(operation: Operation) -> str:
    return f"{operation.work_order.number}/{operation.sequence}"


def _entry_apply(
    action, *, operation_id: int, from_equipment_id: int | None, target_equipment_id: int, verb: str
) -> dict[str, Any]:
    """Put one pending operation on the current plan's machine and times (checked first)."""
    operation = (
        Operation.objects.select_for_update(of=("self",))
        .select_related("work_order")
        .filter(pk=operation_id)
        .first()
    )
    if operation is None:
        raise NotFound(f"Operation {operation_id} no longer exists.")
    label = _operation_label(operation)
    if operation.state != OperationState.PENDING:
        raise Conflict(f"{label} is {operation.state}; only pending operations are re-planned.")
    if operation.assigned_equipment_id != from_equipment_id:
        raise Conflict(
            f"{label} was assigned to another machine since this was proposed; a newer plan "
            "decides where it goes."
        )
    entry = (
        ScheduledOperation.objects.filter(
            run__site_id=action.site_id, run__is_current=True, operation_id=operation.pk
        )
        .select_related("equipment")
        .first()
    )
    if entry is None:
        raise Conflict(f"The current plan no longer contains {label}.")
    if entry.equipment_id != target_equipment_id:
        raise Conflict(
            f"Superseded: the current plan (run {entry.run_id}) puts {label} on "
            f"{entry.equipment.code}."
        )
    result = {
        "operation_id": operation.pk,
        "run_id": entry.run_id,
        "old_equipment_id": operation.assigned_equipment_id,
        "old_planned_start_at": _iso(operation.planned_start_at),
        "old_planned_end_at": _iso(operation.planned_end_at),
        "new_equipment_id": entry.equipment_id,
        "new_planned_start_at": _iso(entry.planned_start_at),
        "new_planned_end_at": _iso(entry.planned_end_at),
    }
    operation.assigned_equipment_id = entry.equipment_id
    operation.planned_start_at = entry.planned_start_at
    operation.planned_end_at = entry.planned_end_at
    operation.save(update_fields=["assigned_equipment", "planned_start_at", "planned_end_at"])
    audit_event_record(
        actor=action.decided_by,
        obj=operation,
        action=verb,
        old_value=f"{result['old_equipment_id']} @ {result['old_planned_start_at']}",
        new_value=f"{entry.equipment.code} @ {result['new_planned_start_at']}",
        reason=f"proposed action {action.pk}",
    )
    return result


def _entry_revert(action, result: dict[str, Any], *, verb: str) -> str:
    """Put one operation back where ``result`` found it; returns its label."""
    from django.utils.dateparse import parse_datetime

    operation = (
        Operation.objects.select_for_update(of=("self",))
        .select_related("work_order")
        .filter(pk=result.get("operation_id"))
        .first()
    )
    if operation is None:
        raise NotFound("The operation no longer exists; nothing to undo.")
    label = _operation_label(operation)
    if operation.state != OperationState.PENDING:
        raise Conflict(f"{label} is {operation.state}; it cannot be moved back any more.")
    if operation.assigned_equipment_id != result.get("new_equipment_id"):
        raise Conflict(f"{label} was re-planned since; undo the later change first.")

    def parse(value: str | None) -> datetime | None:
        return parse_datetime(value) if value else None

    operation.assigned_equipment_id = result.get("old_equipment_id")
    operation.planned_start_at = parse(result.get("old_planned_start_at"))
    operation.planned_end_at = parse(result.get("old_planned_end_at"))
    if (
        operation.planned_start_at
        and operation.planned_end_at
        and operation.planned_end_at < operation.planned_start_at
    ):
        operation.planned_end_at = operation.planned_start_at
    operation.save(update_fields=["assigned_equipment", "planned_start_at", "planned_end_at"])
    audit_event_record(
        actor=action.reverted_by,
        obj=operation,
        action=f"{verb} (revert)",
        old_value=str(result.get("new_equipment_id")),
        new_value=str(result.get("old_equipment_id")),
        reason=f"revert of proposed action {action.pk}",
    )
    return label


def _replan_after_revert(action, what: str) -> None:
    site_id, action_id = action.site_id, action.pk
    transaction.on_commit(
        lambda: schedule_run_request(
            site_id=site_id,
            trigger=ScheduleTrigger.ON_DEMAND,
            detail=f"revert of action {action_id} ({what})",
        )
    )


def operation_reroute_apply(action) -> dict[str, Any]:
    """Guardrail handler: put the operation on the current plan's (new) machine and times."""
    return _entry_apply(
        action,
        operation_id=action.payload.get("operation_id"),
        from_equipment_id=action.inverse.get("equipment_id"),
        target_equipment_id=action.payload.get("to_equipment_id"),
        verb="reroute",
    )


def operation_reroute_revert(action) -> None:
    label = _entry_revert(action, action.result or {}, verb="reroute")
    _replan_after_revert(action, label)


def operation_resequence_apply(action) -> dict[str, Any]:
    """Guardrail handler: the current plan's times for the machine's resequenced operations.

    All or nothing: if one of them started or moved since, the action fails.
    """
    equipment_id = action.payload.get("equipment_id")
    results = [
        _entry_apply(
            action,
            operation_id=item["operation_id"],
            from_equipment_id=equipment_id,
            target_equipment_id=equipment_id,
            verb="resequence",
        )
        for item in sorted(action.payload.get("operations", []), key=lambda i: i["operation_id"])
    ]
    return {"equipment_id": equipment_id, "operations": results}


def operation_resequence_revert(action) -> None:
    results = (action.result or {}).get("operations", [])
    labels = [
        _entry_revert(action, result, verb="resequence")
        for result in sorted(results, key=lambda item: item["operation_id"])
    ]
    _replan_after_revert(action, ", ".join(labels))


# --- recovery and the periodic check -----------------------------------------------------------


def schedule_runs_recover(*, now: datetime | None = None) -> dict[str, int]:
    """Fail runs whose worker vanished; enqueue queued runs whose message was lost."""
    now = now or timezone.now()
    timeout = timedelta(seconds=float(_setting("SCHEDULING_RUN_TIMEOUT_S", 600)))
    failed = ScheduleRun.objects.filter(status=RUN.RUNNING, started_at__lt=now - timeout).update(
        status=RUN.FAILED,
        finished_at=now,
        error="No result within the run timeout (worker lost?).",
    )
    grace = timedelta(seconds=float(_setting("SCHEDULING_DEBOUNCE_S", 3.0)) + 30.0)
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
        _setting("SCHEDULING_RUNS_KEPT_PER_SITE", 100) if keep_per_site is None else keep_per_site
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
    from production.models import WorkOrder

    now = now or timezone.now()
    busy = set(
        ScheduleRun.objects.filter(status__in=[RUN.QUEUED, RUN.RUNNING]).values_list(
            "site_id", flat=True
        )
    )
    latest = selectors.latest_run_of_sites()
    open_sites = set(
        WorkOrder.objects.filter(state__in=selectors.SCHEDULED_WORK_ORDER_STATES).values_list(
            "site_id", flat=True
        )
    )
    interval = timedelta(seconds=float(_setting("SCHEDULING_REPLAN_INTERVAL_S", 1800)))
    requested = []
    for site_id in sorted((open_sites | set(latest)) - busy):
        last = latest.get(site_id)
        data = selectors.scheduling_input_load(site_id=site_id, now=now)
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


# ==============================================================================================
# Customer orders and dispatch
# ==============================================================================================


def _dispatch_error(error: pure_dispatch.DispatchInputError) -> ValidationFailed:
    codes = {
        pure_dispatch.UnknownPartTypeError: "unknown_part_type",
        pure_dispatch.NoCapableLineError: "no_capable_line",
        pure_dispatch.OrderTooLargeError: "order_too_large",
        pure_dispatch.NonPositiveQuantityError: "invalid_quantity",
    }
    return ValidationFailed(str(error), code=codes.get(type(error), "invalid_order"))


def _pure_order(order: CustomerOrder) -> pure_dispatch.Order:
    return pure_dispatch.Order(
        id=order.number,
        quantities={line.product.code: line.quantity for line in order.lines.all()},
    )


def _locked_setup(
    area_id: int, *, setup: DispatchSetup | None = None
) -> tuple[DispatchSetup, dict[str, int]]:
    """Lock the area's lines (dispatch of one area is serialised) and read their loads.

    A ``setup`` read earlier in the same transaction is reused when the lines are the same.
    """
    lines = list(Line.objects.select_for_update().filter(area_id=area_id).order_by("pk"))
    if setup is None or {line.pk for line in setup.lines.values()} - {line.pk for line in lines}:
        setup = selectors.dispatch_setup_get(area_id=area_id, lines=lines)
    loads = selectors.line_loads_units(line_ids=[line.pk for line in setup.lines.values()])
    return setup, {code: loads[line.pk] for code, line in setup.lines.items()}


def _decision_record(
    decision: pure_dispatch.Decision, setup: DispatchSetup, *, method: str
) -> dict[str, Any]:
    return {
        "method": method,
        "rule": decision.rule.value,
        "line": decision.line_id,
        "cost_ratio": jsonable(decision.cost_ratio),
        "threshold": decision.threshold,
        "weights": jsonable(setup.weights),
        "policy_is_default": setup.policy_is_default,
        "line_costs": jsonable(decision.line_costs),
        "message": decision.message,
        "decided_at": timezone.now().isoformat(),
    }


def _order_broadcast(order: CustomerOrder) -> None:
    payload = {
        "id": order.pk,
        "number": order.number,
        "state": order.state,
        "line": order.line_id,
        "line_step": order.line_step,
        "line_stage": order.line_stage,
    }
    groups = [group_name("site", order.site_id)]
    if order.line_id is not None:
        groups.append(group_name("line", order.line_id))
    broadcast(groups, "customer_order", payload)


def _order_move(
    order: CustomerOrder,
    *,
    to_state: str,
    allowed_from: set[str],
    actor,
    action: str,
    reason: str,
    updates: dict[str, Any],
) -> CustomerOrder:
    moved = state_transition(
        model=CustomerOrder,
        pk=order.pk,
        allowed_from=allowed_from,
        to_state=to_state,
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        reason=reason[:500],
        updates=updates,
    )
    _order_broadcast(moved)
    return moved


def _dispatch_one(
    order: CustomerOrder,
    setup: DispatchSetup,
    loads: dict[str, int],
    *,
    actor,
    keep_backlog_quiet: bool = False,
) -> CustomerOrder:
    """Apply the online rule to one pending/backlog order (lines already locked)."""
    pure_order = _pure_order(order)
    try:
        decision = pure_dispatch.dispatch_order(
            pure_order, setup.pure_lines, loads, weights=setup.weights, config=setup.config
        )
    except pure_dispatch.DispatchInputError as error:
        raise _dispatch_error(error) from error
    record = _decision_record(decision, setup, method="online")
    if decision.line_id is None:
        if order.state == ORDER.BACKLOG:
            if not keep_backlog_quiet:
                CustomerOrder.objects.filter(pk=order.pk).update(dispatch_explanation=record)
                order.dispatch_explanation = record
            return order
        return _order_move(
            order,
            to_state=ORDER.BACKLOG,
            allowed_from={ORDER.PENDING},
            actor=actor,
            action="backlog",
            reason=decision.message,
            updates={"dispatch_explanation": record},
        )
    line = setup.lines[decision.line_id]
    loads[decision.line_id] = loads.get(decision.line_id, 0) + pure_order.quantity_units
    return _order_move(
        order,
        to_state=ORDER.DISPATCHED,
        allowed_from={ORDER.PENDING, ORDER.BACKLOG},
        actor=actor,
        action="dispatch",
        reason=decision.message,
        updates={
            "line": line,
            "dispatched_at": timezone.now(),
            "dispatch_explanation": record,
            "line_stage": LineOrderStage.NEW.value,
            "line_step": "",
            "line_updated_at": None,
            "line_last_event": "",
        },
    )


@transaction.atomic
def customer_order_create(
    *,
    number: str,
    area_id: int,
    parts: dict[str, int],
    priority: int = 5,
    dispatch: bool = True,
    actor=None,
) -> CustomerOrder:
    """Record a customer order (part counts per product code) and, by default, dispatch it.

    Refused with a clear message (400): no parts, a count that is not a positive whole number,
    an unknown part type, a part type no line of the area makes, parts no single line makes
    together, or more units than the largest capable line holds. A number in use is a 409.
    """
    number = (number or "").strip()
    if not number:
        raise ValidationFailed("The order needs a number.", detail={"number": number})
    if not isinstance(parts, dict) or not parts:
        raise ValidationFailed(
            "The order needs at least one part type with a count.", code="invalid_quantity"
        )
    for code, quantity in parts.items():
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise ValidationFailed(
                f"The count of {code} must be a whole number ≥ 1, got {quantity!r}.",
                code="invalid_quantity",
                detail={"part": code, "quantity": quantity},
            )
    if not 1 <= int(priority) <= 9:
        raise ValidationFailed("Priorities run from 1 (most urgent) to 9.")
    area = Area.objects.select_related("site").filter(pk=area_id).first()
    if area is None:
        raise NotFound(f"Area {area_id} does not exist.")
    products = {product.code: product for product in Product.objects.filter(code__in=list(parts))}
    unknown = sorted(set(parts) - set(products))
    setup = selectors.dispatch_setup_get(area_id=area.pk)
    known = sorted({code for line in setup.pure_lines for code in line.part_rates})
    if unknown:
        raise ValidationFailed(
            f"Unknown part type(s) {', '.join(unknown)}; the lines of {area} make "
            f"{', '.join(known) or 'nothing yet'}.",
            code="unknown_part_type",
            detail={"unknown": unknown, "known": known},
        )
    if not setup.pure_lines:
        raise ValidationFailed(
            f"No line of area {area} has part parameters; add them (time and power per part) "
            "in the admin before sending orders.",
            code="no_capable_line",
        )
    try:  # validate against the lines (capacity, part types) before anything is written
        pure_dispatch.dispatch_order(
            pure_dispatch.Order(id=number, quantities=parts),
            setup.pure_lines,
            {},
            weights=setup.weights,
            config=setup.config,
        )
    except pure_dispatch.DispatchInputError as error:
        raise _dispatch_error(error) from error
    try:
        with transaction.atomic():
            order = CustomerOrder.objects.create(
                number=number, site=area.site, area=area, priority=int(priority)
            )
    except IntegrityError as error:
        raise Conflict(f"Customer order {number!r} exists already.") from error
    CustomerOrderLine.objects.bulk_create(
        CustomerOrderLine(order=order, product=products[code], quantity=quantity)
        for code, quantity in parts.items()
    )
    audit_event_record(
        actor=actor if actor is not None and actor.is_authenticated else None,
        obj=order,
        action="create",
        new_value=ORDER.PENDING,
        data={"parts": parts},
    )
    if dispatch:
        locked_setup, loads = _locked_setup(area.pk, setup=setup)
        order = _dispatch_one(order, locked_setup, loads, actor=actor)
    else:
        _order_broadcast(order)
    return order


@transaction.atomic
def customer_order_dispatch(*, order_id: int, actor=None) -> CustomerOrder:
    """Dispatch one pending or backlogged order now with the online rule."""
    order = CustomerOrder.objects.filter(pk=order_id).first()
    if order is None:
        raise NotFound(f"Customer order {order_id} does not exist.")
    setup, loads = _locked_setup(order.area_id)
    order = CustomerOrder.objects.select_for_update().get(pk=order_id)
    if order.state not in (ORDER.PENDING, ORDER.BACKLOG):
        raise Conflict(
            f"Order {order.number} is {order.state}; only pending or backlogged orders are "
            "dispatched.",
            code="invalid_transition",
            detail={"current_state": order.state},
        )
    return _dispatch_one(order, setup, loads, actor=actor)


@dataclass(frozen=True)
class BatchDispatchOutcome:
    method: str
    is_optimal: bool
    mip_gap: float | None
    total_cost: float
    dispatched: list[str] = field(default_factory=list)
    backlogged: list[str] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)
    solver_message: str = ""


@transaction.atomic
def customer_orders_dispatch_batch(*, area_id: int, actor=None) -> BatchDispatchOutcome:
    """Assign every pending and backlogged order of the area at once (integer program).

    Minimises the total cost under the lines' remaining capacity (LP relaxation, then MILP on
    the orders it splits; the greedy online rule if HiGHS finds nothing in time). Orders that
    fit nowhere go to (or stay in) the backlog. An order the current lines cannot take at all
    (e.g. its part type was removed) is left as it is and reported.
    """
    if not Area.objects.filter(pk=area_id).exists():
        raise NotFound(f"Area {area_id} does not exist.")
    setup, loads = _locked_setup(area_id)
    orders = list(
        CustomerOrder.objects.select_for_update()
        .filter(area_id=area_id, state__in=[ORDER.PENDING, ORDER.BACKLOG])
        .prefetch_related("lines__product")
        .order_by("received_at", "pk")
    )
    refused: list[dict[str, str]] = []
    valid: list[CustomerOrder] = []
    for order in orders:
        try:
            pure_dispatch.dispatch_order(
                _pure_order(order),
                setup.pure_lines,
                {},
                weights=setup.weights,
                config=setup.config,
            )
        except pure_dispatch.DispatchInputError as error:
            refused.append({"order": order.number, "message": str(error)})
            continue
        valid.append(order)
    if not valid:
        return BatchDispatchOutcome("none", True, 0.0, 0.0, refused=refused)
    result = pure_dispatch.dispatch_batch(
        [_pure_order(order) for order in valid],
        setup.pure_lines,
        loads,
        weights=setup.weights,
        config=setup.config,
        time_limit_s=float(_setting("SCHEDULING_DISPATCH_BATCH_TIME_LIMIT_S", 1.0)),
    )
    dispatched: list[str] = []
    backlogged: list[str] = []
    now = timezone.now()
    for order, assignment in zip(valid, result.assignments, strict=True):
        costs = pure_dispatch.order_costs(
            _pure_order(order), setup.pure_lines, loads, setup.weights
        )
        gap = "" if result.mip_gap is None else f", gap ≤ {result.mip_gap:.3%}"
        record = {
            "method": f"batch:{result.method}",
            "rule": "batch_min_total_cost" if assignment.line_id else "backlog",
            "line": assignment.line_id,
            "cost": jsonable(assignment.cost),
            "weights": jsonable(setup.weights),
            "policy_is_default": setup.policy_is_default,
            "line_costs": jsonable(costs),
            "batch": {
                "orders": len(valid),
                "total_cost": jsonable(result.total_cost),
                "is_optimal": result.is_optimal,
                "mip_gap": jsonable(result.mip_gap),
            },
            "message": (
                f"order {order.number} → {assignment.line_id} by the batch program "
                f"({result.method}{gap}): cost {assignment.cost:.1f}, total over "
                f"{len(valid)} orders minimised under line capacity"
                if assignment.line_id
                else f"order {order.number} backlogged by the batch program ({result.method}): "
                "no room left on any line"
            ),
            "decided_at": now.isoformat(),
        }
        if assignment.line_id is None:
            backlogged.append(order.number)
            if order.state == ORDER.BACKLOG:
                CustomerOrder.objects.filter(pk=order.pk).update(dispatch_explanation=record)
            else:
                _order_move(
                    order,
                    to_state=ORDER.BACKLOG,
                    allowed_from={ORDER.PENDING},
                    actor=actor,
                    action="backlog",
                    reason=record["message"],
                    updates={"dispatch_explanation": record},
                )
            continue
        dispatched.append(order.number)
        _order_move(
            order,
            to_state=ORDER.DISPATCHED,
            allowed_from={ORDER.PENDING, ORDER.BACKLOG},
            actor=actor,
            action="dispatch",
            reason=record["message"],
            updates={
                "line": setup.lines[assignment.line_id],
                "dispatched_at": now,
                "dispatch_explanation": record,
                "line_stage": LineOrderStage.NEW.value,
                "line_step": "",
                "line_updated_at": None,
                "line_last_event": "",
            },
        )
    return BatchDispatchOutcome(
        method=result.method,
        is_optimal=result.is_optimal,
        mip_gap=jsonable(result.mip_gap),
        total_cost=result.total_cost,
        dispatched=dispatched,
        backlogged=backlogged,
        refused=refused,
        solver_message=result.solver_message,
    )


def _backlog_retry_locked(area_id: int, *, actor=None) -> list[CustomerOrder]:
    setup, loads = _locked_setup(area_id)
    dispatched = []
    for order in (
        CustomerOrder.objects.select_for_update()
        .filter(area_id=area_id, state=ORDER.BACKLOG)
        .prefetch_related("lines__product")
        .order_by("received_at", "pk")
    ):
        try:
            moved = _dispatch_one(order, setup, loads, actor=actor, keep_backlog_quiet=True)
        except ValidationFailed:
            continue  # master data changed under it: a person has to look at it
        if moved.state == ORDER.DISPATCHED:
            dispatched.append(moved)
    return dispatched


@transaction.atomic
def customer_orders_backlog_retry(*, area_id: int, actor=None) -> list[CustomerOrder]:
    """Dispatch backlogged orders of the area, oldest first, wherever room has freed."""
    return _backlog_retry_locked(area_id, actor=actor)


@transaction.atomic
def customer_order_cancel(*, order_id: int, actor, reason: str = "") -> CustomerOrder:
    """Cancel an order that is not finished; its line capacity frees for the backlog."""
    order = CustomerOrder.objects.filter(pk=order_id).first()
    if order is None:
        raise NotFound(f"Customer order {order_id} does not exist.")
    moved = _order_move(
        order,
        to_state=ORDER.CANCELLED,
        allowed_from={ORDER.PENDING, ORDER.BACKLOG, ORDER.DISPATCHED, ORDER.IN_PROGRESS},
        actor=actor,
        action="cancel",
        reason=reason,
        updates={"line_stage": LineOrderStage.CANCELLED.value},
    )
    if order.state in LOADING_STATES:
        _backlog_retry_locked(order.area_id, actor=actor)
    return moved


@transaction.atomic
def customer_order_dispatch_override_request(
    *, order_id: int, line_id: int, actor, reason: str = ""
) -> ProposedAction:
    """A supervisor asks to put an order on another line: a high-risk proposed action.

    It waits for a supervisor's signed approval (whatever the autonomy mode); the handler
    checks the line's room when it is applied.
    """
    order = (
        CustomerOrder.objects.select_related("line", "area")
        .prefetch_related("lines__product")
        .filter(pk=order_id)
        .first()
    )
    if order is None:
        raise NotFound(f"Customer order {order_id} does not exist.")
    line = Line.objects.filter(pk=line_id).first()
    if line is None or line.area_id != order.area_id:
        raise ValidationFailed(
            f"Line {line_id} is not a line of area {order.area}.", detail={"line": line_id}
        )
    if order.state not in (ORDER.PENDING, ORDER.BACKLOG, ORDER.DISPATCHED):
        raise Conflict(
            f"Order {order.number} is {order.state}; only orders not yet started are moved.",
            code="invalid_transition",
            detail={"current_state": order.state},
        )
    if order.line_id == line.pk:
        raise ValidationFailed(f"Order {order.number} is on {line.code} already.")
    setup = selectors.dispatch_setup_get(area_id=order.area_id)
    rates = next((item for item in setup.pure_lines if item.id == line.code), None)
    quantities = _pure_order(order).quantities
    missing = sorted(code for code in quantities if rates is None or code not in rates.part_rates)
    if missing:
        raise ValidationFailed(
            f"Line {line.code} does not make {', '.join(missing)}.",
            code="no_capable_line",
            detail={"missing": missing},
        )
    who = actor.get_username() if actor is not None and actor.is_authenticated else "someone"
    text = (
        f"{who} asks to put order {order.number} ({sum(quantities.values())} units) on "
        f"{line.code} instead of "
        f"{order.line.code if order.line else 'the dispatcher’s choice (' + order.state + ')'}"
        + (f": {reason}" if reason else ".")
    )
    return action_propose(
        site=order.site,
        kind=ActionKind.DISPATCH_OVERRIDE,
        target=f"order {order.number} → {line.code}",
        payload={"order_id": order.pk, "line_id": line.pk, "reason": reason},
        inverse={"line_id": order.line_id, "state": order.state},
        explanation=text,
        explanation_data={"dispatch": order.dispatch_explanation, "requested_by": who},
        actor=actor,
    )


def dispatch_override_apply(action) -> dict[str, Any]:
    """Guardrail handler: move the order to the line of the override (room is checked)."""
    payload = action.payload
    order = CustomerOrder.objects.filter(pk=payload.get("order_id")).first()
    if order is None:
        raise NotFound(f"Customer order {payload.get('order_id')} no longer exists.")
    _setup, loads = _locked_setup(order.area_id)
    order = CustomerOrder.objects.select_for_update().get(pk=order.pk)
    if order.state not in (ORDER.PENDING, ORDER.BACKLOG, ORDER.DISPATCHED):
        raise Conflict(f"Order {order.number} is {order.state}; it cannot be moved any more.")
    line = Line.objects.filter(pk=payload.get("line_id"), area_id=order.area_id).first()
    if line is None:
        raise NotFound("The override's line no longer belongs to the order's area.")
    units = sum(order.lines.values_list("quantity", flat=True))
    load = loads.get(line.code, 0) - (units if order.line_id == line.pk else 0)
    if load + units > line.capacity_units:
        raise Conflict(
            f"Line {line.code} has no room for order {order.number}: load {load} + {units} "
            f"units > capacity {line.capacity_units}."
        )
    result = {
        "order_id": order.pk,
        "old_line_id": order.line_id,
        "old_state": order.state,
        "old_dispatched_at": _iso(order.dispatched_at),
        "old_explanation": order.dispatch_explanation,
    }
    record = {
        "method": "override",
        "rule": "dispatch_override",
        "line": line.code,
        "action_id": action.pk,
        "message": f"order {order.number} → {line.code} by a supervisor's override "
        f"(action {action.pk}): {payload.get('reason') or 'no reason given'}",
        "previous": order.dispatch_explanation,
        "decided_at": timezone.now().isoformat(),
    }
    _order_move(
        order,
        to_state=ORDER.DISPATCHED,
        allowed_from={ORDER.PENDING, ORDER.BACKLOG, ORDER.DISPATCHED},
        actor=action.decided_by,
        action="dispatch override",
        reason=record["message"],
        updates={
            "line": line,
            "dispatched_at": timezone.now(),
            "dispatch_explanation": record,
            "line_stage": LineOrderStage.NEW.value,
            "line_step": "",
            "line_updated_at": None,
            "line_last_event": "",
        },
    )
    return result


def dispatch_override_revert(action) -> None:
    from django.utils.dateparse import parse_datetime

    result = action.result or {}
    order = CustomerOrder.objects.filter(pk=result.get("order_id")).first()
    if order is None:
        raise NotFound("The order no longer exists; nothing to undo.")
    _locked_setup(order.area_id)
    order = CustomerOrder.objects.select_for_update().get(pk=order.pk)
    if order.state != ORDER.DISPATCHED or order.line_id != action.payload.get("line_id"):
        raise Conflict(
            f"Order {order.number} is {order.state} on another line or started; the override "
            "cannot be undone."
        )
    old_state = result.get("old_state") or ORDER.PENDING
    old_dispatched = result.get("old_dispatched_at")
    _order_move(
        order,
        to_state=old_state,
        allowed_from={ORDER.DISPATCHED},
        actor=action.reverted_by,
        action="dispatch override (revert)",
        reason=f"revert of proposed action {action.pk}",
        updates={
            "line_id": result.get("old_line_id"),
            "dispatched_at": parse_datetime(old_dispatched) if old_dispatched else None,
            "dispatch_explanation": result.get("old_explanation") or {},
            "line_stage": LineOrderStage.NEW.value if result.get("old_line_id") else "",
        },
    )


# ==============================================================================================
# Line orders: station events from the plant
# ==============================================================================================


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
        _order_move(
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
        _order_move(
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
    _order_broadcast(order)
    return None


def _stock_book(order: CustomerOrder, *, at: datetime) -> list[str]:
    """Book the order's finished parts: one produced lot per product into finished goods."""
    from inventory.choices import MovementKind
    from inventory.models import Location
    from inventory.services import stock_move
    from traceability.choices import LotOrigin
    from traceability.models import Lot
    from traceability.services import lot_create

    code = str(_setting("SCHEDULING_FINISHED_GOODS_LOCATION", "FG-STORE"))
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


def scheduling_handlers_register() -> None:
    """Register the guardrail handlers of reroute, resequence and dispatch override."""
    from autonomy.services.guardrails import action_handler_register

    action_handler_register(
        ActionKind.REROUTE, apply=operation_reroute_apply, revert=operation_reroute_revert
    )
    action_handler_register(
        ActionKind.RESEQUENCE, apply=operation_resequence_apply, revert=operation_resequence_revert
    )
    action_handler_register(
        ActionKind.DISPATCH_OVERRIDE, apply=dispatch_override_apply, revert=dispatch_override_revert
    )
