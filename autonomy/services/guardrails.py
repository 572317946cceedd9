"""Autonomy guardrails: every automatic decision is a ProposedAction with its inverse.

The policy (`decide_action_status`) is a pure function of the site's autonomy mode and the
action kind's risk:

========== ============== ================= =================
mode        low risk       medium risk       high risk
========== ============== ================= =================
off         proposed       proposed          proposed
supervised  applied        awaiting approval awaiting approval
full        applied        applied           awaiting approval
========== ============== ================= =================

High-risk kinds always wait for a supervisor, who approves with their password (an
electronic signature: name, time and meaning are stored with the action). Each kind has a
handler (registered by the app that owns the effect) that applies the payload and reverts
it. A kill switch sets the site's mode to off at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from autonomy.choices import ActionKind, ActionRisk, ActionStatus, AutonomyMode
from autonomy.models import ActionPolicy, ProposedAction
from mes_site.errors import DomainError, Forbidden, ValidationFailed
from mes_site.lockout import signature_password_confirms
from mes_site.publish import broadcast, group_name
from traceability.services.audit import (
    SignatureMeaning,
    audit_event_record,
    electronic_signature_record,
    signature_failure_record,
    signature_meaning_check,
    state_transition,
)

logger = logging.getLogger(__name__)


def _site_model():
    """The plant's Site model, found through ``ProposedAction.site``.

    The guardrails sit below the domain apps and import none of them; the site (and its
    ``autonomy_mode``) is known here only as the target of that foreign key.
    """
    return ProposedAction._meta.get_field("site").related_model


@dataclass(frozen=True)
class ActionHandler:
    """How one kind of action takes effect and is undone.

    ``apply(action)`` performs the change and returns a JSON-able result (e.g. the ids it
    created); ``revert(action)`` undoes it using ``action.inverse`` and ``action.result``.
    Both run inside the caller's transaction and raise DomainError when they cannot.
    """

    apply: Callable[[ProposedAction], dict[str, Any]]
    revert: Callable[[ProposedAction], None]


_HANDLERS: dict[str, ActionHandler] = {}


def action_handler_register(kind: str, *, apply, revert) -> None:
    if kind not in ActionKind.values:
        raise ValueError(f"Unknown action kind {kind!r}.")
    _HANDLERS[kind] = ActionHandler(apply=apply, revert=revert)


def action_handler_get(kind: str) -> ActionHandler:
    try:
        return _HANDLERS[kind]
    except KeyError:
        raise ValidationFailed(f"No handler is registered for actions of kind {kind!r}.") from None


def decide_action_status(*, mode: str, risk: str) -> str:
    """The guardrail policy: what happens at once to a new action (see the module table)."""
    if mode == AutonomyMode.OFF:
        return ActionStatus.PROPOSED
    if risk == ActionRisk.HIGH:
        return ActionStatus.AWAITING_APPROVAL
    if mode == AutonomyMode.SUPERVISED:
        return ActionStatus.APPLIED if risk == ActionRisk.LOW else ActionStatus.AWAITING_APPROVAL
    if mode == AutonomyMode.FULL:
        return ActionStatus.APPLIED
    raise ValueError(f"Unknown autonomy mode {mode!r}.")


def action_risk_get(kind: str) -> str:
    """The kind's risk from the policy table; a kind without a policy row counts as high."""
    policy = ActionPolicy.objects.filter(kind=kind).first()
    return policy.risk if policy is not None else ActionRisk.HIGH


def _broadcast(action: ProposedAction) -> None:
    broadcast(
        [group_name("site", action.site_id)],
        "proposed_action",
        {
            "id": action.pk,
            "kind": action.kind,
            "status": action.status,
            "risk": action.risk,
            "target": action.target,
            "explanation": action.explanation,
        },
    )


def _apply(action: ProposedAction) -> None:
    """Run the handler inside a savepoint; a refusal marks the action failed, not the caller."""
    handler = action_handler_get(action.kind)
    try:
        with transaction.atomic():
            action.result = handler.apply(action) or {}
        action.status = ActionStatus.APPLIED
        action.applied_at = timezone.now()
    except DomainError as error:
        action.status = ActionStatus.FAILED
        action.result = {"error": error.message, "code": error.code}
        logger.warning("action %s (%s) failed: %s", action.pk, action.kind, error.message)


@transaction.atomic
def action_propose(
    *,
    site,
    kind: str,
    target: str,
    payload: dict[str, Any],
    inverse: dict[str, Any] | None = None,
    explanation: str,
    explanation_data: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
    actor=None,
) -> ProposedAction:
    """Record an automatic decision and, where the policy allows, apply it at once.

    With a ``dedupe_key``, the same decision (e.g. one anomaly episode) is recorded once:
    a second call returns the existing action and changes nothing.
    """
    if kind not in ActionKind.values:
        raise ValidationFailed(f"Unknown action kind {kind!r}.")
    if not explanation:
        raise ValidationFailed("Every automatic decision needs an explanation.")
    if dedupe_key:
        existing = ProposedAction.objects.filter(dedupe_key=dedupe_key).first()
        if existing is not None:
            return existing
    action_handler_get(kind)  # refuse kinds nobody can apply before recording them
    mode = _site_model().objects.values_list("autonomy_mode", flat=True).get(pk=site.pk)
    risk = action_risk_get(kind)
    decision = decide_action_status(mode=mode, risk=risk)
    try:
        with transaction.atomic():
            action = ProposedAction.objects.create(
                site=site,
                kind=kind,
                risk=risk,
                status=ActionStatus.PROPOSED
                if decision == ActionStatus.PROPOSED
                else ActionStatus.AWAITING_APPROVAL,
                target=target[:300],
                payload=payload,
                inverse=inverse or {},
                explanation=explanation,
                explanation_data=explanation_data or {},
                dedupe_key=dedupe_key or None,
            )
    except IntegrityError:
        # A concurrent call with the same dedupe key won the race.
        return ProposedAction.objects.get(dedupe_key=dedupe_key)
    audit_event_record(
        actor=actor,
        obj=action,
        action="propose",
        new_value=action.status,
        reason=explanation,
        data={"mode": mode, "risk": risk},
    )
    if decision == ActionStatus.APPLIED:
        _apply(action)
        action.save(update_fields=["status", "result", "applied_at"])
        audit_event_record(
            actor=actor,
            obj=action,
            action="apply automatically",
            old_value=ActionStatus.AWAITING_APPROVAL,
            new_value=action.status,
            reason=f"autonomy mode {mode}, risk {risk}",
        )
    _broadcast(action)
    return action


def _check_approver(user) -> None:
    if user is None or not user.is_authenticated:
        raise Forbidden("Log in to decide on proposed actions.")
    if not user.has_perm("autonomy.approve_proposedaction"):
        raise Forbidden("Only supervisors decide on proposed actions.")


def action_approve(
    *,
    action_id: int,
    user,
    password: str,
    meaning: str = SignatureMeaning.APPROVAL,
    reason: str = "",
    request=None,
) -> ProposedAction:
    """Approve with an electronic signature (the user's password) and apply the action.

    The password is checked before anything about the action is looked at, so a wrong
    password gets the same answer (403 ``signature_invalid``) whatever the action's state:
    the endpoint tells nothing but "wrong password" to someone who does not know it. Only
    after a correct password does a decided action answer 409. The failed attempt is
    recorded in the audit trail (committed although the approval is refused).

    Pass the HTTP ``request`` the password came with: the check then counts towards the
    lockout of repeated failures (mes_site.lockout); a locked pair is refused whatever the
    password. The check runs outside the approval's transaction, so that a refused
    signature's lockout and audit records are kept.
    """
    _check_approver(user)
    signature_meaning_check(meaning)
    if not signature_password_confirms(user=user, password=password, request=request):
        signature_failure_record(
            user=user,
            subject=f"proposed action {action_id}",
            data={"proposed_action_id": action_id, "meaning": meaning},
        )
        raise Forbidden(
            "The signature was refused: the password is not correct.", code="signature_invalid"
        )
    return _action_approve_signed(action_id=action_id, user=user, meaning=meaning, reason=reason)


@transaction.atomic
def _action_approve_signed(*, action_id: int, user, meaning: str, reason: str) -> ProposedAction:
    action = state_transition(
        model=ProposedAction,
        pk=action_id,
        allowed_from={ActionStatus.PROPOSED, ActionStatus.AWAITING_APPROVAL},
        to_state=ActionStatus.APPLIED,
        field="status",
        actor=user,
        action="approve",
        reason=reason or "approved",
    )
    signature = electronic_signature_record(signer=user, obj=action, meaning=meaning, reason=reason)
    action.decided_by = user
    action.decided_at = signature.signed_at
    action.signature = signature
    action.signature_name = signature.printed_name
    action.signature_meaning = signature.get_meaning_display()
    action.save(
        update_fields=[
            "decided_by",
            "decided_at",
            "signature",
            "signature_name",
            "signature_meaning",
        ]
    )
    _apply(action)
    action.save(update_fields=["status", "result", "applied_at"])
    _broadcast(action)
    return action


@transaction.atomic
def action_reject(*, action_id: int, user, reason: str = "") -> ProposedAction:
    _check_approver(user)
    action = state_transition(
        model=ProposedAction,
        pk=action_id,
        allowed_from={ActionStatus.PROPOSED, ActionStatus.AWAITING_APPROVAL},
        to_state=ActionStatus.REJECTED,
        field="status",
        actor=user,
        action="reject",
        reason=reason,
        updates={"decided_by": user, "decided_at": timezone.now()},
    )
    _broadcast(action)
    return action


@transaction.atomic
def action_revert(*, action_id: int, user, reason: str = "") -> ProposedAction:
    """Undo an applied action through its handler; the action is then reverted."""
    _check_approver(user)
    action = state_transition(
        model=ProposedAction,
        pk=action_id,
        allowed_from={ActionStatus.APPLIED},
        to_state=ActionStatus.REVERTED,
        field="status",
        actor=user,
        action="revert",
        reason=reason,
        updates={"reverted_by": user, "reverted_at": timezone.now()},
    )
    action_handler_get(action.kind).revert(action)
    _broadcast(action)
    return action


@transaction.atomic
def autonomy_mode_set(*, site_id: int, mode: str, actor, reason: str = ""):
    if mode not in AutonomyMode.values:
        raise ValidationFailed(
            f"Unknown autonomy mode {mode!r}.", detail={"allowed": list(AutonomyMode.values)}
        )
    if actor is not None and not actor.has_perm("autonomy.set_autonomy_mode"):
        raise Forbidden("Only supervisors change the autonomy mode.")
    site = _site_model().objects.select_for_update().get(pk=site_id)
    old = site.autonomy_mode
    site.autonomy_mode = mode
    site.save(update_fields=["autonomy_mode"])
    audit_event_record(
        actor=actor,
        obj=site,
        action="set autonomy mode",
        old_value=old,
        new_value=mode,
        reason=reason,
    )
    broadcast([group_name("site", site.pk)], "autonomy_mode", {"site": site.pk, "mode": mode})
    return site


def kill_switch(*, site_id: int, actor, reason: str = "kill switch"):
    """Stop all automatic application at once: the site's mode becomes off."""
    return autonomy_mode_set(site_id=site_id, mode=AutonomyMode.OFF, actor=actor, reason=reason)


__all__ = [
    "ActionHandler",
    "action_approve",
    "action_handler_register",
    "action_propose",
    "action_reject",
    "action_revert",
    "autonomy_mode_set",
    "decide_action_status",
    "kill_switch",
]
