"""The recall's one click: hold every lot of the report still in our hands, as ONE proposed
action through the guardrails (autonomy/), and its handler (apply: hold; revert: release)."""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

from django.db.models import Q

from autonomy.choices import ActionKind
from autonomy.services.guardrails import action_handler_register, action_propose
from mes_site.errors import Conflict, NotFound, ValidationFailed
from planning.selectors.recall import recall_report
from production.models import Site
from traceability.choices import LotStatus
from traceability.models import Lot
from traceability.services import lot_set_status


def _site_of(lot_ids: list[int]) -> Site:
    """The site most of the lots are made or stored at (one query)."""
    rows = Lot.objects.filter(pk__in=lot_ids).values_list(
        "produced_by__work_order__site_id", "stock__location__site_id"
    )
    counts = Counter(made or stored for made, stored in rows if made or stored)
    if not counts:
        raise ValidationFailed(
            "The lots to hold are on no site (neither made nor stored on one).",
            detail={"lot_ids": lot_ids[:20]},
        )
    return Site.objects.get(pk=counts.most_common(1)[0][0])


def recall_hold_propose(*, supplier_lot_code: str, actor, visible=None):
    """Propose holding every lot of the recall report that is in WIP or in stock and not on
    hold yet; the guardrails apply it at once or queue it for a supervisor (kind
    ``recall_hold``, high risk unless the policy table says otherwise). The same set of lots
    is proposed once."""
    report = recall_report(supplier_lot_code=supplier_lot_code, visible=visible)
    if not report.reached_count:
        raise NotFound(
            f"No lot with supplier lot code {supplier_lot_code!r}.",
            code="unknown_code",
            detail={"supplier_lot": "a supplier lot code of a received lot"},
        )
    lot_ids = report.lots_to_hold
    if not lot_ids:
        raise Conflict(
            f"Nothing of supplier lot {supplier_lot_code} is in our hands and not on hold.",
            code="nothing_to_hold",
        )
    codes = dict(Lot.objects.filter(pk__in=lot_ids).values_list("pk", "code"))
    places = ", ".join(
        f"{quantity.normalize()} {kind} {place}"
        for kind, place, quantity in report.quantity_by_place
        if kind in {"wip", "stock"}
    )
    digest = hashlib.sha256(",".join(map(str, lot_ids)).encode()).hexdigest()[:16]
    return action_propose(
        site=_site_of(lot_ids),
        kind=ActionKind.RECALL_HOLD,
        target=f"hold {len(lot_ids)} lots reached by supplier lot {supplier_lot_code}"[:300],
        payload={"supplier_lot_code": supplier_lot_code, "lot_ids": lot_ids},
        inverse={"action": "release the lots this action held"},
        explanation=(
            f"Recall of supplier lot {supplier_lot_code}: {report.reached_count} lots and "
            f"serial units reached, {report.finished_serial_count} finished serial units. Hold "
            f"the {len(lot_ids)} lots still in our hands ({places})."
        ),
        explanation_data={"lots": [codes[i] for i in lot_ids][:200]},
        dedupe_key=f"recall-hold:{supplier_lot_code}:{digest}"[:200],
        actor=actor,
    )


def recall_hold_apply(action) -> dict[str, Any]:
    reason = f"recall of supplier lot {action.payload['supplier_lot_code']} (action {action.pk})"
    held = []
    for lot_id in Lot.objects.filter(
        pk__in=action.payload["lot_ids"], status=LotStatus.AVAILABLE
    ).values_list("pk", flat=True):
        lot_set_status(lot_id=lot_id, status=LotStatus.ON_HOLD, actor=None, reason=reason)
        held.append(lot_id)
    return {"held": held}


def recall_hold_revert(action) -> None:
    """Release the lots this action held that are still on hold (a lot dispositioned since,
    e.g. scrapped by quality, stays as it is)."""
    held = (action.result or {}).get("held", [])
    reason = f"action {action.pk} reverted"
    for lot_id in Lot.objects.filter(Q(pk__in=held), status=LotStatus.ON_HOLD).values_list(
        "pk", flat=True
    ):
        lot_set_status(
            lot_id=lot_id, status=LotStatus.AVAILABLE, actor=action.reverted_by, reason=reason
        )


def recall_handlers_register() -> None:
    action_handler_register(
        ActionKind.RECALL_HOLD, apply=recall_hold_apply, revert=recall_hold_revert
    )
