"""Admin actions of the maintenance models: relearn baseline, check plans, read-only health."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from maintenance.models import HealthBaseline, MaintenanceWorkOrder, PreventivePlan
from tests.mfa import login_verified


def _admin(client):
    user = get_user_model().objects.create_superuser("root", "root@example.invalid", "pw-12345")
    return login_verified(client, user)


def test_relearn_baseline_from_the_admin(client, spindle, feed, baseline_learned):
    admin = _admin(client)
    current = HealthBaseline.objects.get(equipment=spindle.equipment)
    page = admin.get(f"/admin/maintenance/healthbaseline/{current.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    snapshot_page = admin.get(f"/admin/maintenance/healthsnapshot/{baseline_learned.pk}/change/")
    assert snapshot_page.status_code == 200 and b'name="_save"' not in snapshot_page.content
    response = admin.post(
        "/admin/maintenance/healthbaseline/",
        {"action": "relearn", "_selected_action": [current.pk]},
        follow=True,
    )
    assert b"Relearning the baseline of 1 equipment from now on." in response.content
    assert sorted(
        HealthBaseline.objects.filter(equipment=spindle.equipment).values_list("status", flat=True)
    ) == ["current", "learning"]


def test_check_plans_from_the_admin(client, plant):
    admin = _admin(client)
    plan = PreventivePlan.objects.create(
        equipment=plant.equipment,
        name="Grease",
        trigger="calendar",
        interval=10,
        cycle_started_at=timezone.now() - timedelta(days=12),
    )
    response = admin.post(
        "/admin/maintenance/preventiveplan/",
        {"action": "check_now", "_selected_action": [plan.pk]},
        follow=True,
    )
    assert f"Created: PM-{plan.pk}-1".encode() in response.content
    again = admin.post(
        "/admin/maintenance/preventiveplan/",
        {"action": "check_now", "_selected_action": [plan.pk]},
        follow=True,
    )
    assert b"No plan was due." in again.content
    assert MaintenanceWorkOrder.objects.count() == 1
