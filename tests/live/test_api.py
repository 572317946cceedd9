"""/api/live/: decisions on proposed actions, autonomy mode, kill switch, idempotent reports."""

from __future__ import annotations

import uuid

import pytest
from django.core.cache import cache

from production.models import Operation, ProposedAction, Site, WorkOrder
from production.services import guardrails

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_request_ids():
    cache.clear()


@pytest.fixture
def waiting_action(plant, make_work_order):
    work_order = make_work_order()
    return guardrails.action_propose(
        site=plant.site,
        kind="reprioritise",
        target=f"work order {work_order.number}",
        payload={"work_order_id": work_order.pk, "priority": 2},
        inverse={"priority": work_order.priority},
        explanation="Due date moved forward.",
    )


@pytest.fixture
def supervisor_client(make_user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.login(username=make_user("supervisor").username, password="secret-pass-1")
    return client


def test_approve_with_a_wrong_password_is_refused_and_changes_nothing(
    supervisor_client, waiting_action
):
    response = supervisor_client.post(
        f"/api/live/actions/{waiting_action.pk}/approve/", {"password": "guess"}, format="json"
    )
    assert response.status_code == 403
    assert response.json() == {
        "code": "signature_invalid",
        "message": "The signature was refused: the password is not correct.",
        "detail": {},
    }
    waiting_action.refresh_from_db()
    assert waiting_action.status == "awaiting_approval"
    assert waiting_action.decided_by is None


def test_approve_with_the_password_signs_and_applies(supervisor_client, waiting_action):
    response = supervisor_client.post(
        f"/api/live/actions/{waiting_action.pk}/approve/",
        {"password": "secret-pass-1", "meaning": "Agreed with the planner"},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "applied"
    assert body["signature_name"] == "supervisor_user"
    assert body["decided_by"] == "supervisor_user"
    action = ProposedAction.objects.get(pk=waiting_action.pk)
    assert action.signature_meaning == "Agreed with the planner"
    assert WorkOrder.objects.get(pk=action.payload["work_order_id"]).priority == 2
    again = supervisor_client.post(
        f"/api/live/actions/{waiting_action.pk}/approve/",
        {"password": "secret-pass-1"},
        format="json",
    )
    assert again.status_code == 409
    assert again.json()["code"] == "invalid_transition"


def test_approve_needs_a_password_field(supervisor_client, waiting_action):
    response = supervisor_client.post(
        f"/api/live/actions/{waiting_action.pk}/approve/", {}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "password" in response.json()["detail"]


def test_reject_then_revert_is_refused(supervisor_client, waiting_action):
    rejected = supervisor_client.post(
        f"/api/live/actions/{waiting_action.pk}/reject/", {"reason": "not now"}, format="json"
    )
    assert rejected.status_code == 200
    assert rejected.json()["status"] == "rejected"
    revert = supervisor_client.post(
        f"/api/live/actions/{waiting_action.pk}/revert/", {}, format="json"
    )
    assert revert.status_code == 409


def test_revert_undoes_an_applied_action(supervisor_client, waiting_action):
    supervisor_client.post(
        f"/api/live/actions/{waiting_action.pk}/approve/",
        {"password": "secret-pass-1"},
        format="json",
    )
    response = supervisor_client.post(
        f"/api/live/actions/{waiting_action.pk}/revert/", {"reason": "wrong order"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "reverted"
    assert WorkOrder.objects.get(pk=waiting_action.payload["work_order_id"]).priority == 5


def test_operators_cannot_decide_and_other_sites_are_not_found(
    api_for, plant, waiting_action, make_user
):
    operator = api_for("operator")
    refused = operator.post(
        f"/api/live/actions/{waiting_action.pk}/reject/", {"reason": "x"}, format="json"
    )
    assert refused.status_code == 403
    assert refused.json() == {
        "code": "permission_denied",
        "message": "Only supervisors decide on proposed actions.",
        "detail": {},
    }
    other_supervisor = api_for("supervisor", sites=[plant.other_site], username="other_sup")
    assert (
        other_supervisor.post(
            f"/api/live/actions/{waiting_action.pk}/reject/", {}, format="json"
        ).status_code
        == 404
    )
    assert ProposedAction.objects.get(pk=waiting_action.pk).status == "awaiting_approval"


def test_autonomy_mode_and_kill_switch(supervisor_client, plant, api_for):
    response = supervisor_client.post(
        f"/api/live/sites/{plant.site.pk}/autonomy-mode/", {"mode": "full"}, format="json"
    )
    assert response.json() == {"site": plant.site.pk, "autonomy_mode": "full"}
    bad = supervisor_client.post(
        f"/api/live/sites/{plant.site.pk}/autonomy-mode/", {"mode": "turbo"}, format="json"
    )
    assert bad.status_code == 400
    assert bad.json()["detail"] == {"allowed": ["off", "supervised", "full"]}
    killed = supervisor_client.post(f"/api/live/sites/{plant.site.pk}/kill-switch/", {})
    assert killed.json() == {"site": plant.site.pk, "autonomy_mode": "off"}
    assert Site.objects.get(pk=plant.site.pk).autonomy_mode == "off"
    planner = api_for("planner")
    refused = planner.post(f"/api/live/sites/{plant.site.pk}/kill-switch/", {})
    assert refused.status_code == 403
    assert refused.json()["code"] == "permission_denied"
    other = supervisor_client.post(f"/api/live/sites/{plant.other_site.pk}/kill-switch/", {})
    assert other.status_code == 404
    assert Site.objects.get(pk=plant.other_site.pk).autonomy_mode == "supervised"


@pytest.fixture
def running_operation(plant, make_work_order):
    from production import services

    work_order = make_work_order(state="in_progress")
    operation = work_order.operations.order_by("sequence").first()
    services.operation_start(operation_id=operation.pk, actor=None)
    return operation


def test_a_repeated_report_request_is_booked_once(api_for, running_operation):
    operator = api_for("operator")
    request_id = str(uuid.uuid4())
    url = f"/api/live/operations/{running_operation.pk}/report/"
    first = operator.post(url, {"request_id": request_id, "scrap": 2, "reason": "Burr"}, "json")
    second = operator.post(url, {"request_id": request_id, "scrap": 2, "reason": "Burr"}, "json")
    assert first.status_code == 200
    assert first.json()["quantity_scrap"] == 2
    assert "duplicate" not in first.json()
    assert second.status_code == 200
    assert second.json()["duplicate"] is True
    assert second.json()["quantity_scrap"] == 2
    assert Operation.objects.get(pk=running_operation.pk).quantity_scrap == 2
    other = operator.post(url, {"request_id": str(uuid.uuid4()), "good": 1}, "json")
    assert other.json()["quantity_good"] == 1


def test_a_refused_report_can_be_sent_again(api_for, running_operation):
    from production import services

    operator = api_for("operator")
    request_id = str(uuid.uuid4())
    url = f"/api/live/operations/{running_operation.pk}/report/"
    services.operation_complete(operation_id=running_operation.pk, actor=None)
    refused = operator.post(url, {"request_id": request_id, "good": 1}, "json")
    assert refused.status_code == 409
    assert cache.get(f"live:report:{refused.wsgi_request.user.pk}:{request_id}") is None


def test_a_report_needs_a_request_id_and_the_scope(api_for, plant, running_operation):
    operator = api_for("operator")
    url = f"/api/live/operations/{running_operation.pk}/report/"
    missing = operator.post(url, {"good": 1}, "json")
    assert missing.status_code == 400
    assert "request_id" in missing.json()["detail"]
    elsewhere = api_for("operator", lines=[plant.other_line], username="elsewhere")
    assert elsewhere.post(
        url, {"request_id": str(uuid.uuid4()), "good": 1}, "json"
    ).status_code == (404)
    quality = api_for("quality")
    refused = quality.post(url, {"request_id": str(uuid.uuid4()), "good": 1}, "json")
    assert refused.status_code == 403
    assert Operation.objects.get(pk=running_operation.pk).quantity_good == 0
