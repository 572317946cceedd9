"""What-if through the API: a proposed plan change and "machine X down for 4 h from now",
current against proposed, on the plant model (PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from autonomy.models import ActionPolicy, ProposedAction
from planning.services import schedule_runs
from production.models import Equipment, EquipmentStateInterval, Operation

pytestmark = pytest.mark.django_db


@pytest.fixture
def machines(plant):
    second = Equipment.objects.create(cell=plant.equipment.cell, code="L1_M2", name="L1 machine 2")
    second.capabilities.add(plant.capability)
    return plant.equipment, second


def _execute(site, now):
    run = schedule_runs.schedule_run_request(site_id=site.pk, trigger="on_demand", detail="test")
    schedule_runs.schedule_run_execute(run_id=run.pk, now=now)


def test_what_if_of_a_proposed_plan_change_compares_current_and_proposed(
    plant, machines, make_work_order, api_for
):
    first_machine, _second_machine = machines
    ActionPolicy.objects.update_or_create(kind="reroute", defaults={"risk": "high"})
    for _ in range(3):
        make_work_order(state="released")
    now = timezone.now()
    _execute(plant.site, now)
    EquipmentStateInterval.objects.create(
        equipment=first_machine, start_at=now - timedelta(minutes=5), state="down"
    )
    _execute(plant.site, now)
    action = ProposedAction.objects.get(kind="reroute")
    assert action.status == "awaiting_approval"

    response = api_for("planner").get(f"/api/production/what-if/actions/{action.pk}/")

    assert response.status_code == 200, response.content
    body = response.json()
    moved = [item["operation"] for item in action.payload["operations"] if item["is_move"]]
    # Current: the operations on the machine that is down do not run (nor the steps after
    # them); proposed: everything runs.
    assert set(moved) <= set(body["current"]["not_run"])
    assert body["proposed"]["not_run"] == []
    assert body["proposed"]["energy_kwh"] > body["current"]["energy_kwh"]
    assert {row["equipment"] for row in body["proposed"]["utilisation"]} == {"L1_M2"}
    assert len(body["proposed"]["orders"]) == 3
    assert Operation.objects.filter(assigned_equipment=first_machine).count() == len(moved)


def test_what_if_a_machine_is_down_for_four_hours_from_now(
    plant, machines, make_work_order, api_for
):
    for _ in range(2):
        make_work_order(state="released")
    now = timezone.now()
    _execute(plant.site, now)
    used = Operation.objects.filter(assigned_equipment__isnull=False).first().assigned_equipment
    client = api_for("supervisor")

    response = client.post(
        "/api/production/what-if/outage/", {"equipment": used.pk, "hours": 4}, format="json"
    )
    bad = client.post("/api/production/what-if/outage/", {"equipment": used.pk, "hours": -1})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["what"] == f"{used.code} down for 4 h from now"
    assert body["proposed"]["makespan_h"] >= body["current"]["makespan_h"] + 4 - 0.01
    assert body["delta"]["makespan_h"] == pytest.approx(
        body["proposed"]["makespan_h"] - body["current"]["makespan_h"], abs=1e-3
    )
    assert bad.status_code == 400 and "hours" in bad.json()["detail"]
