"""Trace through the genealogy graph: backward (what went into a lot or serial unit) and
forward (where a lot or serial unit went), to any depth, in one recursive SQL query.

PostgreSQL (and SQLite) evaluate ``WITH RECURSIVE … UNION`` by discarding rows already
produced, so the walk visits each node once: a loop in the data cannot make it run forever,
and a diamond (two paths to one node) costs one visit, not one per path. The query returns the
reached nodes and the links between them; the path explanation (the shortest chain of links
from the start to each node) is read off that subgraph in Python, without further queries.

With ``visible`` (the user's lots, ``lot_list_scoped``) the walk only steps onto nodes whose
lot (a serial unit's own lot) is visible: what lies outside the scope, and beyond it, is left
out (the one scoping rule, mes_site/scope.py).
"""

from __future__ import annotations

from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cache

from django.db import connection, transaction
from django.db.models import QuerySet

from traceability.models import GenealogyLink, GenealogyNode, Lot, SerialUnit

DIRECTIONS = ("backward", "forward")


@dataclass(frozen=True)
class TraceNode:
    node_id: int
    kind: str  # "lot" or "serial"
    code: str  # the lot code or the serial number
    item_code: str
    status: str
    lot_id: int  # the lot itself, or the serial unit's lot
    lot_code: str
    serial_unit_id: int | None
    supplier_lot_code: str
    depth: int = 0
    path: tuple[int, ...] = ()  # node ids from the start to this node

    @property
    def label(self) -> str:
        return f"{self.kind} {self.code} ({self.item_code})"


@dataclass(frozen=True)
class TraceEdge:
    link_id: int
    parent_id: int
    child_id: int
    quantity: Decimal
    operation_id: int | None
    method: str
    linked_at: datetime


@dataclass
class Trace:
    start: TraceNode
    direction: str
    nodes: dict[int, TraceNode] = field(default_factory=dict)  # without the start
    edges: list[TraceEdge] = field(default_factory=list)

    def explain(self, node_id: int) -> str:
        """The chain of links from the start to a node, e.g. ``serial SN-1 ← lot L-7 ← …``."""
        everything = {self.start.node_id: self.start, **self.nodes}
        arrow = " ← " if self.direction == "backward" else " → "
        return arrow.join(everything[step].label for step in everything[node_id].path)


@cache
def _tables() -> dict[str, str]:
    quote = connection.ops.quote_name
    return {
        "link": quote(GenealogyLink._meta.db_table),
        "node": quote(GenealogyNode._meta.db_table),
        "lot": quote(Lot._meta.db_table),
        "serial": quote(SerialUnit._meta.db_table),
        "item": quote(Lot._meta.get_field("item").related_model._meta.db_table),
    }


@contextmanager
def _trace_cursor():
    """A cursor for a trace query. On PostgreSQL, JIT compilation is off for it: the planner
    cannot know how few rows a walk reaches, and its cost estimate would buy ~0.5 s of JIT
    compilation for a query that runs in milliseconds (``SET LOCAL``: this transaction only)."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL jit = off")
        yield cursor


def _ends(direction: str) -> tuple[str, str]:
    """The link's column at the node already reached and at the next node."""
    return ("parent_id", "child_id") if direction == "backward" else ("child_id", "parent_id")


def _walk_sql(
    direction: str,
    visible: QuerySet[Lot] | None,
    start_sql: str = "SELECT CAST(%s AS bigint) AS id",
) -> tuple[str, list]:
    """The recursive CTE ``reach``: one row per node reached and the link it was reached by
    (the start's rows have no link), carrying the link's columns so that nothing has to join
    the link table again. ``start_sql`` yields the start node ids as ``id``; its parameters
    come first. UNION keeps each (node, link) pair once: the walk ends on loops."""
    if direction not in DIRECTIONS:
        raise ValueError("direction must be 'backward' or 'forward'")
    here, there = _ends(direction)
    t = _tables()
    params: list = []
    scope_join = scope_where = ""
    if visible is not None:
        visible_sql, visible_params = visible.values("pk").query.sql_with_params()
        scope_join = (
            f" JOIN {t['node']} vn ON vn.id = l.{there}"
            f" LEFT JOIN {t['serial']} vs ON vs.id = vn.serial_unit_id"
        )
        scope_where = f" WHERE COALESCE(vn.lot_id, vs.lot_id) IN ({visible_sql})"
        params.extend(visible_params)
    sql = (
        "WITH RECURSIVE reach(node_id, link_id, parent_id, child_id, quantity, operation_id,"  # noqa: S608 (table names from the models)
        " method, linked_at) AS ("
        " SELECT s.id, CAST(NULL AS bigint), CAST(NULL AS bigint), CAST(NULL AS bigint),"
        " CAST(NULL AS numeric), CAST(NULL AS bigint), CAST(NULL AS varchar),"
        f" CAST(NULL AS timestamp with time zone) FROM ({start_sql}) s"
        " UNION"
        f" SELECT l.{there}, l.id, l.parent_id, l.child_id, CAST(l.quantity AS numeric),"
        " CAST(l.operation_id AS bigint), CAST(l.method AS varchar), l.linked_at"
        f" FROM reach r JOIN {t['link']} l ON l.{here} = r.node_id"
        f"{scope_join}{scope_where}"
        ")"
    )
    return sql, params


def trace_reachable_node_ids(
    *, node_id: int, direction: str, visible: QuerySet[Lot] | None = None
) -> set[int]:
    """Every node reached from ``node_id`` (itself included): one query."""
    sql, params = _walk_sql(direction, visible)
    with _trace_cursor() as cursor:
        cursor.execute(f"{sql} SELECT node_id FROM reach", [node_id, *params])  # noqa: S608
        return {row[0] for row in cursor.fetchall()}


NODE_COLUMNS = (
    "CASE WHEN n.lot_id IS NULL THEN 'serial' ELSE 'lot' END, COALESCE(su.serial, lt.code),"
    " it.code, COALESCE(su.status, lt.status), lt.id, lt.code, su.id, lt.supplier_lot_code"
)


def _node_columns(columns: str = NODE_COLUMNS) -> tuple[str, str]:
    """(select list, joins) giving ``columns`` of the node ``r.node_id``: its lot or serial
    unit, its lot, its item.

    On PostgreSQL a LATERAL subquery (``OFFSET 0`` keeps the planner from flattening it)
    looks each reached node up by primary key: the planner cannot know how few nodes a walk
    reaches and would otherwise hash whole tables for a handful of rows."""
    t = _tables()
    joins = (
        f" LEFT JOIN {t['serial']} su ON su.id = n.serial_unit_id"
        f" JOIN {t['lot']} lt ON lt.id = COALESCE(n.lot_id, su.lot_id)"
        f" JOIN {t['item']} it ON it.id = lt.item_id"
    )
    if connection.vendor == "postgresql":
        return "x.*", (
            f" CROSS JOIN LATERAL (SELECT {columns} FROM {t['node']} n{joins}"  # noqa: S608
            " WHERE n.id = r.node_id OFFSET 0) x"
        )
    return columns, f" JOIN {t['node']} n ON n.id = r.node_id{joins}"


def trace_get(*, node_id: int, direction: str, visible: QuerySet[Lot] | None = None) -> Trace:
    """The trace from one node: the nodes reached (with depth and shortest path) and the links
    between them. One query, whatever the depth."""
    walk, params = _walk_sql(direction, visible)
    select, joins = _node_columns()
    with _trace_cursor() as cursor:
        cursor.execute(
            f"{walk} SELECT r.node_id, r.link_id, r.parent_id, r.child_id, r.quantity,"  # noqa: S608
            f" r.operation_id, r.method, r.linked_at, {select} FROM reach r{joins}",
            [node_id, *params],
        )
        rows = cursor.fetchall()
    labels = {row[0]: (row[0], *row[8:]) for row in rows}
    edges = sorted(
        (TraceEdge(*row[1:8]) for row in rows if row[1] is not None),
        key=lambda edge: (edge.linked_at, edge.link_id),
    )
    paths = _shortest_paths(node_id, edges, direction)
    nodes = {
        nid: TraceNode(*labels[nid], depth=len(path) - 1, path=tuple(path))
        for nid, path in paths.items()
        if nid in labels
    }
    start = nodes.pop(node_id)
    return Trace(start=start, direction=direction, nodes=nodes, edges=edges)


def _shortest_paths(start: int, edges: list[TraceEdge], direction: str) -> dict[int, list[int]]:
    following: dict[int, list[int]] = {}
    for edge in edges:
        a, b = (
            (edge.parent_id, edge.child_id)
            if direction == "backward"
            else (edge.child_id, edge.parent_id)
        )
        following.setdefault(a, []).append(b)
    paths = {start: [start]}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in following.get(node, ()):
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    return paths


def genealogy_node_id(
    *, lot_id: int | None = None, serial_unit_id: int | None = None
) -> int | None:
    """The node of a lot or serial unit; None when it never took part in a link."""
    lookup = {"lot_id": lot_id} if lot_id is not None else {"serial_unit_id": serial_unit_id}
    return GenealogyNode.objects.filter(**lookup).values_list("id", flat=True).first()


def trace_node_payload(node: TraceNode, trace: Trace) -> dict:
    return {
        "node": node.node_id,
        "kind": node.kind,
        "code": node.code,
        "item": node.item_code,
        "status": node.status,
        "lot": node.lot_code,
        "supplier_lot_code": node.supplier_lot_code,
        "depth": node.depth,
        "via": node.path[-2] if len(node.path) > 1 else None,
        "path": trace.explain(node.node_id) if node.depth else node.label,
    }


def trace_payload(trace: Trace) -> dict:
    """A trace as JSON-able data: the reached nodes nearest first, each with its path, and the
    links (``parent`` made from ``child``)."""
    nodes = sorted(trace.nodes.values(), key=lambda n: (n.depth, n.code))
    return {
        "direction": trace.direction,
        "nodes": [trace_node_payload(node, trace) for node in nodes],
        "links": [
            {
                "parent": edge.parent_id,
                "child": edge.child_id,
                "quantity": f"{edge.quantity:.3f}",
                "operation": edge.operation_id,
                "method": edge.method,
                "linked_at": edge.linked_at.isoformat(),
            }
            for edge in trace.edges
        ],
    }


def trace_both_ways(
    *, lot_id: int | None = None, serial_unit_id: int | None = None, visible=None
) -> dict:
    """Backward and forward from a lot or serial unit (one that never took part in a link has
    empty traces)."""
    node_id = genealogy_node_id(lot_id=lot_id, serial_unit_id=serial_unit_id)
    if node_id is None:  # never consumed nor made from anything: nothing to trace
        if serial_unit_id is not None:
            unit = SerialUnit.objects.select_related("lot__item").get(pk=serial_unit_id)
            kind, code, status, lot = "serial", unit.serial, unit.status, unit.lot
        else:
            lot = Lot.objects.select_related("item").get(pk=lot_id)
            kind, code, status = "lot", lot.code, lot.status
        start = {
            "node": None, "kind": kind, "code": code, "item": lot.item.code, "status": status,
            "lot": lot.code, "supplier_lot_code": lot.supplier_lot_code, "depth": 0, "via": None,
            "path": f"{kind} {code} ({lot.item.code})",
        }  # fmt: skip
        empty = {"nodes": [], "links": []}
        return {
            "start": start,
            "backward": {"direction": "backward", **empty},
            "forward": {"direction": "forward", **empty},
        }
    backward = trace_get(node_id=node_id, direction="backward", visible=visible)
    forward = trace_get(node_id=node_id, direction="forward", visible=visible)
    return {
        "start": trace_node_payload(backward.start, backward),
        "backward": trace_payload(backward),
        "forward": trace_payload(forward),
    }


@dataclass(frozen=True)
class ReachedNode:
    node_id: int
    kind: str
    code: str
    item_code: str
    status: str
    lot_id: int
    lot_code: str
    serial_unit_id: int | None
    supplier_lot_code: str
    item_kind: str
    lot_quantity: Decimal
    lot_status: str


def trace_forward_from_supplier_lot(
    *, supplier_lot_code: str, visible: QuerySet[Lot] | None = None
) -> list[ReachedNode]:
    """Every lot and serial unit a supplier's batch went into, at any depth, the batch's own
    lots included: one recursive query from all the lots with that supplier lot code."""
    t = _tables()
    start = (
        f"SELECT sn.id AS id FROM {t['node']} sn"  # noqa: S608
        f" JOIN {t['lot']} sl ON sl.id = sn.lot_id WHERE sl.supplier_lot_code = %s"
    )
    start_params: list = [supplier_lot_code]
    if visible is not None:
        visible_sql, visible_params = visible.values("pk").query.sql_with_params()
        start += f" AND sl.id IN ({visible_sql})"
        start_params.extend(visible_params)
    walk, params = _walk_sql("forward", visible, start_sql=start)
    select, joins = _node_columns(f"{NODE_COLUMNS}, it.kind, lt.quantity, lt.status")
    with _trace_cursor() as cursor:
        cursor.execute(
            f"{walk} SELECT r.node_id, {select}"  # noqa: S608
            f" FROM (SELECT DISTINCT node_id FROM reach) r{joins}",
            [*start_params, *params],
        )
        return [ReachedNode(*row) for row in cursor.fetchall()]
