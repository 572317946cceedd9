import threading
from datetime import timedelta

import pytest
from django.db import connection

from autonomy.choices import ActionRisk, ActionStatus, AutonomyMode
from autonomy.models import ActionPolicy, ProposedAction
from autonomy.services.guardrails import (
    action_approve,
    action_propose,
    action_reject,
    action_revert,
    decide_action_status,
    kill_switch,
)
from mes_site.errors import Forbidden, InvalidTransition, ValidationFailed
from production.models import Site, WorkOrder
from traceability.models import AuditEvent

POLICY = {
    ("off", "low"): "proposed",
    ("off", "medium"): "proposed",
    ("off", "high"): "proposed",
    ("supervised", "low"): "applied",
    ("supervised", "medium"): "awaiting_approval",
    ("supervised", "high"): "awaiting_approval",
    ("full", "low"): "applied",
    ("full", "medium"): "applied",
    ("full", "high"): "awaiting_approval",
}


@pytest.mark.parametrize(("mode", "risk"), sorted(POLICY))
def test_policy_table(mode, risk):
    assert decide_action_status(mode=mode, risk=risk) == POLICY[(mode, risk)]


def _propose(plant, work_order, *, priority=1, dedupe_key=None):
    return action_propose(
        site=plant.site,
        kind="reprioritise",
        target=f"work order {work_order.number}",
        payload={"work_order_id": work_order.pk, "priority": priority},
        inverse={"priority": work_order.priority},
        explanation="Due date moved forward by the ERP.",
        dedupe_key=dedupe_key,
    )


@pytest.mark.parametrize(("mode", "risk"), sorted(POLICY))
def test_policy_matrix_end_to_end(plant, make_work_order, mode, risk):
    Site.objects.filter(pk=plant.site.pk).update(autonomy_mode=mode)
    ActionPolicy.objects.update_or_create(kind="reprioritise", defaults={"risk": risk})
    work_order = make_work_order()
    action = _propose(plant, work_order, priority=2)
    expected = POLICY[(mode, risk)]
    assert action.status == expected
    assert WorkOrder.objects.get(pk=work_order.pk).priority == (2 if expected == "applied" else 5)


def test_kind_without_policy_counts_as_high_risk(plant, make_work_order):
    Site.objects.filter(pk=plant.site.pk).update(autonomy_mode=AutonomyMode.FULL)
    action = _propose(plant, make_work_order())
    assert (action.risk, action.status) == (ActionRisk.HIGH, ActionStatus.AWAITING_APPROVAL)


def test_approve_with_signature_applies_and_revert_undoes(plant, make_work_order, make_user):
    supervisor = make_user("supervisor")
    supervisor.first_name, supervisor.last_name = "Sam", "Super"
    supervisor.save()
    work_order = make_work_order()
    action = _propose(plant, work_order, priority=1)
    assert action.status == "awaiting_approval"
    with pytest.raises(Forbidden, match="password"):
        action_approve(action_id=action.pk, user=supervisor, password="wrong")
    assert ProposedAction.objects.get(pk=action.pk).status == "awaiting_approval"
    approved = action_approve(
        action_id=action.pk,
        user=supervisor,
        password="secret-pass-1",
        meaning="approval",
        reason="Customer escalation",
    )
    assert (approved.status, approved.signature_name, approved.signature_meaning) == (
        "applied",
        "Sam Super",
        "Approval",
    )
    signature = approved.signature
    assert (
        signature.signer,
        signature.printed_name,
        signature.meaning,
        signature.reason,
        signature.object_id,
        signature.signed_at,
        signature.signed_at.utcoffset(),
    ) == (
        supervisor,
        "Sam Super",
        "approval",
        "Customer escalation",
        str(action.pk),
        approved.decided_at,
        timedelta(0),
    )
    sign_event = AuditEvent.objects.get(action="sign", object_id=str(action.pk))
    assert (sign_event.actor, sign_event.new_value, sign_event.reason, sign_event.data) == (
        supervisor,
        "approval",
        "Customer escalation",
        {
            "signature_id": signature.pk,
            "printed_name": "Sam Super",
            "signed_at": signature.signed_at.isoformat(),
            "meaning": "approval",
        },
    )
    assert approved.decided_at is not None
    assert WorkOrder.objects.get(pk=work_order.pk).priority == 1
    with pytest.raises(InvalidTransition):
        action_approve(action_id=action.pk, user=supervisor, password="secret-pass-1")
    reverted = action_revert(action_id=action.pk, user=supervisor, reason="mistake")
    assert reverted.status == "reverted"
    assert WorkOrder.objects.get(pk=work_order.pk).priority == 5
    actions = list(
        AuditEvent.objects.filter(content_type__model="proposedaction", object_id=str(action.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["propose", "approve", "sign", "revert"]


def test_operator_cannot_decide(plant, make_work_order, make_user):
    operator = make_user("operator")
    action = _propose(plant, make_work_order())
    with pytest.raises(Forbidden):
        action_approve(action_id=action.pk, user=operator, password="secret-pass-1")
    with pytest.raises(Forbidden):
        action_reject(action_id=action.pk, user=operator)
    assert ProposedAction.objects.get(pk=action.pk).status == "awaiting_approval"


def test_dedupe_key_records_an_episode_once(plant, make_work_order):
    work_order = make_work_order()
    first = _propose(plant, work_order, dedupe_key="episode-1")
    second = _propose(plant, work_order, priority=3, dedupe_key="episode-1")
    assert first.pk == second.pk
    assert ProposedAction.objects.count() == 1


def test_kill_switch_stops_automatic_application(plant, make_work_order, make_user):
    ActionPolicy.objects.update_or_create(kind="reprioritise", defaults={"risk": "low"})
    work_order = make_work_order()
    assert _propose(plant, work_order, priority=2).status == "applied"
    kill_switch(site_id=plant.site.pk, actor=make_user("supervisor"))
    assert Site.objects.get(pk=plant.site.pk).autonomy_mode == "off"
    later = _propose(plant, work_order, priority=7)
    assert later.status == "proposed"
    assert WorkOrder.objects.get(pk=work_order.pk).priority == 2


def test_unknown_kind_and_missing_explanation_are_refused(plant):
    with pytest.raises(ValidationFailed, match="Unknown action kind"):
        action_propose(site=plant.site, kind="launch", target="x", payload={}, explanation="y")
    with pytest.raises(ValidationFailed, match="explanation"):
        action_propose(site=plant.site, kind="reprioritise", target="x", payload={}, explanation="")
    assert not ProposedAction.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_supervisors_approving_at_once_apply_once(plant, make_work_order, make_user):
    first = make_user("supervisor", username="sup_a")
    second = make_user("supervisor", username="sup_b")
    work_order = make_work_order()
    action = _propose(plant, work_order, priority=1)
    barrier = threading.Barrier(2)
    outcomes = []

    def approve(user):
        try:
            barrier.wait()
            action_approve(action_id=action.pk, user=user, password="secret-pass-1")
            outcomes.append("applied")
        except InvalidTransition:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(user,)) for user in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["applied", "refused"]
    assert AuditEvent.objects.filter(action="reprioritise").count() == 1
