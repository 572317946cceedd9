"""State moves of customer orders (audited, allowed-from checked) and their broadcast."""

from __future__ import annotations

from typing import Any

from mes_site.publish import broadcast, group_name
from planning.models import CustomerOrder
from traceability.services import state_transition

__all__ = ["customer_order_broadcast", "customer_order_move"]


def customer_order_broadcast(order: CustomerOrder) -> None:
    payload = {
        "id": order.pk,
        "number": order.number,
        "state": order.state,
        "line": order.line_id,
        "line_step": order.line_step,
        "line_stage": order.line_stage,
    }
    groups = [group_name("site", order.site_id)]
    if order.line_id is not None:
        groups.append(group_name("line", order.line_id))
    broadcast(groups, "customer_order", payload)


def customer_order_move(
    order: CustomerOrder,
    *,
    to_state: str,
    allowed_from: set[str],
    actor,
    action: str,
    reason: str,
    updates: dict[str, Any],
) -> CustomerOrder:
    moved = state_transition(
        model=CustomerOrder,
        pk=order.pk,
        allowed_from=allowed_from,
        to_state=to_state,
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        reason=reason[:500],
        updates=updates,
    )
    customer_order_broadcast(moved)
    return moved
