"""Reads of the plan changes that took effect: the moves the damping rule looks back on."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from autonomy.choices import ActionKind, ActionStatus
from autonomy.models import ProposedAction

__all__ = ["AppliedMove", "plan_moves_recent"]


@dataclass(frozen=True, slots=True)
class AppliedMove:
    """One operation moved between machines by an applied action, and the machines' state and
    health class (``signature``) when it was decided."""

    operation: str
    from_equipment_id: int
    to_equipment_id: int
    at: datetime
    signatures: dict[int, str]


def plan_moves_recent(*, site_id: int, since: datetime) -> Iterator[AppliedMove]:
    """The moves of the site's reroutes applied since ``since`` (plan changes and the single
    reroutes of older plans), oldest first."""
    rows = (
        ProposedAction.objects.filter(
            site_id=site_id,
            kind=ActionKind.REROUTE,
            status=ActionStatus.APPLIED,
            applied_at__gte=since,
        )
        .order_by("applied_at", "pk")
        .values_list("payload", "explanation_data", "applied_at")
    )
    for payload, explanation_data, applied_at in rows:
        signatures = {
            int(key): value
            for key, value in (explanation_data or {}).get("machine_signatures", {}).items()
        }
        if payload.get("plan_change"):
            entries = [item for item in payload.get("operations", []) if item.get("is_move")]
        else:
            entries = [payload]
        for item in entries:
            if item.get("from_equipment_id") is None or item.get("to_equipment_id") is None:
                continue
            yield AppliedMove(
                operation=str(item.get("operation", "")),
                from_equipment_id=int(item["from_equipment_id"]),
                to_equipment_id=int(item["to_equipment_id"]),
                at=applied_at,
                signatures=signatures,
            )
