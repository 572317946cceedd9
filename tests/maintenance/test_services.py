from datetime import timedelta

import pytest
from django.utils import timezone

from maintenance import services
from maintenance.models import MaintenanceWorkOrder
from mes_site.errors import InvalidTransition, ValidationFailed
from traceability.models import AuditEvent

STATES = ["requested", "scheduled", "in_progress", "done", "cancelled"]


def _window():
    start = timezone.now() + timedelta(hours=2)
    return {"window_start_at": start, "window_end_at": start + timedelta(hours=3)}


COMMANDS = {
    "schedule": (
        lambda pk: services.maintenance_work_order_schedule(order_id=pk, actor=None, **_window()),
        {"requested", "scheduled"},
        "scheduled",
    ),
    "start": (
        lambda pk: services.maintenance_work_order_start(order_id=pk, actor=None),
        {"scheduled"},
        "in_progress",
    ),
    "complete": (
        lambda pk: services.maintenance_work_order_complete(order_id=pk, actor=None),
        {"in_progress"},
        "done",
    ),
    "cancel": (
        lambda pk: services.maintenance_work_order_cancel(order_id=pk, actor=None),
        {"requested", "scheduled", "in_progress"},
        "cancelled",
    ),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("from_state", STATES)
def test_maintenance_transition_matrix(plant, command, from_state):
    run, allowed_from, to_state = COMMANDS[command]
    order = services.maintenance_work_order_create(
        equipment=plant.equipment, kind="corrective", title="Leak"
    )
    MaintenanceWorkOrder.objects.filter(pk=order.pk).update(state=from_state)
    before = AuditEvent.objects.filter(object_id=str(order.pk)).count()
    if from_state in allowed_from:
        assert run(order.pk).state == to_state
        assert AuditEvent.objects.filter(object_id=str(order.pk)).count() == before + 1
    else:
        with pytest.raises(InvalidTransition):
            run(order.pk)
        assert MaintenanceWorkOrder.objects.get(pk=order.pk).state == from_state
        assert AuditEvent.objects.filter(object_id=str(order.pk)).count() == before


def test_create_refuses_bad_input(plant):
    with pytest.raises(ValidationFailed, match="Unknown maintenance kind"):
        services.maintenance_work_order_create(equipment=plant.equipment, kind="magic", title="x")
    window = _window()
    with pytest.raises(ValidationFailed, match="end after"):
        services.maintenance_work_order_create(
            equipment=plant.equipment,
            kind="preventive",
            title="x",
            window_start_at=window["window_end_at"],
            window_end_at=window["window_start_at"],
        )
    assert not MaintenanceWorkOrder.objects.exists()


def test_maintenance_api_scope_and_permissions(api_for, plant):
    other = services.maintenance_work_order_create(
        equipment=plant.other_equipment, kind="corrective", title="Other site"
    )
    own = services.maintenance_work_order_create(
        equipment=plant.equipment, kind="corrective", title="Own site"
    )
    supervisor = api_for("supervisor")
    listed = supervisor.get("/api/maintenance/work-orders/").json()
    assert [row["id"] for row in listed["results"]] == [own.pk]
    assert supervisor.post(f"/api/maintenance/work-orders/{other.pk}/cancel/").status_code == 404
    scheduled = supervisor.post(
        f"/api/maintenance/work-orders/{own.pk}/schedule/",
        {k: v.isoformat() for k, v in _window().items()},
        format="json",
    )
    assert scheduled.status_code == 200
    assert supervisor.post(f"/api/maintenance/work-orders/{own.pk}/start/").status_code == 403
    technician = api_for("maintenance")
    assert (
        technician.post(f"/api/maintenance/work-orders/{own.pk}/start/").json()["state"]
        == "in_progress"
    )
    assert (
        technician.post(f"/api/maintenance/work-orders/{own.pk}/complete/").json()["state"]
        == "done"
    )
