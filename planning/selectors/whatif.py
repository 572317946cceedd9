"""What-if forecasts on the plant model: the current plan against a proposed plan change, or
against a machine down for a while ("what if CNC_Spindle_7 is down for 4 h from now").

Reads only: the site's open work, machines, health and maintenance windows
(:func:`planning.selectors.scheduling_input.scheduling_input_load`), the operations'
committed machines and times (the current plan), the proposal's targets; the forward run is
:func:`planning.algorithms.scheduler.whatif.simulate_plan`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from autonomy.choices import ActionKind
from autonomy.models import ProposedAction
from planning.algorithms.dispatch.model import Order
from planning.algorithms.dispatch.whatif import LineForecast, line_queues_forecast
from planning.algorithms.scheduler.whatif import Forecast, Outage, SimulationConfig, simulate_plan
from planning.models import CustomerOrder
from planning.selectors.dispatch import LOADING_STATES, dispatch_setup_get
from planning.selectors.scheduling_input import SchedulingInput, scheduling_input_load
from planning.services.values import iso_text, setting, utc_at

__all__ = ["whatif_action", "whatif_dispatch", "whatif_outage", "whatif_plan_change"]


def _config(data: SchedulingInput) -> SimulationConfig:
    return SimulationConfig(
        health_slowdown=float(setting("SCHEDULING_WHATIF_HEALTH_SLOWDOWN", 0.2)),
        default_power_kw=float(setting("SCHEDULING_WHATIF_MACHINE_POWER_KW", 10.0)),
    )


def _current_slots(data: SchedulingInput) -> dict[str, tuple[str, float]]:
    """Operation → (machine, planned start) as committed now."""
    return {slot.operation_id: (slot.machine_id, slot.start_s) for slot in data.current_slots}


def _sequences(slots: dict[str, tuple[str, float]]) -> dict[str, list[str]]:
    queues: dict[str, list[tuple[float, str]]] = {}
    for operation_id, (machine_id, start_s) in slots.items():
        queues.setdefault(machine_id, []).append((start_s, operation_id))
    return {machine: [op for _, op in sorted(items)] for machine, items in queues.items()}


def _forecast_record(data: SchedulingInput, forecast: Forecast) -> dict[str, Any]:
    code = {info.machine_id: info.code for info in data.machine_info.values()}
    return {
        "makespan_h": round(forecast.makespan_s / 3600.0, 3),
        "total_tardiness_h": round(forecast.total_tardiness_s / 3600.0, 3),
        "late_work_orders": forecast.late_job_count,
        "energy_kwh": round(forecast.energy_kwh, 2),
        "orders": [
            {
                "work_order": job.job_id,
                "due_at": iso_text(utc_at(job.due_at_s)),
                "completion_at": None
                if job.completion_s is None
                else iso_text(utc_at(job.completion_s)),
                "tardiness_h": round(job.tardiness_s / 3600.0, 3),
            }
            for job in forecast.jobs
        ],
        "utilisation": [
            {"equipment": code.get(machine, machine), "utilisation": round(value, 4)}
            for machine, value in sorted(forecast.utilisation.items())
        ],
        "not_run": list(forecast.not_run),
    }


def _compare(
    data: SchedulingInput,
    current: Forecast,
    proposed: Forecast,
    what: str,
) -> dict[str, Any]:
    current_record = _forecast_record(data, current)
    proposed_record = _forecast_record(data, proposed)
    return {
        "what": what,
        "site": data.site_id,
        "at": iso_text(data.now),
        "current": current_record,
        "proposed": proposed_record,
        "delta": {
            key: round(proposed_record[key] - current_record[key], 3)
            for key in ("makespan_h", "total_tardiness_h", "late_work_orders", "energy_kwh")
        },
    }


def whatif_plan_change(*, action: ProposedAction, now: datetime | None = None) -> dict[str, Any]:
    """The current plan against the plan with ``action``'s moves and new times applied."""
    data = scheduling_input_load(site_id=action.site_id, now=now or timezone.now())
    by_operation = {info.operation_id: info.key for info in data.operation_info.values()}
    current = _current_slots(data)
    proposed = dict(current)
    payload = action.payload or {}
    entries = payload.get("operations", []) if payload.get("plan_change") else [payload]
    if not payload.get("plan_change") and "operations" in payload:  # a single resequence
        entries = [
            {**item, "to_equipment_id": payload.get("equipment_id")}
            for item in payload["operations"]
        ]
    for entry in entries:
        key = by_operation.get(entry.get("operation_id"))
        machine = data.machine_id_of.get(entry.get("to_equipment_id") or 0)
        if key is None or machine is None:
            continue
        start = entry.get("planned_start_at")
        start_s = datetime.fromisoformat(start).timestamp() if start else data.now_s
        proposed[key] = (machine, start_s)
    config = _config(data)
    return _compare(
        data,
        simulate_plan(data.machines, data.jobs, _sequences(current), data.now_s, config=config),
        simulate_plan(data.machines, data.jobs, _sequences(proposed), data.now_s, config=config),
        f"proposed action {action.pk}: {action.target}",
    )


def whatif_outage(
    *, site_id: int, equipment_id: int, hours: float, now: datetime | None = None
) -> dict[str, Any]:
    """The current plan as it stands against the same plan with the machine down for
    ``hours`` from now (nothing re-planned: what happens if nobody acts)."""
    data = scheduling_input_load(site_id=site_id, now=now or timezone.now())
    machine = data.machine_id_of[equipment_id]
    sequences = _sequences(_current_slots(data))
    config = _config(data)
    outage = Outage(machine, data.now_s, (data.now + timedelta(hours=hours)).timestamp())
    code = data.machine_info[machine].code
    return _compare(
        data,
        simulate_plan(data.machines, data.jobs, sequences, data.now_s, config=config),
        simulate_plan(
            data.machines, data.jobs, sequences, data.now_s, outages=[outage], config=config
        ),
        f"{code} down for {hours:g} h from now",
    )


def whatif_action(*, action: ProposedAction, now: datetime | None = None) -> dict[str, Any]:
    """The what-if of a proposed action: a dispatch override or a plan change."""
    if action.kind == ActionKind.DISPATCH_OVERRIDE:
        return whatif_dispatch(action=action, now=now)
    return whatif_plan_change(action=action, now=now)


def _dispatch_record(
    forecasts: tuple[LineForecast, ...], orders: dict[str, CustomerOrder], now: datetime
) -> dict[str, Any]:
    makespan_s = max((item.busy_s for item in forecasts), default=0.0)
    return {
        "makespan_h": round(makespan_s / 3600.0, 3),
        "total_tardiness_h": 0.0,
        "late_work_orders": 0,
        "energy_kwh": round(sum(item.energy_kwh for item in forecasts), 3),
        "cost": round(sum(item.cost for item in forecasts), 4),
        "orders": [
            {
                "work_order": number,
                "line": item.line_id,
                "due_at": None,
                "completion_at": iso_text(now + timedelta(seconds=done_s)),
                "tardiness_h": 0.0,
            }
            for item in forecasts
            for number, done_s in item.completion_s.items()
            if number in orders
        ],
        "utilisation": [
            {
                "equipment": item.line_id,
                "utilisation": round(item.busy_s / makespan_s, 4) if makespan_s else 0.0,
            }
            for item in forecasts
        ],
        "not_run": [],
    }


def whatif_dispatch(*, action: ProposedAction, now: datetime | None = None) -> dict[str, Any]:
    """A dispatch override: the lines' queues (dispatched and running orders, first in first
    out; a running order counted whole) as they are and with the order on the new line."""
    now = now or timezone.now()
    order = (
        CustomerOrder.objects.select_related("line")
        .prefetch_related("lines__product")
        .get(pk=action.payload.get("order_id"))
    )
    setup = dispatch_setup_get(area_id=order.area_id)
    queued = list(
        CustomerOrder.objects.filter(area_id=order.area_id, state__in=LOADING_STATES)
        .exclude(pk=order.pk)
        .select_related("line")
        .prefetch_related("lines__product")
        .order_by("dispatched_at", "pk")
    )

    def pure(item: CustomerOrder) -> Order:
        return Order(item.number, {row.product.code: row.quantity for row in item.lines.all()})

    current: dict[str, list[Order]] = {code: [] for code in setup.lines}
    for item in [*queued, order]:
        if item.line_id is not None and item.line.code in current:
            current[item.line.code].append(pure(item))
    proposed = {code: [o for o in queue if o.id != order.number] for code, queue in current.items()}
    target = next(
        (code for code, line in setup.lines.items() if line.pk == action.payload.get("line_id")),
        None,
    )
    if target is not None:
        proposed[target].append(pure(order))
    orders = {item.number: item for item in [*queued, order]}
    current_record = _dispatch_record(
        line_queues_forecast(setup.pure_lines, current, weights=setup.weights), orders, now
    )
    proposed_record = _dispatch_record(
        line_queues_forecast(setup.pure_lines, proposed, weights=setup.weights), orders, now
    )
    return {
        "what": f"proposed action {action.pk}: {action.target}",
        "site": order.site_id,
        "at": iso_text(now),
        "current": current_record,
        "proposed": proposed_record,
        "delta": {
            key: round(proposed_record[key] - current_record[key], 4)
            for key in ("makespan_h", "total_tardiness_h", "late_work_orders", "energy_kwh")
        },
    }
