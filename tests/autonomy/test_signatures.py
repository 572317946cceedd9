"""Electronic signatures of approvals (21 CFR Part 11) and the signature check (issue 17): the
same answer for a wrong password whatever the action's state, failed attempts audited, and
the signature's name, UTC time, meaning and reason stored with the record."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from autonomy.models import ProposedAction
from autonomy.services.guardrails import action_approve
from mes_site.errors import Forbidden, ValidationFailed
from traceability.models import AuditEvent, ElectronicSignature


def _action(plant, status: str) -> ProposedAction:
    return ProposedAction.objects.create(
        site=plant.site,
        kind="resequence",
        risk="high",
        status=status,
        target="an operation",
        payload={},
        explanation="test",
    )


@pytest.fixture
def supervisor_client(make_user):
    supervisor = make_user("supervisor")
    client = APIClient()
    client.force_authenticate(supervisor)
    return supervisor, client


def _approve(client, action, password):
    return client.post(
        f"/api/production/proposed-actions/{action.pk}/approve/",
        {"password": password, "meaning": "approval"},
        format="json",
    )


@pytest.mark.parametrize("decided_status", ["applied", "rejected", "reverted"])
def test_a_wrong_password_gets_the_same_answer_for_a_pending_and_a_decided_action(
    plant, supervisor_client, decided_status
):
    _, client = supervisor_client
    pending, decided = _action(plant, "awaiting_approval"), _action(plant, decided_status)
    on_pending = _approve(client, pending, "wrong-password")
    on_decided = _approve(client, decided, "wrong-password")
    assert (on_pending.status_code, on_decided.status_code) == (403, 403)
    assert on_pending.json() == on_decided.json()
    assert on_decided.json()["code"] == "signature_invalid"
    assert "decided" not in on_decided.content.decode() and decided_status not in str(
        on_decided.json()
    )
    # Only the right password learns that the action is decided.
    right = _approve(client, decided, "secret-pass-1")
    assert (right.status_code, right.json()["code"]) == (409, "invalid_transition")
    assert ProposedAction.objects.get(pk=pending.pk).status == "awaiting_approval"
    assert ElectronicSignature.objects.count() == 0


def test_failed_signatures_are_recorded_in_the_audit_trail(plant, supervisor_client):
    supervisor, client = supervisor_client
    action = _action(plant, "awaiting_approval")
    assert _approve(client, action, "wrong-password").status_code == 403
    with pytest.raises(Forbidden, match="password"):
        action_approve(action_id=action.pk, user=supervisor, password="")
    failures = list(
        AuditEvent.objects.filter(action="signature failed")
        .order_by("id")
        .values("actor", "actor_name", "object_id", "reason", "data")
    )
    expected = {
        "actor": supervisor.pk,
        "actor_name": supervisor.username,
        "object_id": str(supervisor.pk),
        "reason": f"wrong password while signing proposed action {action.pk}",
        "data": {"proposed_action_id": action.pk, "meaning": "approval"},
    }
    assert failures == [expected, expected]
    # Nothing about the action changed and nothing was signed.
    assert ProposedAction.objects.get(pk=action.pk).status == "awaiting_approval"
    assert not AuditEvent.objects.filter(object_id=str(action.pk), action="approve").exists()


def test_an_unknown_meaning_is_refused_before_the_password_is_tried(plant, supervisor_client):
    supervisor, _ = supervisor_client
    action = _action(plant, "awaiting_approval")
    with pytest.raises(ValidationFailed, match="Unknown signature meaning"):
        action_approve(action_id=action.pk, user=supervisor, password="wrong", meaning="agree")
    assert not AuditEvent.objects.filter(action="signature failed").exists()


def test_an_unknown_meaning_is_a_clear_400(plant, supervisor_client):
    _, client = supervisor_client
    action = _action(plant, "awaiting_approval")
    response = client.post(
        f"/api/production/proposed-actions/{action.pk}/approve/",
        {"password": "secret-pass-1", "meaning": "agree"},
        format="json",
    )
    assert response.status_code == 400
    assert "meaning" in response.json()["detail"]
