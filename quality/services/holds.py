"""Quality holds through the guardrails, and the rule that only a disposition releases them.

``hold_propose`` records a hold and proposes the ``lot_hold`` action under the site's autonomy
mode (low risk: applied at once in supervised and full mode, proposed only when autonomy is
off). The action's handler puts the lot on hold; its revert takes the lot off hold again. While
a hold is active, traceability's ``lot_set_status`` refuses to release the lot
(``lot_release_guard``); a disposition closes the hold first and then releases or scraps.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from autonomy.choices import ActionKind, ActionStatus
from autonomy.services.guardrails import action_handler_register, action_propose
from mes_site.errors import Conflict, ValidationFailed
from quality.choices import HoldSource, HoldStatus
from quality.models import QualityHold
from quality.models.holds import OPEN_HOLD_STATES
from traceability.choices import LotStatus
from traceability.models import Lot
from traceability.services.lots import lot_set_status, lot_site_id

logger = logging.getLogger(__name__)

# A proposed hold whose action is still undecided counts as open (a second failure of the same
# lot adds nothing); a proposal that was rejected leaves the lot free for the next one.
_UNDECIDED = (ActionStatus.PROPOSED, ActionStatus.AWAITING_APPROVAL)


def _site_id_of(*, lot: Lot, equipment=None) -> int | None:
    if equipment is not None:
        return equipment.cell.line.area.site_id
    return lot_site_id(lot)


def _open_hold(lot: Lot) -> QualityHold | None:
    for hold in QualityHold.objects.filter(lot=lot, status__in=OPEN_HOLD_STATES).select_related(
        "proposed_action"
    ):
        action = hold.proposed_action
        if hold.status == HoldStatus.ACTIVE or action is None or action.status in _UNDECIDED:
            return hold
    return None


@transaction.atomic
def hold_propose(
    *,
    lot: Lot,
    source: str,
    reason: str,
    equipment=None,
    site=None,
    explanation_data: dict[str, Any] | None = None,
    actor=None,
    **origin,
) -> QualityHold | None:
    """Propose holding ``lot``; ``origin`` names the record that asks (``inspection_result``,
    ``lot_inspection``, ``non_conformance``, ``vision_result``). Returns the lot's open hold
    when it has one already, and None for a lot that is no longer in stock (consumed,
    scrapped, shipped) or of no known site (nobody's autonomy mode applies): logged, the
    caller's record is kept."""
    if source not in HoldSource.values:
        raise ValidationFailed(f"Unknown hold source {source!r}.", detail={"source": source})
    lot = Lot.objects.select_for_update().get(pk=lot.pk)
    existing = _open_hold(lot)
    if existing is not None:
        return existing
    if lot.status not in (LotStatus.AVAILABLE, LotStatus.ON_HOLD):
        # consumed, scrapped or shipped: nothing left to hold (the caller's record is kept;
        # following the material downstream is an NCR's genealogy question)
        logger.warning("no hold proposed for lot %s: it is %s (%s)", lot.code, lot.status, reason)
        return None
    site_id = site.pk if site is not None else _site_id_of(lot=lot, equipment=equipment)
    if site_id is None:
        logger.warning("no hold proposed for lot %s: its site is unknown (%s)", lot.code, reason)
        return None
    hold = QualityHold.objects.create(
        lot=lot, site_id=site_id, equipment=equipment, source=source, reason=reason, **origin
    )
    action = action_propose(
        site=hold.site,
        kind=ActionKind.LOT_HOLD,
        target=f"lot {lot.code}",
        payload={"lot_id": lot.pk, "hold_id": hold.pk},
        inverse={"lot_id": lot.pk, "status": LotStatus.AVAILABLE},
        explanation=f"Hold lot {lot.code}: {reason}",
        explanation_data={"source": source, **(explanation_data or {})},
        dedupe_key=f"lot_hold:{hold.pk}",
        actor=actor,
    )
    QualityHold.objects.filter(pk=hold.pk).update(proposed_action=action)
    hold.refresh_from_db()
    return hold


# --- the guardrails' handler of lot_hold ---------------------------------------------------------


def lot_hold_apply(action) -> dict[str, Any]:
    hold = QualityHold.objects.select_for_update().get(pk=action.payload["hold_id"])
    if hold.status != HoldStatus.PROPOSED:
        raise Conflict(f"Hold {hold.pk} is {hold.status} already; nothing to apply.")
    lot = Lot.objects.get(pk=action.payload["lot_id"])
    if lot.status == LotStatus.AVAILABLE:
        lot_set_status(
            lot_id=lot.pk,
            status=LotStatus.ON_HOLD,
            actor=action.decided_by,
            reason=f"quality hold {hold.pk}: {hold.reason}",
        )
    elif lot.status != LotStatus.ON_HOLD:
        raise Conflict(f"Lot {lot.code} is {lot.status}; it cannot be held any more.")
    hold.status = HoldStatus.ACTIVE
    hold.save(update_fields=["status"])
    return {"hold_id": hold.pk, "lot_id": lot.pk, "lot_code": lot.code}


def lot_hold_revert(action) -> None:
    hold = QualityHold.objects.select_for_update().get(pk=action.payload["hold_id"])
    if hold.status != HoldStatus.ACTIVE:
        raise Conflict(f"Hold {hold.pk} is {hold.status}; only an active hold can be undone.")
    hold.status = HoldStatus.REVERTED
    hold.closed_at = timezone.now()
    hold.closed_by = action.reverted_by
    hold.save(update_fields=["status", "closed_at", "closed_by"])
    lot = Lot.objects.get(pk=hold.lot_id)
    if lot.status == LotStatus.ON_HOLD and _open_hold(lot) is None:
        lot_set_status(
            lot_id=lot.pk,
            status=LotStatus.AVAILABLE,
            actor=action.reverted_by,
            reason=f"hold proposal {action.pk} reverted",
        )


def lot_release_guard(*, lot_id: int, to_status: str) -> None:
    """traceability's ``lot_release_check``: an active quality hold needs a disposition."""
    active = list(
        QualityHold.objects.filter(lot_id=lot_id, status=HoldStatus.ACTIVE).values_list(
            "pk", flat=True
        )
    )
    if active:
        raise Conflict(
            "The lot is held by quality; a disposition of its non-conformance releases it.",
            code="disposition_required",
            detail={"holds": active, "to_status": to_status},
        )


def holds_close(*, lot_id: int, actor, status: str = HoldStatus.DISPOSITIONED) -> list[int]:
    """Close the lot's open holds (a disposition decided); returns their ids."""
    now = timezone.now()
    holds = list(
        QualityHold.objects.select_for_update().filter(lot_id=lot_id, status__in=OPEN_HOLD_STATES)
    )
    for hold in holds:
        hold.status = status
        hold.closed_at = now
        hold.closed_by = actor if actor is not None and actor.is_authenticated else None
        hold.save(update_fields=["status", "closed_at", "closed_by"])
    return [hold.pk for hold in holds]


def handlers_register() -> None:
    action_handler_register(ActionKind.LOT_HOLD, apply=lot_hold_apply, revert=lot_hold_revert)
