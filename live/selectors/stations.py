"""The operator HMI and the equipment page: stations, a station's queue and view, telemetry URLs."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils import timezone

from live.selectors.current import (
    alerts_open,
    equipment_states,
    oee_current,
    station_current_operation,
    stops_recent,
)
from planning.models import ScheduledOperation, ScheduleRun
from production.choices import OeeScope, OperationState, WorkOrderState
from production.models import Equipment, Operation, WorkOrder
from production.selectors.plant import equipment_list


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


def station_for_login():
    """Active stations, for the badge/PIN login page (shown before anybody is logged in; the
    backend checks the badge's scope against the station's line)."""
    return Equipment.objects.filter(is_active=True).select_related("cell__line")


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


def station_view(*, equipment: Equipment, user) -> dict[str, Any]:
    """Everything the HMI shows for one station (``equipment`` is in the user's scope)."""
    now = timezone.now()
    current = station_current_operation(equipment.pk)
    return {
        "equipment": equipment,
        "state": equipment_states([equipment.pk], now=now).get(equipment.pk),
        "operation": current,
        "queue": station_queue(equipment=equipment) if current is None else [],
        "oee": oee_current(OeeScope.EQUIPMENT, [equipment.pk])[equipment.pk],
        "alerts": alerts_open(user=user, equipment_id=equipment.pk, limit=10),
        "stops": stops_recent(user=user, equipment_id=equipment.pk, limit=8),
    }


def telemetry_urls(equipment_id: int) -> dict[str, str]:
    """URLs of the telemetry API for the equipment page.

    ``series`` has ``{id}`` where the signal id goes; ``current_values`` is this equipment's.
    """
    series = reverse("telemetry-signal-series", kwargs={"signal_id": 0})
    return {
        "series": series.replace("/0/", "/{id}/"),
        "current_values": reverse(
            "telemetry-current-values", kwargs={"equipment_id": equipment_id}
        ),
    }
