"""Reads of the traceability app."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils import timezone

from mes_site.scope import scope_filter, scope_get
from traceability.models import ApiToken, AuditEvent, Lot, SerialUnit
from traceability.selectors.trace import genealogy_node_id, trace_get


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
    visible: QuerySet[Lot] | None = None,
) -> list[dict]:
    """The links of a lot's trace (``trace.trace_get``) as edges: the consumed and the produced
    lot or serial unit, the quantity and the depth (1 for the lot's own links), nearest first.
    With ``visible`` (``lot_list_scoped``) the trace stops at lots outside the user's scope."""
    node_id = genealogy_node_id(lot_id=lot_id)
    if node_id is None:
        return []
    trace = trace_get(node_id=node_id, direction=direction, visible=visible)
    nodes = {trace.start.node_id: trace.start, **trace.nodes}
    edges = []
    for edge in trace.edges:
        near = edge.parent_id if direction == "backward" else edge.child_id
        edges.append(
            {
                "depth": nodes[near].depth + 1,
                "consumed_lot": nodes[edge.child_id].code,
                "produced_lot": nodes[edge.parent_id].code,
                "quantity": f"{edge.quantity:.3f}",
                "operation_id": edge.operation_id,
            }
        )
    edges.sort(key=lambda e: e["depth"])
    return edges


def api_token_list(*, owner) -> QuerySet[ApiToken]:
    """The tokens of ``owner``, newest first (revoked and expired ones too: they are history)."""
    return ApiToken.objects.filter(user=owner).select_related("replaced_by")


def api_token_is_active(*, token_id: int) -> bool:
    """Neither revoked nor expired (the websocket consumer re-checks its token with this)."""
    return ApiToken.objects.filter(
        pk=token_id, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).exists()
