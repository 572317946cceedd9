"""Pure checks of a bill-of-materials graph: which item contains which (no Django)."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from decimal import Decimal


def bom_cycle_path(
    contains: Mapping[Hashable, Iterable[Hashable]], *, parent: Hashable, child: Hashable
) -> list[Hashable] | None:
    """The cycle that adding "``parent`` contains ``child``" would close, else None.

    ``contains`` maps an item to the items its bills of materials list. A cycle exists when
    ``parent`` is reachable from ``child``; the path returned runs parent → child → … →
    parent (``[A, B, A]`` for "A contains B contains A"; ``[A, A]`` for an item in itself).
    Depth-first with an explicit stack, so a deep structure cannot overflow the recursion.
    """
    if parent == child:
        return [parent, parent]
    came_from: dict[Hashable, Hashable] = {}
    stack = [child]
    seen = {child}
    while stack:
        node = stack.pop()
        for nxt in contains.get(node, ()):
            if nxt == parent:
                path = [node]
                while path[-1] != child:
                    path.append(came_from[path[-1]])
                return [parent, *reversed(path), parent]
            if nxt not in seen:
                seen.add(nxt)
                came_from[nxt] = node
                stack.append(nxt)
    return None


def required_quantity(
    *, quantity_per_unit: Decimal, units: Decimal, scrap_factor: Decimal
) -> Decimal:
    """What ``units`` need of a component: per unit × units × (1 + scrap factor)."""
    if quantity_per_unit < 0 or units < 0 or scrap_factor < 0:
        raise ValueError("quantities and the scrap factor must not be negative")
    return quantity_per_unit * units * (1 + scrap_factor)
