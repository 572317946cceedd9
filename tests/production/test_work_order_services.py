import threading

import pytest
from django.db import connection

from mes_site.errors import Conflict, InvalidTransition, ValidationFailed
from production import services
from production.models import Operation, WorkOrder
from traceability.models import AuditEvent

STATES = ["planned", "released", "in_progress", "paused", "completed", "cancelled"]
COMMANDS = {
    "release": (services.work_order_release, {"planned"}, "released"),
    "start": (services.work_order_start, {"released"}, "in_progress"),
    "pause": (services.work_order_pause, {"in_progress"}, "paused"),
    "resume": (services.work_order_resume, {"paused"}, "in_progress"),
    "complete": (services.work_order_complete, {"in_progress", "paused"}, "completed"),
    "cancel": (services.work_order_cancel, {"planned", "released", "paused"}, "cancelled"),
}


def _audit_count(work_order) -> int:
    return AuditEvent.objects.filter(
        content_type__model="workorder", object_id=str(work_order.pk)
    ).count()


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("from_state", STATES)
def test_work_order_transition_matrix(make_work_order, command, from_state):
    service, allowed_from, to_state = COMMANDS[command]
    work_order = make_work_order(state=from_state)
    audits_before = _audit_count(work_order)
    if from_state in allowed_from:
        updated = service(work_order_id=work_order.pk, actor=None, reason="test")
        assert updated.state == to_state
        assert WorkOrder.objects.get(pk=work_order.pk).state == to_state
        event = AuditEvent.objects.filter(object_id=str(work_order.pk)).first()
        assert (event.action, event.old_value, event.new_value) == (command, from_state, to_state)
        assert event.reason == "test"
        assert event.actor_name == "system"
        assert _audit_count(work_order) == audits_before + 1
    else:
        with pytest.raises(InvalidTransition) as error:
            service(work_order_id=work_order.pk, actor=None)
        assert repr(from_state) in error.value.message
        assert error.value.detail["current_state"] == from_state
        assert WorkOrder.objects.get(pk=work_order.pk).state == from_state
        assert _audit_count(work_order) == audits_before


def test_work_order_create_copies_the_routing(plant):
    from datetime import UTC, datetime

    work_order = services.work_order_create(
        number="WO-X",
        product=plant.product,
        quantity=5,
        due_at=datetime(2026, 12, 1, tzinfo=UTC),
        site=plant.site,
        line=plant.line,
    )
    steps = list(work_order.operations.values_list("sequence", "name", "state", "force_kn"))
    assert steps == [(10, "Step 10", "pending", 5.0), (20, "Step 20", "pending", 5.0)]
    assert work_order.state == "planned"
    assert AuditEvent.objects.filter(object_id=str(work_order.pk), action="create").count() == 1


def test_work_order_create_refuses_bad_input(plant, make_work_order):
    from datetime import datetime

    existing = make_work_order()
    with pytest.raises(Conflict):
        services.work_order_create(
            number=existing.number,
            product=plant.product,
            quantity=1,
            due_at=existing.due_at,
            site=plant.site,
        )
    with pytest.raises(ValidationFailed, match="time zone"):
        services.work_order_create(
            number="WO-naive",
            product=plant.product,
            quantity=1,
            due_at=datetime(2026, 12, 1),
            site=plant.site,
        )
    with pytest.raises(ValidationFailed, match="not on site"):
        services.work_order_create(
            number="WO-wrong-site",
            product=plant.product,
            quantity=1,
            due_at=existing.due_at,
            site=plant.site,
            line=plant.other_line,
        )
    plant.routing.is_active = False
    plant.routing.save()
    with pytest.raises(ValidationFailed, match="no active routing"):
        services.work_order_create(
            number="WO-no-routing",
            product=plant.product,
            quantity=1,
            due_at=existing.due_at,
            site=plant.site,
        )
    assert WorkOrder.objects.count() == 1


def test_operation_lifecycle_and_quantities(make_work_order, plant):
    work_order = make_work_order(state="in_progress")
    first, second = work_order.operations.order_by("sequence")
    with pytest.raises(InvalidTransition, match="waits for earlier steps"):
        services.operation_start(operation_id=second.pk, actor=None)
    services.operation_start(operation_id=first.pk, actor=None, equipment_id=plant.equipment.pk)
    services.operation_report_quantity(operation_id=first.pk, good=4, scrap=1, actor=None)
    services.operation_complete(operation_id=first.pk, actor=None)
    services.operation_start(operation_id=second.pk, actor=None)
    services.operation_report_quantity(operation_id=second.pk, good=3, scrap=0, actor=None)
    services.operation_report_quantity(operation_id=second.pk, good=1, scrap=1, actor=None)
    first.refresh_from_db()
    second.refresh_from_db()
    work_order.refresh_from_db()
    assert (first.state, first.quantity_good, first.quantity_scrap) == ("completed", 4, 1)
    assert first.assigned_equipment_id == plant.equipment.pk
    assert (second.quantity_good, second.quantity_scrap) == (4, 1)
    # Only the last step's output counts for the work order.
    assert (work_order.quantity_good, work_order.quantity_scrap) == (4, 1)


def test_operation_refusals_write_nothing(make_work_order):
    work_order = make_work_order(state="released")
    operation = work_order.operations.order_by("sequence").first()
    with pytest.raises(InvalidTransition, match="start it before its operations"):
        services.operation_start(operation_id=operation.pk, actor=None)
    with pytest.raises(InvalidTransition):
        services.operation_report_quantity(operation_id=operation.pk, good=1, actor=None)
    with pytest.raises(ValidationFailed):
        services.operation_report_quantity(operation_id=operation.pk, good=0, scrap=0, actor=None)
    operation.refresh_from_db()
    assert (operation.state, operation.quantity_good) == ("pending", 0)
    assert not AuditEvent.objects.filter(content_type__model="operation").exists()


def test_complete_refused_while_an_operation_runs(make_work_order):
    work_order = make_work_order(state="in_progress")
    operation = work_order.operations.order_by("sequence").first()
    services.operation_start(operation_id=operation.pk, actor=None)
    with pytest.raises(InvalidTransition, match="still has running operations"):
        services.work_order_complete(work_order_id=work_order.pk, actor=None)
    assert WorkOrder.objects.get(pk=work_order.pk).state == "in_progress"


def test_cancel_cancels_pending_operations(make_work_order):
    work_order = make_work_order(state="released")
    services.work_order_cancel(work_order_id=work_order.pk, actor=None)
    assert set(Operation.objects.filter(work_order=work_order).values_list("state", flat=True)) == {
        "cancelled"
    }


@pytest.mark.django_db(transaction=True)
def test_concurrent_starts_exactly_one_wins(make_work_order):
    work_order = make_work_order(state="released")
    barrier = threading.Barrier(4)
    outcomes: list[str] = []
    lock = threading.Lock()

    def start():
        try:
            barrier.wait()
            services.work_order_start(work_order_id=work_order.pk, actor=None)
            result = "won"
        except InvalidTransition:
            result = "refused"
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused", "refused", "refused", "won"]
    assert AuditEvent.objects.filter(object_id=str(work_order.pk), action="start").count() == 1
