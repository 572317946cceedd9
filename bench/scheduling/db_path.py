"""Scheduling, dispatch and line orders through the database (the Django services).

Run from the repository root (PostgreSQL and Redis must be up):

    .venv/bin/python -m bench.scheduling.db_path [--operations 1000] [--orders 200]

It uses its own database (``--database-url``, default ``mes_schedbench``; created and
migrated if missing, emptied of plans, actions, orders and work orders on each run) and
Redis db 6 by default. Nothing else runs: the schedule runs execute in this process
(``schedule_run_execute``), as the Celery task would.

1. The demo plant (``demo_plant_load``): the first plan (every operation added), the same
   site again (no change), then CNC_Spindle_7 degrades (a health snapshot in anomaly and a
   predictive maintenance order) — a plan whose reroutes go through the guardrails.
2. A synthetic site with ``--operations`` operations (work orders of 4 steps, 20 machines in
   4 capability groups on 2 lines, two machines in anomaly, one maintenance window): first
   plan, unchanged plan, and the plan after a machine goes down (its work rerouted).
3. ``--orders`` customer orders on the demo's two lines: create and dispatch online (one
   service call each), and every order's station events until complete (9 per order).

Each run prints the phases of the job row (load, schedule, improvement, store incl. the
proposed actions) and the number of SQL queries.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import timedelta

from bench.django_setup import configure

DEFAULT_DATABASE_URL = "postgres://postgres@localhost:5432/mes_schedbench"
DEFAULT_REDIS_URL = "redis://localhost:6379/6"


def reset() -> None:
    from autonomy import models as autonomy_models
    from maintenance.models import HealthSnapshot, MaintenanceWorkOrder
    from planning import models as planning_models
    from production import models as m

    autonomy_models.ProposedAction.objects.all().delete()
    planning_models.ScheduleRun.objects.all().delete()
    planning_models.CustomerOrder.objects.all().delete()
    HealthSnapshot.objects.all().delete()
    MaintenanceWorkOrder.objects.all().delete()
    m.EquipmentStateInterval.objects.all().delete()
    m.WorkOrder.objects.all().delete()


def run_once(site_id: int, label: str, trigger: str = "on_demand") -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from planning.models import ScheduleRun
    from planning.services.schedule_runs import schedule_run_execute, schedule_run_request

    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        run = schedule_run_request(site_id=site_id, trigger=trigger, detail=label)
        outcome = schedule_run_execute(run_id=run.pk)
    wall_ms = (time.perf_counter() - started) * 1000.0
    run = ScheduleRun.objects.get(pk=run.pk)
    timings = run.timings
    counts = (run.inputs or {}).get("change_counts", {})
    print(
        f"  {label:<38} {wall_ms:8.1f} ms  (load {timings.get('load_ms', 0):6.1f}, schedule "
        f"{timings.get('schedule_ms', 0):6.1f}, improve {timings.get('improve_ms', 0):6.1f}, "
        f"store {timings.get('store_ms', 0):7.1f})  {run.operation_count} ops, "
        f"{len(queries.captured_queries)} queries, {outcome}, changes {counts or '{}'}"
    )


def degrade(equipment, now) -> None:
    from maintenance.models import HealthSnapshot, MaintenanceWorkOrder

    HealthSnapshot.objects.create(
        equipment=equipment,
        ts=now - timedelta(minutes=1),
        state="assessed",
        alpha=0.9,
        degradation_slope_per_h=0.04,
        rul_state="estimated",
        rul_p10_h=12.0,
        is_anomaly=True,
        recommendation="critical",
    )
    MaintenanceWorkOrder.objects.create(
        number=f"MWO-BENCH-{equipment.pk}",
        equipment=equipment,
        kind="predictive",
        state="requested",
        title="bench",
        requested_at=now,
        window_start_at=now,
        window_end_at=now + timedelta(hours=10),
        estimated_duration_h=2.0,
    )


def demo_runs() -> None:
    from django.utils import timezone

    from production.models import Equipment, Site
    from workers.demo_plant import demo_plant_load

    demo_plant_load()
    site = Site.objects.get(code="plant1")
    print("demo plant (18 operations of 6 work orders, 12 machines)")
    run_once(site.pk, "first plan")
    run_once(site.pk, "same site again")
    degrade(Equipment.objects.get(code="CNC_Spindle_7"), timezone.now())
    run_once(site.pk, "CNC_Spindle_7 degrades", trigger="health_change")


def synthetic_site(operation_count: int, seed: int = 7) -> int:
    from django.utils import timezone

    from production import models as m
    from production import services

    rng = random.Random(seed)
    enterprise, _ = m.Enterprise.objects.get_or_create(code="bench", defaults={"name": "Bench"})
    site, _ = m.Site.objects.get_or_create(
        enterprise=enterprise, code="synthetic", defaults={"name": "Synthetic site"}
    )
    area, _ = m.Area.objects.get_or_create(site=site, code="shop", defaults={"name": "Shop"})
    capabilities = [
        m.Capability.objects.get_or_create(code=f"bench_c{index}", defaults={"name": "c"})[0]
        for index in range(4)
    ]
    machines = []
    for line_number in range(2):
        line, _ = m.Line.objects.get_or_create(
            area=area, code=f"L{line_number}", defaults={"name": f"Line {line_number}"}
        )
        for machine_number in range(10):
            cell, _ = m.Cell.objects.get_or_create(
                line=line, code=f"cell{machine_number}", defaults={"name": "cell"}
            )
            machine, _ = m.Equipment.objects.get_or_create(
                cell=cell, code=f"B{line_number}_{machine_number}", defaults={"name": "machine"}
            )
            machine.capabilities.set([capabilities[machine_number % 4]])
            machines.append(machine)
    products = []
    for index in range(5):
        product, created = m.Product.objects.get_or_create(
            code=f"BENCH_P{index}", defaults={"name": "bench product"}
        )
        if created:
            routing = m.Routing.objects.create(product=product, version="1")
            for step in range(4):
                m.OperationTemplate.objects.create(
                    routing=routing,
                    sequence=(step + 1) * 10,
                    name=f"step {step + 1}",
                    capability=capabilities[(index + step) % 4],
                    planned_run_time_per_unit_s=rng.uniform(20.0, 90.0),
                    setup_time_s=rng.choice([0.0, 300.0]),
                    force_kn=rng.choice([2.0, 6.0, 14.0]),
                )
        products.append(product)
    now = timezone.now()
    for number in range(operation_count // 4):
        work_order = services.work_order_create(
            number=f"BENCH-{number:05d}",
            product=products[number % 5],
            quantity=rng.randint(2, 12),
            due_at=now + timedelta(hours=rng.uniform(2.0, 72.0)),
            site=site,
            line=None,
        )
        services.work_order_release(work_order_id=work_order.pk, actor=None)
    for machine in machines[:2]:
        degrade(machine, now)
    return site.pk


def synthetic_runs(operation_count: int) -> None:
    from django.utils import timezone

    from autonomy.models import ProposedAction
    from planning.selectors.whatif import whatif_outage, whatif_plan_change
    from production.models import Equipment, EquipmentStateInterval

    site_id = synthetic_site(operation_count)
    print(f"synthetic site ({operation_count} operations, 20 machines)")
    run_once(site_id, "first plan")
    run_once(site_id, "same site again")
    machine = Equipment.objects.get(code="B1_3")
    EquipmentStateInterval.objects.create(equipment=machine, start_at=timezone.now(), state="down")
    before = ProposedAction.objects.count()
    run_once(site_id, "a machine goes down", trigger="equipment_state")
    decisions = ProposedAction.objects.order_by("pk")[before:]
    for action in decisions:
        moved = sum(1 for item in action.payload.get("operations", []) if item.get("is_move"))
        print(
            f"  decision {action.pk} ({action.kind}, {action.status}): {moved} moved, "
            f"{len(action.payload.get('operations', [])) - moved} resequenced — "
            f"{action.explanation[:160]}"
        )
    print(f"  {len(decisions)} decision(s) for the machine going down")
    if decisions:
        started = time.perf_counter()
        forecast = whatif_plan_change(action=decisions[0])
        print(
            f"  what-if of that plan change        {(time.perf_counter() - started) * 1000:7.1f} ms"
            f"  (makespan {forecast['current']['makespan_h']} h → "
            f"{forecast['proposed']['makespan_h']} h)"
        )
    other = Equipment.objects.get(code="B1_4")
    started = time.perf_counter()
    forecast = whatif_outage(site_id=site_id, equipment_id=other.pk, hours=4.0)
    print(
        f"  what-if {other.code} down 4 h          {(time.perf_counter() - started) * 1000:7.1f} ms"
        f"  (makespan {forecast['current']['makespan_h']} h → "
        f"{forecast['proposed']['makespan_h']} h, tardiness "
        f"{forecast['current']['total_tardiness_h']} h → "
        f"{forecast['proposed']['total_tardiness_h']} h)"
    )


def dispatch_and_line_orders(order_count: int) -> None:
    from django.utils import timezone

    from planning.models import CustomerOrder
    from planning.services.dispatch import customer_order_create
    from planning.services.line_orders import StationEventIn, line_order_events_ingest
    from production.models import Area, Equipment

    area = Area.objects.get(code="assembly", site__code="plant1")
    rng = random.Random(11)
    timings = []
    for number in range(order_count):
        parts = {code: rng.randint(1, 4) for code in rng.sample(["PART_A", "PART_B", "PART_C"], 2)}
        started = time.perf_counter()
        customer_order_create(number=f"BENCH-CO-{number:05d}", area_id=area.pk, parts=parts)
        timings.append(time.perf_counter() - started)
    states = dict.fromkeys(["dispatched", "backlog"], 0)
    for state in CustomerOrder.objects.values_list("state", flat=True):
        states[state] = states.get(state, 0) + 1
    print(f"dispatch: {order_count} customer orders on MPS1/MPS2 (create + online dispatch)")
    print(
        f"  per order median {statistics.median(timings) * 1000:6.2f} ms, p95 "
        f"{sorted(timings)[int(0.95 * len(timings))] * 1000:6.2f} ms; {states}"
    )
    stations = {
        line_code: Equipment.objects.get(code=f"{line_code}_storage")
        for line_code in ("MPS1", "MPS2")
    }
    steps = [
        "order_start",
        "warehouse_locate",
        "classification",
        "distribute_pallet",
        "machining",
        "quality_control",
        "storage",
        "update_stock",
        "complete",
    ]
    total_events = 0
    total_s = 0.0
    rounds = 0
    moment = timezone.now()
    while True:
        active = list(
            CustomerOrder.objects.filter(state="dispatched").select_related("line").order_by("pk")
        )
        if not active:
            break
        events = []
        for order in active:
            for step in steps:
                moment += timedelta(milliseconds=10)
                data = {"station": step, "order": order.number}
                if step == "quality_control":
                    data["result"] = "pass"
                events.append(
                    StationEventIn(stations[order.line.code].uns_path, moment, "station", data)
                )
        started = time.perf_counter()
        result = line_order_events_ingest(events=events)
        total_s += time.perf_counter() - started
        total_events += len(events)
        rounds += 1
        assert not result.rejected, result.rejected[:3]
    print(
        f"line orders: {total_events} station events in {rounds} batches (completion frees "
        f"capacity, the backlog is dispatched): {total_events / total_s:7.0f} events/s, "
        f"{total_s / total_events * 1000:5.2f} ms per event incl. stock booking"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--operations", type=int, default=1000)
    parser.add_argument("--orders", type=int, default=200)
    arguments = parser.parse_args()
    configure(arguments.database_url, arguments.redis_url)
    reset()
    demo_runs()
    synthetic_runs(arguments.operations)
    dispatch_and_line_orders(arguments.orders)


if __name__ == "__main__":
    main()
