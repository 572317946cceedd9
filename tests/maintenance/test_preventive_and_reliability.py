"""Preventive plans (calendar, runtime hours, cycles) and ISO 22400 MTBF/MTTR."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from maintenance import selectors, services
from maintenance.models import FailureEvent, MaintenanceWorkOrder, PreventivePlan
from mes_site.errors import Conflict, ValidationFailed
from production.models import EquipmentStateInterval, ProductionCount, Signal
from tests.maintenance.conftest import partitions_ready

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _plan(plant, **overrides) -> PreventivePlan:
    values = {
        "equipment": plant.equipment,
        "name": "Lubricate spindle",
        "trigger": "calendar",
        "interval": 30.0,
        "tolerance_fraction": 0.1,
        "cycle_started_at": NOW - timedelta(days=20),
    }
    values.update(overrides)
    return services.preventive_plan_create(**values)


def _finish(order: MaintenanceWorkOrder) -> None:
    services.maintenance_work_order_schedule(
        order_id=order.pk,
        actor=None,
        window_start_at=timezone.now(),
        window_end_at=timezone.now() + timedelta(hours=2),
    )
    services.maintenance_work_order_start(order_id=order.pk, actor=None)
    services.maintenance_work_order_complete(order_id=order.pk, actor=None)


def test_calendar_plan_is_due_from_its_tolerance_and_creates_one_order(plant):
    plan = _plan(plant)
    assert services.preventive_plan_check(plan_id=plan.pk, now=NOW) is None  # day 20 < 27
    assert services.preventive_plan_check(plan_id=plan.pk, now=NOW + timedelta(days=6)) is None
    due_at = NOW + timedelta(days=7)  # day 27 = (1 − 0.1) · 30
    order = services.preventive_plan_check(plan_id=plan.pk, now=due_at)
    assert (order.number, order.kind, order.plan_cycle_number) == (
        f"PM-{plan.pk}-1",
        "preventive",
        1,
    )
    assert order.window_start_at == due_at
    assert order.window_end_at == plan.cycle_started_at + timedelta(days=33)  # (1 + 0.1) · 30
    assert services.preventive_plan_check(plan_id=plan.pk, now=due_at + timedelta(days=1)) is None
    assert services.preventive_plans_check(now=due_at + timedelta(days=2)) == []
    assert MaintenanceWorkOrder.objects.filter(preventive_plan=plan).count() == 1


def test_completing_the_order_starts_the_next_cycle_and_cancel_skips_one(plant):
    plan = _plan(plant)
    order = services.preventive_plan_check(plan_id=plan.pk, now=NOW + timedelta(days=8))
    _finish(order)
    plan.refresh_from_db()
    assert plan.cycle_number == 2
    assert plan.cycle_started_at == MaintenanceWorkOrder.objects.get(pk=order.pk).completed_at
    assert services.preventive_plan_check(plan_id=plan.pk, now=timezone.now()) is None
    second = services.preventive_plan_check(
        plan_id=plan.pk, now=timezone.now() + timedelta(days=28)
    )
    assert second.number == f"PM-{plan.pk}-2"
    services.maintenance_work_order_cancel(order_id=second.pk, actor=None, reason="shutdown")
    plan.refresh_from_db()
    assert plan.cycle_number == 3


def test_runtime_hours_plan_counts_producing_time_only(plant):
    plan = _plan(plant, name="Spindle check", trigger="runtime_hours", interval=100.0)
    start = plan.cycle_started_at
    for offset_h, length_h, state in [
        (0, 50, "producing"),
        (50, 30, "down"),
        (80, 30, "producing"),
        (110, 20, "setup"),
    ]:
        EquipmentStateInterval.objects.create(
            equipment=plant.equipment,
            start_at=start + timedelta(hours=offset_h),
            end_at=start + timedelta(hours=offset_h + length_h),
            state=state,
        )
    EquipmentStateInterval.objects.create(  # still producing
        equipment=plant.equipment, start_at=start + timedelta(hours=130), state="producing"
    )
    at = start + timedelta(hours=135)
    assert services.plan_usage(plan, now=at) == pytest.approx(85.0)
    assert services.preventive_plan_check(plan_id=plan.pk, now=at) is None
    at = start + timedelta(hours=140)
    assert services.plan_usage(plan, now=at) == pytest.approx(90.0)
    order = services.preventive_plan_check(plan_id=plan.pk, now=at)
    # 90 h in 140 h of calendar time: 20 h more to 110 h take ~31 h at that rate.
    expected_end = at + timedelta(hours=20 / (90 / 140))
    assert abs(order.window_end_at - expected_end) < timedelta(seconds=1)
    assert "90.0 producing hours" in order.description


def test_cycles_plan_from_reported_units_and_from_a_counter_with_reset(plant):
    from django.db import transaction

    from workers import store
    from workers.choices import QUALITY_GOOD

    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=10)
    units = _plan(plant, name="Units", trigger="cycles", interval=1000, cycle_started_at=start)
    for minute, good, scrap in [(10, 400, 10), (20, 300, 0), (30, 180, 10)]:
        ProductionCount.objects.create(
            equipment=plant.equipment, ts=start + timedelta(minutes=minute), good=good, scrap=scrap
        )
    assert services.plan_usage(units, now=start + timedelta(hours=1)) == 900.0
    assert services.preventive_plan_check(plan_id=units.pk, now=start + timedelta(hours=1))

    counter = Signal.objects.create(equipment=plant.equipment, name="spindle_cycles")
    partitions_ready(start - timedelta(days=1), start + timedelta(days=1))
    readings = [(-5, 9_000.0), (10, 9_400.0), (20, 9_900.0), (30, 150.0), (40, 450.0)]
    with transaction.atomic():
        store.readings_write(
            [
                (counter.pk, start + timedelta(minutes=minute), value, None, QUALITY_GOOD)
                for minute, value in readings
            ]
        )
    by_counter = _plan(
        plant,
        name="Counter",
        trigger="cycles",
        interval=2000,
        counter_signal_name="spindle_cycles",
        cycle_started_at=start,
    )
    # 400 + 500 + 150 (after the reset to 0) + 300
    assert services.plan_usage(by_counter, now=start + timedelta(hours=1)) == 1350.0
    missing = _plan(
        plant,
        name="Bad",
        trigger="cycles",
        interval=10,
        counter_signal_name="nope",
        cycle_started_at=start,
    )
    with pytest.raises(ValidationFailed, match="no counter signal 'nope'"):
        services.plan_usage(missing, now=start + timedelta(hours=1))
    assert services.preventive_plans_check(now=start + timedelta(hours=1)) == []  # logged


def test_plan_input_is_checked(plant):
    with pytest.raises(ValidationFailed, match="Unknown plan trigger"):
        _plan(plant, trigger="moon")
    with pytest.raises(ValidationFailed, match="interval must be positive"):
        _plan(plant, interval=0)
    with pytest.raises(ValidationFailed, match="tolerance"):
        _plan(plant, tolerance_fraction=1.0)
    with pytest.raises(ValidationFailed, match="counter signal only applies"):
        _plan(plant, counter_signal_name="x")
    _plan(plant)
    with pytest.raises(Conflict, match="has a plan named"):
        _plan(plant)
    assert PreventivePlan.objects.count() == 1


# --- failure events and MTBF/MTTR -------------------------------------------------------------


def test_failure_event_opens_a_corrective_order_whose_completion_ends_the_repair(plant):
    failed_at = timezone.now() - timedelta(hours=3)
    event = services.failure_event_record(
        equipment=plant.equipment, failed_at=failed_at, component="spindle_bearing"
    )
    order = event.work_order
    assert (order.kind, order.priority, order.component) == (
        "corrective",
        "high",
        "spindle_bearing",
    )
    _finish(order)
    event.refresh_from_db()
    assert event.repaired_at == MaintenanceWorkOrder.objects.get(pk=order.pk).completed_at
    with pytest.raises(Conflict, match="recorded already"):
        services.failure_event_record(equipment=plant.equipment, failed_at=failed_at)
    with pytest.raises(ValidationFailed, match="future"):
        services.failure_event_record(
            equipment=plant.equipment, failed_at=timezone.now() + timedelta(hours=1)
        )
    with pytest.raises(Conflict, match="repaired already"):
        services.failure_event_repair(event_id=event.pk, repaired_at=timezone.now())


def test_mtbf_and_mttr_per_iso_22400(plant):
    start = datetime(2026, 5, 1, tzinfo=UTC)
    end = start + timedelta(hours=100)
    for offset_h, length_h, state in [
        (0, 40, "producing"),
        (40, 4, "down"),  # failure 1, repaired after 4 h
        (44, 6, "setup"),
        (50, 20, "producing"),
        (70, 2, "down"),  # failure 2, 2 h
        (72, 8, "idle"),  # waiting: not operating time
        (80, 30, "producing"),  # runs past the period end: 20 h inside
    ]:
        EquipmentStateInterval.objects.create(
            equipment=plant.equipment,
            start_at=start + timedelta(hours=offset_h),
            end_at=start + timedelta(hours=offset_h + length_h),
            state=state,
        )
    for failed_h, repaired_h in [(40, 44), (70, 72), (99, None)]:
        FailureEvent.objects.create(
            equipment=plant.equipment,
            failed_at=start + timedelta(hours=failed_h),
            repaired_at=None if repaired_h is None else start + timedelta(hours=repaired_h),
        )
    figures = selectors.reliability_get(
        equipment_id=plant.equipment.pk, period_start_at=start, period_end_at=end
    )
    # Σ TBF = APT 80 h + AUST 6 h; FE = 3 (the open repair counts 1 h up to the period end).
    assert figures.failure_event_count == 3
    assert figures.operating_time_s == 86 * 3600
    assert figures.total_repair_time_s == (4 + 2 + 1) * 3600
    assert figures.mean_time_between_failures_s == pytest.approx(86 * 3600 / 3)
    assert figures.mean_time_to_repair_s == pytest.approx(7 * 3600 / 3)
    empty = selectors.reliability_get(
        equipment_id=plant.other_equipment.pk, period_start_at=start, period_end_at=end
    )
    assert (empty.failure_event_count, empty.mean_time_between_failures_s) == (0, None)
    with pytest.raises(ValidationFailed, match="end after it starts"):
        selectors.reliability_get(
            equipment_id=plant.equipment.pk, period_start_at=end, period_end_at=start
        )
