"""Reads of the traceability app."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from traceability.models import ApiToken, AuditEvent, GenealogyLink, Lot


def lot_list() -> QuerySet[Lot]:
    return Lot.objects.select_related("item", "produced_by")


def audit_event_list() -> QuerySet[AuditEvent]:
    return AuditEvent.objects.select_related("content_type")  # actor_name is on the row


def lot_genealogy(*, lot_id: int, direction: str = "backward", max_depth: int = 20) -> list[dict]:
    """Walk the genealogy from a lot: ``backward`` to its inputs, ``forward`` to its uses.

    Breadth-first, one query per level; returns edges with their depth.
    """
    if direction not in {"backward", "forward"}:
        raise ValueError("direction must be 'backward' or 'forward'")
    edges: list[dict] = []
    frontier, seen = {lot_id}, {lot_id}
    depth = 0
    while frontier and depth < max_depth:
        depth += 1
        if direction == "backward":
            links = GenealogyLink.objects.filter(produced_lot_id__in=frontier)
        else:
            links = GenealogyLink.objects.filter(consumed_lot_id__in=frontier)
        links = links.select_related("consumed_lot", "produced_lot")
        next_frontier = set()
        for link in links:
            edges.append(
                {
                    "depth": depth,
                    "consumed_lot": link.consumed_lot.code,
                    "produced_lot": link.produced_lot.code,
                    "quantity": str(link.quantity),
                    "operation_id": link.operation_id,
                }
            )
            nxt = link.consumed_lot_id if direction == "backward" else link.produced_lot_id
            if nxt not in seen:
                seen.add(nxt)
                next_frontier.add(nxt)
        frontier = next_frontier
    return edges


def api_token_list(*, owner) -> QuerySet[ApiToken]:
    """The tokens of ``owner``, newest first (revoked and expired ones too: they are history)."""
    return ApiToken.objects.filter(user=owner).select_related("replaced_by")


def api_token_is_active(*, token_id: int) -> bool:
    """Neither revoked nor expired (the websocket consumer re-checks its token with this)."""
    return ApiToken.objects.filter(
        pk=token_id, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).exists()
