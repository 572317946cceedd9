"""Corrective work orders opened by equipment stops: once per stop, the unclassified-stop
setting, closing with findings → the failure history and MTTR measured from the stop."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from maintenance import selectors, services
from maintenance.models import FailureEvent, MaintenanceWorkOrder
from maintenance.services.corrective import corrective_order_for_stop, corrective_orders_open
from maintenance.tasks import corrective_orders_open as corrective_orders_open_task
from mes_site.errors import Conflict, ValidationFailed
from production import models as m
from production.services.equipment_events import equipment_events_ingest
from production.services.ingest_contract import EquipmentEventIn


@pytest.fixture
def machine(plant):
    breakdown = m.DowntimeReason.objects.create(
        code="BREAKDOWN", name="Breakdown", iso_element="ADET"
    )
    m.DowntimeReason.objects.create(
        code="BREAKDOWN_MECH", name="Mechanical failure", parent=breakdown, iso_element="ADET"
    )
    m.DowntimeReason.objects.create(code="ORG_NO_OPERATOR", name="No operator", iso_element="ADOT")
    return plant.equipment


def _states(equipment, *events) -> None:
    result = equipment_events_ingest(
        events=[
            EquipmentEventIn(equipment.uns_path, ts, "state", {"state": state, "reason": reason})
            for ts, state, reason in events
        ]
    )
    assert result.rejected == []


def _orders(equipment):
    return list(
        MaintenanceWorkOrder.objects.filter(equipment=equipment).values_list(
            "number", "kind", "priority", "stop_started_at"
        )
    )


def test_a_failure_stop_opens_one_corrective_order_under_a_retried_task(machine):
    now = timezone.now().replace(microsecond=0)
    down_at = now - timedelta(minutes=3)
    _states(
        machine,
        (now - timedelta(hours=1), "producing", None),
        (down_at, "down", "BREAKDOWN_MECH"),  # a child of the failure reason BREAKDOWN
    )

    first = corrective_orders_open_task.apply().get()
    again = corrective_orders_open_task.apply().get()  # a retry / the next beat / a restart

    number = f"CM-{machine.pk}-{down_at:%Y%m%d%H%M%S}"
    assert first == [number]
    assert again == []
    assert _orders(machine) == [(number, "corrective", "high", down_at)]
    order = MaintenanceWorkOrder.objects.get(number=number)
    interval = m.EquipmentStateInterval.objects.get(equipment=machine, start_at=down_at)
    assert order.stop_interval_id == interval.pk
    assert "BREAKDOWN_MECH" in order.description
    # Even past the pre-filter (a run that read the stop before the order existed), the
    # unique constraint on (equipment, stop start) refuses the second order.
    interval.refresh_from_db()
    assert corrective_order_for_stop(interval=interval, is_failure_reason=True, now=now) is None
    with pytest.raises(Conflict) as duplicate:  # whatever its number
        services.maintenance_work_order_create(
            equipment=machine,
            kind="corrective",
            title="second",
            number="OTHER-1",
            stop_started_at=down_at,
        )
    assert duplicate.value.code == "stop_has_order"
    assert MaintenanceWorkOrder.objects.filter(equipment=machine).count() == 1


def test_an_unclassified_stop_opens_an_order_only_past_the_setting(machine):
    now = timezone.now().replace(microsecond=0)
    _states(
        machine,
        (now - timedelta(hours=2), "producing", None),
        (now - timedelta(minutes=90), "down", None),  # unclassified, 200 s: too short
        (now - timedelta(minutes=90) + timedelta(seconds=200), "producing", None),
        (now - timedelta(minutes=60), "down", "ORG_NO_OPERATOR"),  # not a failure reason
        (now - timedelta(minutes=30), "producing", None),
        (now - timedelta(minutes=5), "down", None),  # unclassified, open for 300 s so far
    )

    assert corrective_orders_open(now=now) == []  # default 600 s: nothing qualifies

    with override_settings(MAINTENANCE_UNCLASSIFIED_STOP_S=240):
        opened = corrective_orders_open(now=now)
    assert [(o.stop_started_at, o.priority) for o in opened] == [
        (now - timedelta(minutes=5), "medium")
    ]
    with override_settings(MAINTENANCE_UNCLASSIFIED_STOP_S=150):
        opened = corrective_orders_open(now=now)
    assert [o.stop_started_at for o in opened] == [now - timedelta(minutes=90)]
    assert MaintenanceWorkOrder.objects.filter(equipment=machine).count() == 2


def test_closing_with_findings_records_the_failure_and_mttr_runs_from_the_stop(machine):
    now = timezone.now().replace(microsecond=0)
    down_at = now - timedelta(minutes=50)
    back_up_at = now - timedelta(minutes=20)
    _states(
        machine,
        (now - timedelta(hours=3), "producing", None),
        (down_at, "down", "BREAKDOWN"),
        (back_up_at, "producing", None),
    )
    (order,) = corrective_orders_open(now=now)
    services.maintenance_work_order_schedule(
        order_id=order.pk, actor=None, window_start_at=now, window_end_at=now + timedelta(hours=1)
    )
    services.maintenance_work_order_start(order_id=order.pk, actor=None)

    with pytest.raises(ValidationFailed) as missing:
        services.maintenance_work_order_complete(order_id=order.pk, actor=None)
    assert missing.value.code == "findings_required"
    assert FailureEvent.objects.count() == 0

    services.maintenance_work_order_complete(
        order_id=order.pk,
        actor=None,
        findings="Spindle drive belt torn; replaced.",
        component="drive_belt",
    )

    event = FailureEvent.objects.get()
    assert (event.equipment_id, event.failed_at, event.repaired_at) == (
        machine.pk,
        down_at,
        back_up_at,
    )
    assert (event.component, event.description, event.work_order_id) == (
        "drive_belt",
        "Spindle drive belt torn; replaced.",
        order.pk,
    )
    figures = selectors.reliability_get(
        equipment_id=machine.pk,
        period_start_at=now - timedelta(hours=3),
        period_end_at=now,
    )
    assert figures.failure_event_count == 1
    assert figures.mean_time_to_repair_s == pytest.approx(30 * 60)


def test_a_stop_order_closed_as_no_failure_records_nothing(machine):
    now = timezone.now().replace(microsecond=0)
    _states(
        machine,
        (now - timedelta(hours=1), "producing", None),
        (now - timedelta(minutes=40), "down", "BREAKDOWN_MECH"),
        (now - timedelta(minutes=35), "producing", None),
    )
    (order,) = corrective_orders_open(now=now)
    services.maintenance_work_order_schedule(
        order_id=order.pk, actor=None, window_start_at=now, window_end_at=now + timedelta(hours=1)
    )
    services.maintenance_work_order_start(order_id=order.pk, actor=None)
    services.maintenance_work_order_complete(
        order_id=order.pk, actor=None, findings="Operator reset; no fault found.", is_failure=False
    )
    assert FailureEvent.objects.count() == 0
    assert MaintenanceWorkOrder.objects.get(pk=order.pk).findings == (
        "Operator reset; no fault found."
    )


def test_the_api_refuses_to_close_a_stop_order_without_findings(machine, api_for):
    now = timezone.now().replace(microsecond=0)
    _states(
        machine,
        (now - timedelta(hours=1), "producing", None),
        (now - timedelta(minutes=20), "down", "BREAKDOWN"),
    )
    (order,) = corrective_orders_open(now=now)
    services.maintenance_work_order_schedule(
        order_id=order.pk, actor=None, window_start_at=now, window_end_at=now + timedelta(hours=1)
    )
    services.maintenance_work_order_start(order_id=order.pk, actor=None)
    client = api_for("maintenance")
    url = f"/api/maintenance/work-orders/{order.pk}/complete/"

    refused = client.post(url, {"reason": "done"}, format="json")
    assert refused.status_code == 400
    assert refused.json()["code"] == "findings_required"
    assert "findings" in refused.json()["detail"]

    done = client.post(url, {"findings": "Hydraulic hose burst; replaced."}, format="json")
    assert done.status_code == 200
    assert (done.json()["state"], done.json()["findings"]) == (
        "done",
        "Hydraulic hose burst; replaced.",
    )
    assert done.json()["stop_started_at"] is not None
    event = FailureEvent.objects.get()
    completed_at = MaintenanceWorkOrder.objects.get(pk=order.pk).completed_at
    # Still down when the order was done: repaired at its completion.
    assert (event.failed_at, event.repaired_at) == (order.stop_started_at, completed_at)


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_open_one_order_for_a_stop(machine):
    """Both runs read the stop before either has inserted (past the query's pre-filter): the
    unique constraint lets exactly one insert through."""
    now = timezone.now().replace(microsecond=0)
    _states(
        machine,
        (now - timedelta(hours=1), "producing", None),
        (now - timedelta(minutes=10), "down", "BREAKDOWN_MECH"),
    )
    interval = m.EquipmentStateInterval.objects.select_related("equipment", "reason").get(
        equipment=machine, state="down"
    )
    barrier = threading.Barrier(3)
    outcomes: list[str] = []
    lock = threading.Lock()

    def open_order():
        try:
            barrier.wait()
            with transaction.atomic():
                order = corrective_order_for_stop(
                    interval=interval, is_failure_reason=True, now=now
                )
            result = "opened" if order is not None else "had one"
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=open_order) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["had one", "had one", "opened"]
    assert MaintenanceWorkOrder.objects.filter(equipment=machine).count() == 1
