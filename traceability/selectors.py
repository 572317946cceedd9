"""Reads of the traceability app."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils import timezone

from mes_site.scope import scope_filter, scope_get
from traceability.models import ApiToken, AuditEvent, GenealogyLink, Lot, SerialUnit


def lot_list() -> QuerySet[Lot]:
    return Lot.objects.select_related("item", "produced_by")


def lot_list_scoped(*, user) -> QuerySet[Lot]:
    """The lots a user may see (the one scoping rule, ``scope_filter``): a lot made by an
    operation is seen through the line (or site) of its work order; a lot made on no line
    (received, bought) through the sites it is or was stored at: a site of the scope or one
    holding a line of it, as for inventory's stores. One query, two subqueries."""
    if scope_get(user).is_unrestricted:
        return lot_list()
    made = scope_filter(
        Lot.objects.filter(produced_by__isnull=False),
        user,
        line="produced_by__work_order__line_id",
        site="produced_by__work_order__site_id",
    )
    stored = scope_filter(
        Lot.objects.filter(produced_by__isnull=True),
        user,
        line="stock__location__site__areas__lines__id",
        site="stock__location__site_id",
    )
    return lot_list().filter(Q(pk__in=made.values("pk")) | Q(pk__in=stored.values("pk")))


def serial_unit_list_scoped(*, user) -> QuerySet[SerialUnit]:
    """Serial units are seen through their lot."""
    return SerialUnit.objects.select_related("lot").filter(lot__in=lot_list_scoped(user=user))


def audit_event_list() -> QuerySet[AuditEvent]:
    return AuditEvent.objects.select_related("content_type")  # actor_name is on the row


def audit_event_list_scoped(*, user) -> QuerySet[AuditEvent]:
    """The whole audit trail for an unrestricted scope; a restricted user sees only the events
    they are the actor of. Events carry no site or line (their object may be anything), so a
    narrower rule per object kind would be one join per kind (docs/security.md)."""
    if scope_get(user).is_unrestricted:
        return audit_event_list()
    return audit_event_list().filter(actor_id=getattr(user, "pk", None))


def lot_genealogy(
    *,
    lot_id: int,
    direction: str = "backward",
    max_depth: int = 20,
    visible: QuerySet[Lot] | None = None,
) -> list[dict]:
    """Walk the genealogy from a lot: ``backward`` to its inputs, ``forward`` to its uses.

    Breadth-first, one query per level; returns edges with their depth. With ``visible`` (the
    user's lots, ``lot_list_scoped``) the walk follows only links to visible lots: a lot
    outside the scope and whatever lies beyond it are left out of the trace.
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
        if visible is not None:
            next_end = "consumed_lot__in" if direction == "backward" else "produced_lot__in"
            links = links.filter(**{next_end: visible.values("pk")})
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
