"""Proposed actions (autonomy) as the live screens show them, and decisions' explanations."""

from __future__ import annotations

from typing import Any

from autonomy.choices import ActionStatus
from autonomy.models import ProposedAction
from live.selectors.current import iso_or_none

OPEN_ACTION_STATUSES = (ActionStatus.PROPOSED, ActionStatus.AWAITING_APPROVAL)


def explanation_text(explanation: Any) -> str:
    """A one-line reading of a decision's explanation (text, or the dict's telling keys)."""
    if not explanation:
        return ""
    if isinstance(explanation, str):
        return explanation
    if isinstance(explanation, dict):
        for key in ("summary", "text", "reason", "message", "rule"):
            if isinstance(explanation.get(key), str) and explanation[key]:
                return explanation[key]
        parts = []
        for key, value in list(explanation.items())[:6]:
            if isinstance(value, float):
                value = f"{value:.3g}"
            elif isinstance(value, dict | list):
                continue
            parts.append(f"{key.replace('_', ' ')}: {value}")
        return "; ".join(parts)
    return str(explanation)[:300]


def proposed_action_dict(action: ProposedAction) -> dict[str, Any]:
    return {
        "id": action.pk,
        "kind": action.kind,
        "kind_label": action.get_kind_display(),
        "risk": action.risk,
        "status": action.status,
        "status_label": action.get_status_display(),
        "target": action.target,
        "explanation": action.explanation,
        "created_at": iso_or_none(action.created_at),
        "decided_by": action.decided_by.get_username() if action.decided_by else None,
        "signature_name": action.signature_name,
        "signature_meaning": action.signature_meaning,
        "decided_at": iso_or_none(action.decided_at),
        "result": action.result,
    }


def proposed_actions_open(*, site_id: int, limit: int = 50) -> list[dict]:
    actions = (
        ProposedAction.objects.filter(site_id=site_id, status__in=OPEN_ACTION_STATUSES)
        .select_related("decided_by")
        .order_by("-created_at")[:limit]
    )
    return [proposed_action_dict(action) for action in actions]


def proposed_actions_recent(*, site_id: int, limit: int = 10) -> list[dict]:
    actions = (
        ProposedAction.objects.filter(site_id=site_id)
        .exclude(status__in=OPEN_ACTION_STATUSES)
        .select_related("decided_by")
        .order_by("-created_at")[:limit]
    )
    return [proposed_action_dict(action) for action in actions]
