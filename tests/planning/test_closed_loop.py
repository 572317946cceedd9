"""The closed loop on the demo plant, end to end on PostgreSQL.

CNC_Spindle_7 degrades (health snapshots: high α, δ > 0, short RUL p10; a predictive
maintenance order due before the RUL) → a schedule run moves its high-force operations
(Turbine_Blade 45 kN, Aero_Bracket 12.5 kN) to CNC_Spindle_8, keeps low-force work that
finishes before the maintenance block on 7, and the moves appear as proposed actions with
their reason — applied at once in supervised mode, waiting in mode off.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from autonomy.choices import ActionStatus
from autonomy.models import ProposedAction
from maintenance.services import closed_loop
from planning.models import ScheduledOperation
from planning.services.schedule_runs import schedule_run_execute, schedule_run_request
from production.models import Equipment, Operation, Site

pytestmark = pytest.mark.django_db

MACHINED = ("WO-DEMO-1001", "WO-DEMO-1002", "WO-DEMO-1003", "WO-DEMO-1004")


@pytest.fixture
def demo():
    from workers.demo_plant import demo_plant_load

    demo_plant_load()
    spindle_7 = Equipment.objects.get(code="CNC_Spindle_7")
    spindle_8 = Equipment.objects.get(code="CNC_Spindle_8")
    site = Site.objects.get(code="plant1")
    return site, spindle_7, spindle_8


def _run(site, now, trigger="on_demand"):
    run = schedule_run_request(site_id=site.pk, trigger=trigger, detail="test")
    assert schedule_run_execute(run_id=run.pk, now=now) == "succeeded"
    run.refresh_from_db()
    return run


def _degrade(spindle, now):
    """What the maintenance loop leaves behind for an anomalous spindle."""
    from maintenance.models import HealthSnapshot, MaintenanceWorkOrder

    HealthSnapshot.objects.create(
        equipment=spindle,
        ts=now - timedelta(minutes=1),
        state="assessed",
        alpha=0.92,
        degradation_slope_per_h=0.04,
        rul_state="estimated",
        rul_p10_h=12.0,
        rul_p50_h=30.0,
        rul_p90_h=60.0,
        is_anomaly=True,
        recommendation="critical",
    )
    return MaintenanceWorkOrder.objects.create(
        number="MWO-PRED-7",
        equipment=spindle,
        kind="predictive",
        state="requested",
        title="Predictive: spindle_bearing of CNC_Spindle_7",
        requested_at=now,
        window_start_at=now,
        window_end_at=now + timedelta(hours=10),
        estimated_duration_h=2.0,
    )


def _cnc_operations():
    return {
        f"{op.work_order.number}/{op.sequence}": op
        for op in Operation.objects.filter(work_order__number__in=MACHINED).select_related(
            "work_order", "assigned_equipment"
        )
    }


def test_spindle_7_degrades_high_force_work_moves_to_spindle_8(demo):
    site, spindle_7, spindle_8 = demo
    now = timezone.now()
    first = _run(site, now)
    assert first.is_current and first.unschedulable == []
    before = _cnc_operations()
    assert len(before) == 8
    on_7_before = {key for key, op in before.items() if op.assigned_equipment_id == spindle_7.pk}
    high_force_on_7 = {key for key in on_7_before if before[key].force_kn > 10.0}
    assert high_force_on_7, "the healthy plan uses spindle 7 for high-force work too"

    maintenance = _degrade(spindle_7, now)
    second = _run(site, now + timedelta(minutes=2), trigger="health_change")
    first.refresh_from_db()
    assert (first.is_current, second.is_current) == (False, True)

    after = _cnc_operations()
    # The hard rule: no operation above 10 kN is planned on the spindle in anomaly.
    for key, op in after.items():
        if op.force_kn > 10.0:
            assert op.assigned_equipment_id == spindle_8.pk, key
    assert {key for key, op in after.items() if op.assigned_equipment_id == spindle_8.pk} >= {
        "WO-DEMO-1002/10",
        "WO-DEMO-1001/10",
        "WO-DEMO-1004/10",
    }
    # Low-force work stays on 7 and finishes before the maintenance block (latest start of
    # the predictive order: window end − 2 h).
    block_start = maintenance.window_end_at - timedelta(hours=2)
    kept = [op for op in after.values() if op.assigned_equipment_id == spindle_7.pk]
    assert kept, "spindle 7 keeps low-force work"
    assert all(op.force_kn <= 10.0 for op in kept)
    assert all(op.planned_end_at <= block_start for op in kept)
    # Spindle 7 is failing: no work that was elsewhere goes onto it.
    assert {op.pk for op in kept} <= {
        op.pk for op in before.values() if op.assigned_equipment_id == spindle_7.pk
    }
    # The stored plan agrees with the operations, and 7 gets nothing after the block starts.
    entries = ScheduledOperation.objects.filter(run=second, equipment=spindle_7)
    assert all(entry.planned_end_at <= block_start for entry in entries)

    # One decision groups the moves, in plain language, with each move's formula in its detail.
    (decision,) = ProposedAction.objects.filter(kind="reroute", site=site)
    assert decision.status == ActionStatus.APPLIED  # supervised mode, reroute is low risk
    moved_off_7 = {
        item["operation"]
        for item in decision.payload["operations"]
        if item["is_move"] and item["from_equipment_id"] == spindle_7.pk
    }
    assert high_force_on_7 <= moved_off_7
    assert decision.explanation.startswith(
        f"{len(moved_off_7)} operations moved off CNC_Spindle_7 because it is failing (α 0.92"
    )
    for move in decision.explanation_data["moves"]:
        if move["operation"] in high_force_on_7:
            assert move["rule"] == "high_stress_anomaly"
            assert "CNC_Spindle_7 is in anomaly" in move["explanation"]
            assert "high-stress" in move["explanation"]
            assert move["to"] == "CNC_Spindle_8"
    inverse = {item["operation_id"]: item for item in decision.inverse["operations"]}
    assert all(inverse[before[key].pk]["equipment_id"] == spindle_7.pk for key in high_force_on_7)
    change_rules = {
        change["operation"]: change["rule"]
        for change in second.changes
        if change["kind"] == "moved_machine"
    }
    assert all(change_rules[key] == "high_stress_anomaly" for key in high_force_on_7)
    machine_7 = next(m for m in second.inputs["machines"] if m["code"] == "CNC_Spindle_7")
    assert machine_7["health"]["is_in_anomaly"] is True
    assert machine_7["block"]["maintenance_work_order"] == "MWO-PRED-7"


def test_with_autonomy_off_the_moves_wait_and_nothing_moves(demo):
    site, spindle_7, _spindle_8 = demo
    now = timezone.now()
    _run(site, now)
    before = {key: op.assigned_equipment_id for key, op in _cnc_operations().items()}
    Site.objects.filter(pk=site.pk).update(autonomy_mode="off")
    _degrade(spindle_7, now)
    second = _run(site, now + timedelta(minutes=2), trigger="health_change")
    after = {key: op.assigned_equipment_id for key, op in _cnc_operations().items()}
    reroutes = list(ProposedAction.objects.filter(kind="reroute"))
    assert reroutes and all(action.status == ActionStatus.PROPOSED for action in reroutes)
    for action in reroutes:
        for item in action.payload["operations"]:
            assert after[item["operation"]] == before[item["operation"]]
    # A second run with the same situation proposes nothing twice.
    _run(site, now + timedelta(minutes=4))
    assert ProposedAction.objects.filter(kind="reroute").count() == len(reroutes)
    assert {change["action_status"] for change in second.changes if change["action_id"]} == {
        "proposed"
    }


def test_maintenance_loop_actions_appear(demo):
    """With the maintenance app's closed loop: a predictive order and a bearing reservation."""
    from maintenance.models import AnomalyEpisode, HealthSnapshot

    site, spindle_7, spindle_8 = demo
    now = timezone.now()
    _run(site, now)
    snapshot = HealthSnapshot.objects.create(
        equipment=spindle_7,
        ts=now - timedelta(minutes=1),
        state="assessed",
        alpha=0.92,
        kurtosis=6.0,
        degradation_slope_per_h=0.04,
        rul_state="estimated",
        rul_p10_h=12.0,
        rul_p50_h=30.0,
        rul_p90_h=60.0,
        is_anomaly=True,
        recommendation="critical",
    )
    episode = AnomalyEpisode.objects.create(
        equipment=spindle_7, started_at=snapshot.ts, last_anomalous_at=snapshot.ts, peak_alpha=0.92
    )
    closed_loop.anomaly_loop_run(equipment=spindle_7, episode=episode, snapshot=snapshot, now=now)
    kinds = set(ProposedAction.objects.values_list("kind", flat=True))
    assert "maintenance_order" in kinds
    assert kinds & {"part_reservation", "procurement_request"}
    _run(site, now + timedelta(minutes=2), trigger="health_change")
    for op in _cnc_operations().values():
        if op.force_kn > 10.0:
            assert op.assigned_equipment_id == spindle_8.pk
