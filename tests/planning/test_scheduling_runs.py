"""Schedule runs through the database: debounce, the job row, the stored plan, changes routed
through the guardrails, pins after a declined move, unschedulable work, triggers, recovery."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY

from autonomy.choices import ActionStatus
from autonomy.models import ActionPolicy, ProposedAction
from autonomy.services.guardrails import action_approve, action_reject, action_revert
from planning.models import ScheduledOperation, ScheduleRun
from planning.selectors.scheduling_input import scheduling_input_load
from planning.services import schedule_runs
from production.models import (
    Capability,
    Equipment,
    EquipmentStateInterval,
    Operation,
    OperationTemplate,
    Product,
    Routing,
    WorkOrder,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def policy(db):
    """The demo's risk table: plan changes are low risk (applied at once when supervised)."""
    for kind, risk in [("reroute", "low"), ("resequence", "low"), ("dispatch_override", "high")]:
        ActionPolicy.objects.update_or_create(kind=kind, defaults={"risk": risk})


@pytest.fixture
def machines(plant):
    second = Equipment.objects.create(cell=plant.equipment.cell, code="L1_M2", name="L1 machine 2")
    second.capabilities.add(plant.capability)
    return plant.equipment, second


def _execute(site, *, now=None, trigger="on_demand"):
    run = schedule_runs.schedule_run_request(site_id=site.pk, trigger=trigger, detail="test")
    outcome = schedule_runs.schedule_run_execute(run_id=run.pk, now=now or timezone.now())
    run.refresh_from_db()
    return run, outcome


def _health(equipment, *, now, alpha=0.9, is_anomaly=True, rul_p10_h=None):
    from maintenance.models import HealthSnapshot

    return HealthSnapshot.objects.create(
        equipment=equipment,
        ts=now - timedelta(minutes=1),
        state="assessed",
        alpha=alpha,
        degradation_slope_per_h=0.05,
        rul_state="estimated" if rul_p10_h is not None else "not_degrading",
        rul_p10_h=rul_p10_h,
        is_anomaly=is_anomaly,
        recommendation="critical" if is_anomaly else "low",
    )


def _product(code: str, steps: list[tuple[str, float, float, float]]) -> Product:
    """A product whose routing has (capability, run time per unit, setup, force) steps."""
    product = Product.objects.create(code=code, name=code)
    routing = Routing.objects.create(product=product, version="1")
    for index, (capability, run_time_s, setup_s, force_kn) in enumerate(steps, 1):
        OperationTemplate.objects.create(
            routing=routing,
            sequence=index * 10,
            name=f"{code} step {index}",
            capability=Capability.objects.get_or_create(
                code=capability, defaults={"name": capability}
            )[0],
            planned_run_time_per_unit_s=run_time_s,
            setup_time_s=setup_s,
            force_kn=force_kn,
        )
    return product


def _work_order(plant, product, number, *, due_in_h=8.0, quantity=10):
    from production import services as production_services

    work_order = production_services.work_order_create(
        number=number,
        product=product,
        quantity=quantity,
        due_at=timezone.now() + timedelta(hours=due_in_h),
        site=plant.site,
        line=plant.line,
    )
    production_services.work_order_release(work_order_id=work_order.pk, actor=None)
    return work_order


# --- requests and the job row -------------------------------------------------------------------


def test_requests_while_one_is_queued_are_absorbed_into_it(plant):
    first = schedule_runs.schedule_run_request(site_id=plant.site.pk, trigger="health_change")
    second = schedule_runs.schedule_run_request(
        site_id=plant.site.pk, trigger="equipment_state", detail="L1_M1 went down"
    )
    third = schedule_runs.schedule_run_request(site_id=plant.site.pk, trigger="work_order_change")
    assert first.pk == second.pk == third.pk
    assert ScheduleRun.objects.filter(site=plant.site).count() == 1
    run = ScheduleRun.objects.get(pk=first.pk)
    assert [item["trigger"] for item in run.triggers] == [
        "health_change",
        "equipment_state",
        "work_order_change",
    ]
    assert run.triggers[1]["detail"] == "L1_M1 went down"
    assert (run.status, run.trigger) == ("queued", "health_change")
    # Another site queues its own run; once this one started, a new request queues anew.
    other = schedule_runs.schedule_run_request(site_id=plant.other_site.pk, trigger="on_demand")
    assert other.pk != run.pk
    assert schedule_runs.schedule_run_execute(run_id=run.pk) == "succeeded"
    later = schedule_runs.schedule_run_request(site_id=plant.site.pk, trigger="on_demand")
    assert later.pk != run.pk and later.status == "queued"


def test_unknown_trigger_or_site_is_refused(plant):
    from mes_site.errors import NotFound, ValidationFailed

    with pytest.raises(ValidationFailed, match="Unknown schedule trigger"):
        schedule_runs.schedule_run_request(site_id=plant.site.pk, trigger="whenever")
    with pytest.raises(NotFound):
        schedule_runs.schedule_run_request(site_id=999999, trigger="on_demand")
    assert not ScheduleRun.objects.exists()


def test_the_request_enqueues_after_commit(plant, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr(schedule_runs, "_run_enqueue", lambda run_id, **kwargs: sent.append(run_id))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        run = schedule_runs.schedule_run_request(site_id=plant.site.pk, trigger="on_demand")
        schedule_runs.schedule_run_request(site_id=plant.site.pk, trigger="on_demand")
    assert sent == [run.pk]  # the absorbed request enqueued nothing
    assert len(callbacks) >= 1


def test_celery_task_runs_the_plan(plant, make_work_order, django_capture_on_commit_callbacks):
    from mes_site.celery import app

    make_work_order(state="released")
    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            run = schedule_runs.schedule_run_request(site_id=plant.site.pk, trigger="on_demand")
    finally:
        app.conf.task_always_eager = False
    run.refresh_from_db()
    assert (run.status, run.is_current, run.operation_count) == ("succeeded", True, 2)


def test_a_run_plans_released_work_and_writes_the_operations(plant, machines, make_work_order):
    released = [make_work_order(state="released") for _ in range(2)]
    planned = make_work_order()  # not released: not scheduled
    run, outcome = _execute(plant.site)
    assert outcome == "succeeded"
    assert (run.status, run.progress_percent, run.is_current) == ("succeeded", 100, True)
    assert run.operation_count == 4
    assert {"load_ms", "schedule_ms", "improve_ms", "store_ms", "total_ms"} <= set(run.timings)
    assert run.duration_ms is not None and run.started_at <= run.finished_at
    assert run.unschedulable == [] and run.warnings == []
    assert run.inputs["change_counts"] == {"added": 4}
    entries = {entry.operation_id: entry for entry in ScheduledOperation.objects.filter(run=run)}
    for work_order in released:
        for operation in work_order.operations.all():
            entry = entries[operation.pk]
            assert operation.assigned_equipment_id == entry.equipment_id
            assert (operation.planned_start_at, operation.planned_end_at) == (
                entry.planned_start_at,
                entry.planned_end_at,
            )
            assert entry.explanation["rule"] in {
                "highest_priority",
                "tie_earliest_finish",
                "only_eligible_machine",
            }
    assert not planned.operations.filter(assigned_equipment__isnull=False).exists()
    # No machine runs two operations at once; routing order holds.
    by_machine: dict[int, list] = {}
    for entry in entries.values():
        by_machine.setdefault(entry.equipment_id, []).append(entry)
    for items in by_machine.values():
        items.sort(key=lambda item: item.planned_start_at)
        for before, after in itertools.pairwise(items):
            assert before.planned_end_at <= after.planned_start_at
    for work_order in released:
        first, second = work_order.operations.order_by("sequence")
        assert entries[first.pk].planned_end_at <= entries[second.pk].planned_start_at
    assert not ProposedAction.objects.exists()  # first assignments are not reroutes


def test_an_unchanged_site_gives_no_changes_the_second_time(plant, machines, make_work_order):
    make_work_order(state="released")
    now = timezone.now()
    first, _ = _execute(plant.site, now=now)
    second, _ = _execute(plant.site, now=now)
    first.refresh_from_db()
    assert (first.is_current, second.is_current) == (False, True)
    assert second.changes == [] and second.inputs["change_counts"] == {}
    assert ScheduleRun.objects.filter(site=plant.site, is_current=True).count() == 1


def test_an_older_run_never_replaces_a_newer_plan(plant, make_work_order):
    make_work_order(state="released")
    older = schedule_runs.schedule_run_request(site_id=plant.site.pk, trigger="on_demand")
    newer = ScheduleRun.objects.create(
        site=plant.site, trigger="on_demand", status="succeeded", is_current=True
    )
    assert schedule_runs.schedule_run_execute(run_id=older.pk) == "succeeded"
    older.refresh_from_db()
    assert (older.is_current, ScheduleRun.objects.get(pk=newer.pk).is_current) == (False, True)
    assert older.warnings[-1]["kind"] == "superseded"
    assert ScheduledOperation.objects.filter(run=older).count() == 2  # stored, for the record
    assert not Operation.objects.filter(assigned_equipment__isnull=False).exists()


def test_busy_site_and_finished_runs_are_not_started(plant):
    running = ScheduleRun.objects.create(
        site=plant.site, trigger="on_demand", status="running", started_at=timezone.now()
    )
    queued = schedule_runs.schedule_run_request(site_id=plant.site.pk, trigger="on_demand")
    assert schedule_runs.schedule_run_execute(run_id=queued.pk) == "busy"
    assert ScheduleRun.objects.get(pk=queued.pk).status == "queued"
    ScheduleRun.objects.filter(pk=running.pk).update(status="succeeded")
    assert schedule_runs.schedule_run_execute(run_id=queued.pk) == "succeeded"
    assert schedule_runs.schedule_run_execute(run_id=queued.pk) == "skipped"
    assert schedule_runs.schedule_run_execute(run_id=987654) == "skipped"


def test_recovery_fails_stale_runs_and_requeues_lost_messages(plant, monkeypatch):
    sent = []
    monkeypatch.setattr(schedule_runs, "_run_enqueue", lambda run_id, **kwargs: sent.append(run_id))
    now = timezone.now()
    stale = ScheduleRun.objects.create(
        site=plant.site,
        trigger="on_demand",
        status="running",
        started_at=now - timedelta(hours=1),
    )
    fresh = ScheduleRun.objects.create(
        site=plant.other_site, trigger="on_demand", status="running", started_at=now
    )
    lost = schedule_runs.schedule_run_request(site_id=plant.site.pk, trigger="on_demand")
    ScheduleRun.objects.filter(pk=lost.pk).update(requested_at=now - timedelta(minutes=5))
    assert schedule_runs.schedule_runs_recover(now=now) == {"failed": 1, "requeued": 1}
    stale.refresh_from_db()
    assert stale.status == "failed" and "timeout" in stale.error
    assert ScheduleRun.objects.get(pk=fresh.pk).status == "running"
    assert sent == [lost.pk]


def test_a_failing_run_stores_the_error(plant, make_work_order, monkeypatch):
    make_work_order(state="released")

    def broken(*args, **kwargs):
        raise RuntimeError("solver exploded")

    monkeypatch.setattr(schedule_runs, "schedule", broken)
    run, outcome = _execute(plant.site)
    assert outcome == "failed"
    assert (run.status, run.is_current) == ("failed", False)
    assert run.error == "RuntimeError: solver exploded"
    assert not ScheduledOperation.objects.exists()


# --- changes through the guardrails ------------------------------------------------------------


def _high_force_order(plant):
    product = _product("HEAVY", [("milling", 60.0, 0.0, 12.0)])
    return _work_order(plant, product, "WO-HEAVY")


def test_machine_going_down_reroutes_its_work(plant, machines, make_work_order):
    first_machine, _second_machine = machines
    for _ in range(3):
        make_work_order(state="released")
    now = timezone.now()
    _execute(plant.site, now=now)
    on_first = set(
        Operation.objects.filter(assigned_equipment=first_machine).values_list("pk", flat=True)
    )
    assert on_first
    assert schedule_runs.schedule_on_equipment_state_change(first_machine.pk) is None  # nothing new
    EquipmentStateInterval.objects.create(
        equipment=first_machine, start_at=now - timedelta(minutes=5), state="down"
    )
    requested = schedule_runs.schedule_on_equipment_state_change(first_machine.pk)
    assert requested is not None and requested.trigger == "equipment_state"
    assert requested.trigger_detail == "L1_M1 went down"
    assert schedule_runs.schedule_run_execute(run_id=requested.pk, now=now) == "succeeded"
    assert not Operation.objects.filter(assigned_equipment=first_machine).exists()
    # One decision for the whole plan change, its moves grouped, in plain language.
    (decision,) = ProposedAction.objects.filter(kind__in=["reroute", "resequence"])
    moved = {item["operation_id"] for item in decision.payload["operations"] if item["is_move"]}
    assert moved == on_first
    assert (decision.kind, decision.status) == ("reroute", "applied")
    noun = "operation" if len(on_first) == 1 else "operations"
    assert decision.explanation.startswith(
        f"{len(on_first)} {noun} moved off L1_M1 because it is down"
    )
    assert all(
        "L1_M1 is down" in move["explanation"] for move in decision.explanation_data["moves"]
    )
    assert schedule_runs.schedule_on_equipment_state_change(first_machine.pk) is None  # still down
    EquipmentStateInterval.objects.filter(equipment=first_machine).update(end_at=now)
    back = schedule_runs.schedule_on_equipment_state_change(first_machine.pk, is_down=False)
    assert back is not None and back.trigger_detail == "L1_M1 is back"


def test_anomaly_keeps_high_stress_work_off_the_machine(plant, machines):
    first_machine, second_machine = machines
    work_order = _high_force_order(plant)
    now = timezone.now()
    _execute(plant.site, now=now)
    operation = work_order.operations.get()
    Operation.objects.filter(pk=operation.pk).update(assigned_equipment=first_machine)
    _health(first_machine, now=now)
    run, _ = _execute(plant.site, now=now, trigger="health_change")
    operation.refresh_from_db()
    assert operation.assigned_equipment_id == second_machine.pk
    change = next(item for item in run.changes if item["kind"] == "moved_machine")
    assert change["rule"] == "high_stress_anomaly"
    assert "L1_M1 is in anomaly" in change["explanation"]
    assert "12 kN > its 10 kN limit" in change["explanation"]
    action = ProposedAction.objects.get(pk=change["action_id"])
    assert (action.kind, action.status) == ("reroute", "applied")
    assert action.result["operations"][0]["old_equipment_id"] == first_machine.pk
    assert action.explanation == (
        "1 operation moved off L1_M1 because it is failing (α 0.90, δ 0.05/h, in anomaly); "
        "all due dates still met"
    )


def test_a_declined_reroute_pins_the_operation(plant, machines, make_user):
    first_machine, _second_machine = machines
    ActionPolicy.objects.update_or_create(kind="reroute", defaults={"risk": "high"})
    work_order = _high_force_order(plant)
    now = timezone.now()
    _execute(plant.site, now=now)
    operation = work_order.operations.get()
    Operation.objects.filter(pk=operation.pk).update(assigned_equipment=first_machine)
    _health(first_machine, now=now)
    _execute(plant.site, now=now)
    action = ProposedAction.objects.get(kind="reroute")
    assert action.status == "awaiting_approval"
    operation.refresh_from_db()
    assert operation.assigned_equipment_id == first_machine.pk  # nothing moved yet
    action_reject(action_id=action.pk, user=make_user("supervisor"), reason="keep it")
    run, _ = _execute(plant.site, now=now)
    assert ProposedAction.objects.filter(kind="reroute").count() == 1  # not proposed again
    entry = next(item for item in run.unschedulable if item["operation_id"] == operation.pk)
    assert entry["reason"] == "no_eligible_machine"
    assert "a supervisor kept it on L1_M1" in entry["message"]
    assert f"action {action.pk}" in entry["message"]
    operation.refresh_from_db()
    assert operation.assigned_equipment_id == first_machine.pk


def test_approval_of_a_stale_move_fails_with_the_reason(plant, machines, make_user):
    first_machine, _second = machines
    ActionPolicy.objects.update_or_create(kind="reroute", defaults={"risk": "high"})
    work_order = _high_force_order(plant)
    now = timezone.now()
    _execute(plant.site, now=now)
    operation = work_order.operations.get()
    Operation.objects.filter(pk=operation.pk).update(assigned_equipment=first_machine)
    _health(first_machine, now=now)
    _execute(plant.site, now=now)
    action = ProposedAction.objects.get(kind="reroute")
    WorkOrder.objects.filter(pk=work_order.pk).update(state="in_progress")
    Operation.objects.filter(pk=operation.pk).update(state="in_progress")
    decided = action_approve(
        action_id=action.pk, user=make_user("supervisor"), password="secret-pass-1"
    )
    assert decided.status == ActionStatus.FAILED
    assert decided.result["code"] == "conflict"
    assert "in_progress" in decided.result["error"]
    operation.refresh_from_db()
    assert operation.assigned_equipment_id == first_machine.pk


def test_revert_puts_the_operation_back_and_asks_for_a_new_plan(
    plant, machines, make_user, django_capture_on_commit_callbacks, monkeypatch
):
    first_machine, _second_machine = machines
    work_order = _high_force_order(plant)
    now = timezone.now()
    _execute(plant.site, now=now)
    operation = work_order.operations.get()
    Operation.objects.filter(pk=operation.pk).update(assigned_equipment=first_machine)
    operation.refresh_from_db()
    old_start = operation.planned_start_at
    _health(first_machine, now=now)
    _execute(plant.site, now=now)
    action = ProposedAction.objects.get(kind="reroute")
    assert action.status == "applied"
    monkeypatch.setattr(schedule_runs, "_run_enqueue", lambda run_id, **kwargs: None)
    with django_capture_on_commit_callbacks(execute=True):
        reverted = action_revert(action_id=action.pk, user=make_user("supervisor"))
    assert reverted.status == "reverted"
    operation.refresh_from_db()
    assert (operation.assigned_equipment_id, operation.planned_start_at) == (
        first_machine.pk,
        old_start,
    )
    queued = ScheduleRun.objects.get(status="queued")
    assert queued.trigger_detail.startswith(f"revert of action {action.pk}")


# --- unschedulable work and warnings -----------------------------------------------------------


def test_unschedulable_work_is_explained(plant, machines):
    _first_machine, _second_machine = machines
    grinding = _product("GRIND", [("milling", 60.0, 0.0, 1.0), ("grinding", 60.0, 0.0, 1.0)])
    empty = _product("EMPTY", [("milling", 0.0, 0.0, 1.0)])
    heavy = _product("HEAVY2", [("milling", 60.0, 0.0, 30.0)])
    _work_order(plant, grinding, "WO-GRIND")
    _work_order(plant, empty, "WO-EMPTY")
    _work_order(plant, heavy, "WO-HEAVY2")
    _work_order(plant, empty, "WO-NEW")
    Operation.objects.filter(work_order__number="WO-NEW").update(planned_run_time_per_unit_s=60.0)
    late = _work_order(plant, grinding, "WO-LATE", due_in_h=-2.0)
    WorkOrder.objects.filter(pk=late.pk).update(product=empty, routing=empty.routings.get())
    Operation.objects.filter(work_order=late, sequence=20).delete()
    Operation.objects.filter(work_order=late).update(planned_run_time_per_unit_s=60.0)
    now = timezone.now()
    # Light work already on a failing machine may stay; new work goes nowhere.
    Operation.objects.filter(work_order__number__in=["WO-GRIND", "WO-LATE"]).update(
        assigned_equipment=_first_machine
    )
    for machine in machines:
        _health(machine, now=now)
    run, _ = _execute(plant.site, now=now)
    by_operation = {item["operation"]: item for item in run.unschedulable}
    assert by_operation["WO-NEW/10"]["message"] == (
        "WO-NEW/10: every machine on line L1 with capability 'milling' (L1_M1, L1_M2) is "
        "degrading or failing and takes no new work"
    )
    assert by_operation["WO-GRIND/20"]["reason"] == "no_eligible_machine"
    assert by_operation["WO-GRIND/20"]["message"] == (
        "WO-GRIND/20: no machine on line L1 has capability 'grinding'"
    )
    assert by_operation["WO-GRIND/10"]["reason"] == "job_blocked"
    assert by_operation["WO-EMPTY/10"]["reason"] == "non_positive_duration"
    assert by_operation["WO-HEAVY2/10"]["message"] == (
        "WO-HEAVY2/10: every machine on line L1 with capability 'milling' (L1_M1, L1_M2) is "
        "in anomaly and the operation is high-stress (30 kN)"
    )
    assert "WO-LATE/10" not in by_operation  # past due, but planned
    warning = next(item for item in run.warnings if item["work_order"] == "WO-LATE")
    assert warning["kind"] == "past_due" and "past due" in warning["message"]
    assert ScheduledOperation.objects.filter(run=run, operation__work_order=late).count() == 1
    assert not Operation.objects.filter(
        work_order__number__in=["WO-EMPTY", "WO-HEAVY2", "WO-NEW"],
        assigned_equipment__isnull=False,
    ).exists()


def test_every_capable_machine_down_is_named(plant, machines, make_work_order):
    make_work_order(state="released")
    now = timezone.now()
    for machine in machines:
        EquipmentStateInterval.objects.create(equipment=machine, start_at=now, state="down")
    run, _ = _execute(plant.site, now=now)
    messages = {item["message"] for item in run.unschedulable if item["reason"] != "job_blocked"}
    assert messages == {
        "WO-0001/10: every machine on line L1 with capability 'milling' is down or inactive: "
        "L1_M1 (down), L1_M2 (down)"
    }
    assert run.inputs["down_equipment_ids"] == sorted(machine.pk for machine in machines)


def test_a_running_operation_keeps_its_machine_and_delays_the_next_step(
    plant, machines, make_work_order
):
    from production import services as production_services

    first_machine, _second = machines
    work_order = make_work_order(state="released")
    production_services.work_order_start(work_order_id=work_order.pk, actor=None)
    first, second = work_order.operations.order_by("sequence")
    production_services.operation_start(
        operation_id=first.pk, actor=None, equipment_id=first_machine.pk
    )
    first.refresh_from_db()
    run, _ = _execute(plant.site, now=first.actual_start_at)
    expected_end = first.actual_start_at + timedelta(seconds=600)
    entries = list(ScheduledOperation.objects.filter(run=run))
    assert [entry.operation_id for entry in entries] == [second.pk]
    assert entries[0].planned_start_at >= expected_end
    running = run.inputs["running"]
    assert [item["operation_id"] for item in running] == [first.pk]
    assert running[0]["expected_end_at"] == expected_end.isoformat()


def test_a_maintenance_block_keeps_work_before_it(plant, machines, make_work_order):
    from maintenance.models import MaintenanceWorkOrder

    first_machine, _second_machine = machines
    now = timezone.now().replace(microsecond=0)
    MaintenanceWorkOrder.objects.create(
        number="MWO-1",
        equipment=first_machine,
        kind="preventive",
        state="scheduled",
        title="PM",
        requested_at=now,
        window_start_at=now + timedelta(minutes=15),
        window_end_at=now + timedelta(hours=6),
    )
    for _ in range(3):
        make_work_order(state="released")
    run, _ = _execute(plant.site, now=now)
    for entry in ScheduledOperation.objects.filter(run=run, equipment=first_machine):
        assert entry.planned_end_at <= now + timedelta(minutes=15) or (
            entry.planned_start_at >= now + timedelta(hours=6)
        )
    machine = next(m for m in run.inputs["machines"] if m["code"] == "L1_M1")
    assert machine["block"]["maintenance_work_order"] == "MWO-1"


# --- the periodic check ---------------------------------------------------------------------


def test_the_periodic_check_notices_changed_input(plant, machines, make_work_order):
    work_order = make_work_order(state="released")
    now = timezone.now()
    assert [run.trigger for run in schedule_runs.schedule_sites_check(now=now)] == [
        "work_order_change"
    ]
    ScheduleRun.objects.all().delete()
    _execute(plant.site, now=now)
    assert schedule_runs.schedule_sites_check(now=now) == []
    WorkOrder.objects.filter(pk=work_order.pk).update(due_at=now + timedelta(hours=2))
    requested = schedule_runs.schedule_sites_check(now=now)
    assert [(run.trigger, run.trigger_detail) for run in requested] == [
        ("work_order_change", "work orders or operations changed")
    ]
    assert schedule_runs.schedule_sites_check(now=now) == []  # a run is queued: nothing more
    schedule_runs.schedule_run_execute(run_id=requested[0].pk, now=now)
    _health(machines[0], now=now)
    assert [run.trigger for run in schedule_runs.schedule_sites_check(now=now)] == ["health_change"]
    ScheduleRun.objects.filter(status="queued").delete()
    # Nothing changed since the last run, but the plan is older than the re-plan interval.
    ScheduleRun.objects.update(
        input_fingerprints=scheduling_input_load(site_id=plant.site.pk, now=now).fingerprints
    )
    assert schedule_runs.schedule_sites_check(now=now) == []
    ScheduleRun.objects.update(requested_at=now - timedelta(hours=1))
    assert [run.trigger for run in schedule_runs.schedule_sites_check(now=now)] == ["periodic"]


def test_old_runs_are_pruned_but_never_the_current_plan(plant, make_work_order):
    make_work_order(state="released")
    runs = [_execute(plant.site)[0] for _ in range(4)]
    queued = schedule_runs.schedule_run_request(site_id=plant.site.pk, trigger="on_demand")
    assert schedule_runs.schedule_runs_prune(keep_per_site=1) == 2
    left = set(ScheduleRun.objects.values_list("pk", flat=True))
    assert left == {runs[2].pk, runs[3].pk, queued.pk}
    assert ScheduleRun.objects.get(pk=runs[3].pk).is_current
    assert ScheduledOperation.objects.filter(run_id=runs[0].pk).count() == 0
    assert schedule_runs.schedule_runs_prune(keep_per_site=0) == 1
    assert set(ScheduleRun.objects.values_list("pk", flat=True)) == {runs[3].pk, queued.pk}


def test_small_gains_do_not_move_operations(plant, machines, make_work_order, settings):
    """Two equal, idle machines: work sitting on the second one is not moved to the first for
    a tie (gain 0); with no minimum gain it would be."""
    first_machine, second_machine = machines
    work_order = make_work_order(state="released")
    now = timezone.now()
    work_order.operations.update(
        assigned_equipment=second_machine, planned_start_at=now, planned_end_at=now
    )
    run, _ = _execute(plant.site, now=now)
    assert run.timings["kept_in_place"] == 2
    assert not ProposedAction.objects.exists()
    assert set(work_order.operations.values_list("assigned_equipment_id", flat=True)) == {
        second_machine.pk
    }
    assert {change["kind"] for change in run.changes} <= {"retimed"}
    settings.SCHEDULING_REROUTE_MIN_GAIN = 0.0
    moved, _ = _execute(plant.site, now=now)
    assert moved.timings["kept_in_place"] == 0
    (decision,) = ProposedAction.objects.filter(kind="reroute")
    assert decision.status == "applied"
    assert [item["is_move"] for item in decision.payload["operations"]] == [True, True]
    assert set(work_order.operations.values_list("assigned_equipment_id", flat=True)) == {
        first_machine.pk
    }


def test_a_new_order_on_a_machine_is_one_resequence_action(plant, make_user, make_work_order):
    first = make_work_order(state="released")
    second = make_work_order(state="released")
    now = timezone.now()
    _execute(plant.site, now=now)
    before = {
        operation.pk: (operation.planned_start_at, operation.planned_end_at)
        for operation in Operation.objects.all()
    }
    assert (
        before[first.operations.get(sequence=10).pk][0]
        < (before[second.operations.get(sequence=10).pk][0])
    )
    WorkOrder.objects.filter(pk=second.pk).update(due_at=now + timedelta(hours=1))
    run, _ = _execute(plant.site, now=now)
    actions = list(ProposedAction.objects.filter(kind="resequence"))
    assert len(actions) == 1
    action = actions[0]
    assert action.status == "applied"
    count = len(action.payload["operations"])
    assert action.target == f"plan change: 0 moved, {count} resequenced"
    assert action.explanation == (
        f"{count} operations in a new order on L1_M1; all due dates still met"
    )
    named = {item["operation_id"] for item in action.payload["operations"]}
    assert named == {
        change["operation_id"] for change in run.changes if change["kind"] == "resequenced"
    }
    assert {change["action_id"] for change in run.changes if change["kind"] == "resequenced"} == {
        action.pk
    }
    second_first_step = second.operations.get(sequence=10)
    assert second_first_step.planned_start_at < first.operations.get(sequence=10).planned_start_at
    action_revert(action_id=action.pk, user=make_user("supervisor"), reason="keep the old order")
    for operation_id in named:
        operation = Operation.objects.get(pk=operation_id)
        assert (operation.planned_start_at, operation.planned_end_at) == before[operation_id]


def test_a_schedule_run_is_timed_for_prometheus(plant, machines):
    def count(outcome: str) -> float:
        labels = {"outcome": outcome}
        return REGISTRY.get_sample_value("mes_schedule_computation_seconds_count", labels) or 0.0

    succeeded, failed = count("succeeded"), count("failed")
    run, outcome = _execute(plant.site)
    assert outcome == "succeeded"
    assert (count("succeeded"), count("failed")) == (succeeded + 1, failed)
    # A run that is not queued any more is skipped and not timed.
    assert schedule_runs.schedule_run_execute(run_id=run.pk) == "skipped"
    assert count("succeeded") == succeeded + 1
