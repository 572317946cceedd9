"""Traceability benchmark: trace and recall on 1,000,000 genealogy links.

Run from the repository root (about 3–5 minutes on 2 shared cores, most of it the load):
  .venv/bin/python -m bench.traceability.bench_trace \
      --database-url postgres://postgres@localhost:5432/mes_bench_trace [--samples 500]

Synthetic genealogy, built in SQL (generate_series) in a database of its own:
- 10 levels of serial units, 10,000 per level (100,000 serials), 100 produced lots per level;
  level 9 is the finished product: 30 % shipped (to 50 customer orders), 60 % in stock at 5
  locations, 10 % in process;
- every serial of level k ≥ 1 contains one serial of level k−1 (a chain 10 deep) and 9
  fastener lots out of 2,000 supplier lots; every serial of level 0 contains 10 lots; the
  first 1,000 serials of level 0 all contain supplier lot ``SUPPLIER-RECALL``, which therefore
  reaches 10,000 serials (1,000 chains of 10);
- 90,000 serial→serial links + 910,000 lot→serial links = 1,000,000 links, 102,000+ nodes.

Measured: backward and forward trace (``trace_get``: the recursive CTE, the node labels, the
paths) of random nodes, p50/p95/p99/max; the recall report of ``SUPPLIER-RECALL``
(``recall_report``) and its CSV rows. Targets (issue 15): trace p99 < 200 ms, recall < 2 s.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from bench.django_setup import configure

LEVELS, PER_LEVEL, LOTS_PER_LEVEL, SUPPLIER_LOTS = 10, 10_000, 100, 2_000


def _load(cursor, items: dict[str, int], site_id: int, area_id: int) -> None:
    cursor.execute(
        "TRUNCATE planning_shipment, inventory_stock, traceability_genealogylink,"
        " traceability_genealogynode, traceability_serialunit RESTART IDENTITY CASCADE"
    )
    cursor.execute("DELETE FROM traceability_lot")
    cursor.execute("DELETE FROM production_customerorder WHERE number LIKE 'BENCH-CO-%'")
    fastener = items["fastener"]
    cursor.execute(
        "INSERT INTO traceability_lot (item_id, code, quantity, status, origin, supplier,"
        " supplier_lot_code, created_at)"
        " SELECT %s, 'SUP-LOT-' || g, 1000000000, 'available', 'received', 'bench',"
        " 'SUPPLIER-' || g, now() FROM generate_series(0, %s) g",
        [fastener, SUPPLIER_LOTS - 1],
    )
    cursor.execute(
        "INSERT INTO traceability_lot (item_id, code, quantity, status, origin, supplier,"
        " supplier_lot_code, created_at) VALUES (%s, 'SUP-LOT-RECALL', 1000000000,"
        " 'available', 'received', 'bench', 'SUPPLIER-RECALL', now())",
        [fastener],
    )
    for level in range(LEVELS):
        cursor.execute(
            "INSERT INTO traceability_lot (item_id, code, quantity, status, origin, supplier,"
            " supplier_lot_code, created_at)"
            " SELECT %s, 'L' || %s || '-LOT-' || j, 100, 'available', 'produced', '', '', now()"
            " FROM generate_series(0, %s) j",
            [items[f"level{level}"], level, LOTS_PER_LEVEL - 1],
        )
    # serials: level 9 shipped (i % 10 < 3), in process (i >= 9000) or completed (in stock)
    cursor.execute(
        "INSERT INTO traceability_serialunit (lot_id, serial, status, created_at)"
        " SELECT l.id, 'SN-' || k || '-' || i, CASE WHEN k < 9 THEN 'consumed'"
        " WHEN i >= 9000 THEN 'in_process' WHEN i %% 10 < 3 THEN 'shipped' ELSE 'completed' END,"
        " now() FROM generate_series(0, 9) k CROSS JOIN generate_series(0, %s) i"
        " JOIN traceability_lot l ON l.code = 'L' || k || '-LOT-' || (i / %s)",
        [PER_LEVEL - 1, PER_LEVEL // LOTS_PER_LEVEL],
    )
    cursor.execute(
        "INSERT INTO traceability_genealogynode (lot_id) SELECT id FROM traceability_lot"
    )
    cursor.execute(
        "INSERT INTO traceability_genealogynode (serial_unit_id)"
        " SELECT id FROM traceability_serialunit"
    )
    cursor.execute(
        "CREATE TEMP TABLE serial_node AS SELECT split_part(s.serial, '-', 2)::int AS k,"
        " split_part(s.serial, '-', 3)::int AS i, n.id AS node_id"
        " FROM traceability_serialunit s JOIN traceability_genealogynode n"
        " ON n.serial_unit_id = s.id"
    )
    cursor.execute("CREATE UNIQUE INDEX ON serial_node (k, i)")
    cursor.execute(
        "CREATE TEMP TABLE lot_node AS SELECT CASE WHEN l.code = 'SUP-LOT-RECALL' THEN -1"
        " ELSE split_part(l.code, '-', 3)::int END AS g, n.id AS node_id"
        " FROM traceability_lot l JOIN traceability_genealogynode n ON n.lot_id = l.id"
        " WHERE l.code LIKE 'SUP-LOT-%'"
    )
    cursor.execute("CREATE UNIQUE INDEX ON lot_node (g)")
    link_columns = (
        "INSERT INTO traceability_genealogylink (parent_id, child_id, child_is_serial,"
        " quantity, method, linked_at)"
    )
    cursor.execute(
        f"{link_columns} SELECT p.node_id, c.node_id, true, 1, 'scan', now()"
        " FROM serial_node p JOIN serial_node c ON c.k = p.k - 1 AND c.i = p.i"
    )
    cursor.execute(
        f"{link_columns} SELECT s.node_id, l.node_id, false, 1, 'backflush', now()"
        " FROM serial_node s CROSS JOIN generate_series(0, 8) j"
        " JOIN lot_node l ON l.g = (s.i * 7 + s.k * 131 + j * 197) %% %s",
        [SUPPLIER_LOTS],
    )
    cursor.execute(
        f"{link_columns} SELECT s.node_id, l.node_id, false, 1, 'backflush', now()"
        " FROM serial_node s JOIN lot_node l ON l.g = CASE WHEN s.i < 1000 THEN -1"
        " ELSE (s.i * 7 + 9 * 197) %% %s END WHERE s.k = 0",
        [SUPPLIER_LOTS],
    )
    # where the finished lots are: 60 in stock at FG-0..4, shipments of the shipped serials
    cursor.execute(
        "INSERT INTO inventory_stock (lot_id, location_id, quantity)"
        " SELECT l.id, loc.id, 70 FROM traceability_lot l"
        " JOIN inventory_location loc ON loc.code = 'FG-' || (split_part(l.code, '-', 3)::int % 5)"
        " WHERE l.code LIKE 'L9-LOT-%' AND split_part(l.code, '-', 3)::int < 90"
    )
    cursor.execute(
        "INSERT INTO production_customerorder (number, site_id, area_id, state, line_step,"
        " priority, received_at, dispatch_explanation, rework_count, line_stage,"
        " line_last_event) SELECT 'BENCH-CO-' || g, %s, %s, 'completed', '', 5, now(), '{}',"
        " 0, '', '' FROM generate_series(0, 49) g",
        [site_id, area_id],
    )
    cursor.execute(
        "INSERT INTO planning_shipment (customer_order_id, lot_id, serial_unit_id, quantity,"
        " shipped_at) SELECT co.id, s.lot_id, s.id, 1, now()"
        " FROM traceability_serialunit s JOIN production_customerorder co"
        " ON co.number = 'BENCH-CO-' || (split_part(s.serial, '-', 3)::int % 50)"
        " WHERE s.status = 'shipped'"
    )
    cursor.execute("DROP TABLE serial_node, lot_node")
    cursor.execute("ANALYZE")


def _plant():
    from inventory.models import Item, Location
    from production.models import Area, Enterprise, Site

    enterprise, _ = Enterprise.objects.get_or_create(code="bench", defaults={"name": "Bench"})
    site, _ = Site.objects.get_or_create(
        enterprise=enterprise, code="bench-site", defaults={"name": "Bench site"}
    )
    area, _ = Area.objects.get_or_create(site=site, code="bench-area", defaults={"name": "A"})
    for index in range(5):
        Location.objects.get_or_create(site=site, code=f"FG-{index}", defaults={"name": "FG"})
    items = {"fastener": Item.objects.get_or_create(code="BENCH-M8", name="M8")[0].pk}
    for level in range(LEVELS):
        kind = "product" if level == LEVELS - 1 else "component"
        items[f"level{level}"] = Item.objects.get_or_create(
            code=f"BENCH-L{level}", defaults={"name": f"Level {level}", "kind": kind}
        )[0].pk
    return items, site.pk, area.pk


def _percentiles(values_ms: list[float]) -> str:
    ordered = sorted(values_ms)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return (
        f"p50 {at(0.5):.1f} ms, p95 {at(0.95):.1f} ms, p99 {at(0.99):.1f} ms, "
        f"max {ordered[-1]:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url", default="postgres://postgres@localhost:5432/mes_bench_trace"
    )
    parser.add_argument("--redis-url", default="redis://localhost:6379/15")
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--skip-load", action="store_true")
    args = parser.parse_args()
    configure(args.database_url, args.redis_url)

    from django.db import connection, transaction

    from planning.selectors.recall import recall_report
    from traceability.selectors.trace import trace_get

    if not args.skip_load:
        items, site_id, area_id = _plant()
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            _load(cursor, items, site_id, area_id)
        print(f"load: {time.perf_counter() - started:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM traceability_genealogylink")
        links = cursor.fetchone()[0]
        cursor.execute("SELECT count(*), count(serial_unit_id) FROM traceability_genealogynode")
        nodes, serial_nodes = cursor.fetchone()
        cursor.execute("SELECT min(id), max(id) FROM traceability_genealogynode")
        low, high = cursor.fetchone()
    print(f"{links:,} links, {nodes:,} nodes ({serial_nodes:,} serial units)")

    chooser = random.Random(args.seed)
    sample = [chooser.randint(low, high) for _ in range(args.samples)]
    for direction in ("backward", "forward"):
        timings, reached = [], []
        for node_id in sample:
            started = time.perf_counter()
            trace = trace_get(node_id=node_id, direction=direction)
            timings.append((time.perf_counter() - started) * 1000)
            reached.append(len(trace.nodes))
        print(
            f"trace {direction} of {args.samples} random nodes: {_percentiles(timings)}; "
            f"nodes reached median {statistics.median(reached):.0f}, max {max(reached)}"
        )
    recall_ms = []
    for _ in range(5):
        started = time.perf_counter()
        report = recall_report(supplier_lot_code="SUPPLIER-RECALL")
        rows = [(row.code, row.place, row.quantity) for row in report.rows]
        recall_ms.append((time.perf_counter() - started) * 1000)
    runs = ", ".join(f"{t:.0f}" for t in recall_ms)
    print(
        f"recall of SUPPLIER-RECALL: {report.reached_count:,} nodes reached, "
        f"{report.finished_serial_count:,} finished serials, {len(rows):,} rows, "
        f"{len(report.quantity_by_place)} places; runs {runs} ms"
    )


if __name__ == "__main__":
    main()
