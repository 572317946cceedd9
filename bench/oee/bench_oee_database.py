"""OEE through the database: ingest throughput, live reflection, recompute and snapshots.

Run from the repository root (PostgreSQL and Redis must be up):

    .venv/bin/python -m bench.oee.bench_oee_database [--equipment 100] [--batch 500]

It uses its own database (``--database-url``, default ``mes_oeebench``; created and migrated
if missing, its monitoring tables emptied on each run) and Redis db 8 by default.

Workload: one site (Europe/Berlin) with 10 equipment per line, three 8-hour shifts with a
30-minute break each; one 8-hour shift of synthetic data per equipment — 50–200 state changes
(the mix of the pure benchmark: 55 % producing, stops with and without reasons, setup, idle,
starved, blocked, unknown) and a count event every ~60 s. Every equipment runs an operation
(PRU 20 s), so counts carry a planned run time. Events go through
``equipment_events_ingest`` in time-ordered batches, in autocommit, so each batch's
after-commit work (live accumulators, the rate-limited line broadcast) is measured with it.

Figures: events/s of ingest (first delivery, redelivery, late events); the cost of one
event in the live accumulators (``LiveOee.apply``); the time until a new event shows in the
current OEE (same process, warm; and another process that must rebuild); a full recompute
of the shift from the database; closing the shift (snapshots of every scope).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime, timedelta

import numpy as np

from bench.django_setup import configure

DEFAULT_DATABASE_URL = "postgres://postgres@localhost:5432/mes_oeebench"
DEFAULT_REDIS_URL = "redis://localhost:6379/8"
SHIFT_START = datetime(2026, 6, 16, 4, tzinfo=UTC)  # 06:00 CEST
SHIFT_END = SHIFT_START + timedelta(hours=8)
STATE_CHOICES = [
    ("producing", None),
    ("setup", None),
    ("down", None),
    ("down", "BREAKDOWN"),
    ("down", "NO_ORDER"),
    ("idle", None),
    ("starved", None),
    ("blocked", None),
    ("unknown", None),
]
STATE_WEIGHTS = [0.55, 0.03, 0.18, 0.06, 0.03, 0.05, 0.05, 0.03, 0.02]


def plant_prepare(equipment_count: int) -> list:
    """A fresh bench plant: lines of 10 equipment, a calendar, reasons, running operations."""
    from datetime import time as local_time

    from django.db import connection

    from production import models as m
    from production.models.monitoring import EquipmentStateEvent, OeeRecomputeRequest

    with connection.cursor() as cursor:
        for model in (
            EquipmentStateEvent,
            m.EquipmentStateInterval,
            m.ProductionCount,
            m.OeeSnapshot,
            OeeRecomputeRequest,
            m.Alert,
        ):
            cursor.execute(f"TRUNCATE {model._meta.db_table} CASCADE")
    enterprise, _ = m.Enterprise.objects.get_or_create(code="bench", defaults={"name": "Bench"})
    site, _ = m.Site.objects.update_or_create(
        enterprise=enterprise,
        code="benchsite",
        defaults={"name": "Bench site", "time_zone": "Europe/Berlin"},
    )
    area, _ = m.Area.objects.get_or_create(site=site, code="area", defaults={"name": "Area"})
    capability, _ = m.Capability.objects.get_or_create(code="bench", defaults={"name": "Bench"})
    product, _ = m.Product.objects.get_or_create(code="BENCH", defaults={"name": "Bench part"})
    routing, _ = m.Routing.objects.get_or_create(product=product, version="1")
    calendar, _ = m.ShiftCalendar.objects.get_or_create(
        site=site, line=None, defaults={"name": "Three shifts"}
    )
    for name, start, end, break_start in [
        ("Early", 6, 14, 10),
        ("Late", 14, 22, 18),
        ("Night", 22, 6, 2),
    ]:
        shift, _ = m.Shift.objects.update_or_create(
            calendar=calendar,
            name=name,
            defaults={"start_time": local_time(start), "end_time": local_time(end)},
        )
        m.ShiftBreak.objects.get_or_create(
            shift=shift,
            name="Break",
            defaults={
                "start_time": local_time(break_start),
                "end_time": local_time(break_start, 30),
            },
        )
    for code, element in [("BREAKDOWN", "ADET"), ("NO_ORDER", "ADOT")]:
        m.DowntimeReason.objects.get_or_create(
            code=code, defaults={"name": code.title(), "iso_element": element}
        )
    machines = []
    for index in range(equipment_count):
        line_number = index // 10
        line, _ = m.Line.objects.get_or_create(
            area=area, code=f"BL{line_number:03d}", defaults={"name": f"Line {line_number}"}
        )
        cell, _ = m.Cell.objects.get_or_create(line=line, code="cell", defaults={"name": "Cell"})
        machine, _ = m.Equipment.objects.update_or_create(
            cell=cell,
            code=f"BM{index:04d}",
            defaults={"name": f"Machine {index}", "is_active": True},
        )
        machines.append(machine)
        work_order, _ = m.WorkOrder.objects.get_or_create(
            number=f"BENCH-{index:04d}",
            defaults={
                "product": product,
                "routing": routing,
                "quantity": 10_000,
                "due_at": SHIFT_END + timedelta(days=1),
                "site": site,
                "line": line,
                "state": "in_progress",
                "started_at": SHIFT_START - timedelta(hours=1),
            },
        )
        m.Operation.objects.update_or_create(
            work_order=work_order,
            sequence=10,
            defaults={
                "name": "Run",
                "capability": capability,
                "planned_run_time_per_unit_s": 20.0,
                "assigned_equipment": machine,
                "state": "in_progress",
                "actual_start_at": SHIFT_START - timedelta(hours=1),
            },
        )
    # Equipment of an earlier, larger run stay out of this one.
    m.Equipment.objects.filter(cell__line__area=area).exclude(
        pk__in=[machine.pk for machine in machines]
    ).update(is_active=False)
    return machines


def synthetic_events(machines, rng: np.random.Generator) -> list:
    """One shift of state changes and counts for every machine, sorted by time."""
    from production.services.ingest_contract import EquipmentEventIn

    events = []
    length_s = (SHIFT_END - SHIFT_START).total_seconds()
    for machine in machines:
        count = int(rng.integers(50, 201))
        lengths_s = rng.dirichlet(np.ones(count)) * (length_s + 600.0)
        starts_s = -300.0 + np.concatenate(([0.0], np.cumsum(lengths_s)))[:-1]
        picks = rng.choice(len(STATE_CHOICES), size=count, p=STATE_WEIGHTS)
        for offset_s, pick in zip(starts_s, picks, strict=True):
            state, reason = STATE_CHOICES[pick]
            ts = SHIFT_START + timedelta(seconds=round(float(offset_s), 3))
            events.append(
                EquipmentEventIn(machine.uns_path, ts, "state", {"state": state, "reason": reason})
            )
        moment_s = float(rng.uniform(0, 60))
        while moment_s < length_s:
            scrap = int(rng.random() < 0.03)
            events.append(
                EquipmentEventIn(
                    machine.uns_path,
                    SHIFT_START + timedelta(seconds=round(moment_s, 3)),
                    "count",
                    {"good": int(rng.integers(1, 4)), "scrap": scrap, "rework": 0},
                )
            )
            moment_s += float(rng.uniform(45, 75))
    events.sort(key=lambda event: event.ts)
    return events


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--equipment", type=int, default=100)
    parser.add_argument("--batch", type=int, default=500, help="events per ingest call")
    parser.add_argument("--seed", type=int, default=22_400)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    args = parser.parse_args()
    configure(args.database_url, args.redis_url)

    from unittest import mock

    from django.utils import timezone

    from production.selectors.calendars import calendar_book_for, equipment_refs
    from production.selectors.oee import oee_current
    from production.selectors.oee_elements import equipment_period_compute
    from production.selectors.oee_live import LiveOee, live_oee
    from production.services import equipment_events
    from production.services.equipment_events import equipment_events_ingest
    from production.services.oee_snapshots import oee_snapshots_rebuild

    rng = np.random.default_rng(args.seed)
    machines = plant_prepare(args.equipment)
    events = synthetic_events(machines, rng)
    state_count = sum(event.kind == "state" for event in events)
    print(
        f"workload: {len(machines)} equipment, one 8 h shift, {len(events)} events "
        f"({state_count} state changes, {len(events) - state_count} counts), "
        f"batches of {args.batch}"
    )
    refs = equipment_refs(equipment_ids=[machine.pk for machine in machines])
    line_ids = sorted({ref.line_id for ref in refs})
    live_oee.clear()

    # The clock follows the data, as it would live: each batch is ingested "now".
    clock = {"now": SHIFT_START}
    apply_times_s: list[float] = []
    original_apply = LiveOee.apply

    def timed_apply(self, equipment_id, **kwargs):
        started = time.perf_counter()
        result = original_apply(self, equipment_id, **kwargs)
        apply_times_s.append(
            (time.perf_counter() - started)
            / max(1, len(kwargs["state_changes"]) + len(kwargs["counts"]))
        )
        return result

    publish_times_s: list[float] = []
    published_lines: list[int] = []
    original_publish = equipment_events.oee_lines_publish

    def timed_publish(**kwargs):
        started = time.perf_counter()
        lines = original_publish(**kwargs)
        publish_times_s.append(time.perf_counter() - started)
        published_lines.append(len(lines))
        return lines

    with (
        mock.patch.object(timezone, "now", lambda: clock["now"]),
        mock.patch.object(LiveOee, "apply", timed_apply),
        mock.patch.object(equipment_events, "oee_lines_publish", timed_publish),
    ):
        live_oee.get(refs, now=SHIFT_START)  # the ingest process reads too (publish)
        batch_times_s = []
        started_all = time.perf_counter()
        for index in range(0, len(events), args.batch):
            batch = events[index : index + args.batch]
            clock["now"] = batch[-1].ts + timedelta(seconds=1)
            started = time.perf_counter()
            result = equipment_events_ingest(events=batch)
            batch_times_s.append(time.perf_counter() - started)
            assert not result.rejected, result.rejected[:3]
        total_s = time.perf_counter() - started_all
        publish_s = sum(publish_times_s)
        print(
            f"ingest, first delivery:   {len(events) / total_s:9.0f} events/s "
            f"(batch of {args.batch}: median {statistics.median(batch_times_s) * 1e3:.1f} ms, "
            f"p95 {percentile(batch_times_s, 0.95) * 1e3:.1f} ms; after-commit work included)"
        )
        print(
            f"ingest without the broadcast: {len(events) / (total_s - publish_s):5.0f} events/s "
            f"(the live publish took {publish_s / total_s:.0%} of the time: "
            f"{sum(published_lines)} line publishes, "
            f"{publish_s / max(1, sum(published_lines)) * 1e3:.1f} ms each with its "
            "equipment rows)"
        )
        print(
            f"live accumulators:        {statistics.mean(apply_times_s) * 1e6:9.2f} µs per event "
            f"(mean of LiveOee.apply over {len(apply_times_s)} batches of one equipment)"
        )

        # Redelivery of the last 20 batches: nothing changes.
        redelivered = events[-20 * args.batch :]
        started = time.perf_counter()
        for index in range(0, len(redelivered), args.batch):
            equipment_events_ingest(events=redelivered[index : index + args.batch])
        redelivery_s = time.perf_counter() - started
        print(f"ingest, redelivery:       {len(redelivered) / redelivery_s:9.0f} events/s")

        # The event shows in the current OEE: same process (warm), another process (rebuild).
        from production.services.ingest_contract import EquipmentEventIn

        line_refs = [ref for ref in refs if ref.line_id == line_ids[0]]
        machine_path = next(m.uns_path for m in machines if m.pk == line_refs[0].id)
        reflected_warm_ms, reflected_cold_ms = [], []
        moment = clock["now"] + timedelta(seconds=5)
        for step in range(20):
            moment += timedelta(seconds=30)
            clock["now"] = moment
            started = time.perf_counter()
            equipment_events_ingest(
                events=[
                    EquipmentEventIn(
                        machine_path, moment, "state", {"state": ["down", "producing"][step % 2]}
                    )
                ]
            )
            report = oee_current(scope="line", scope_ids=[line_ids[0]], now=moment)
            reflected_warm_ms.append((time.perf_counter() - started) * 1e3)
            assert report[line_ids[0]]["equipment"][0]["state_since"] == moment
            other_process = LiveOee()
            started = time.perf_counter()
            other_process.get(line_refs, now=moment)
            reflected_cold_ms.append((time.perf_counter() - started) * 1e3)
        print(
            "event → current line OEE, same process: "
            f"median {statistics.median(reflected_warm_ms):.1f} ms, "
            f"max {max(reflected_warm_ms):.1f} ms (ingest of 1 event + read)"
        )
        print(
            "current line OEE, another process rebuilds 10 equipment from the database: "
            f"median {statistics.median(reflected_cold_ms):.1f} ms"
        )

        # Late events: one per equipment, an hour back.
        late = [
            EquipmentEventIn(
                machine.uns_path,
                SHIFT_START + timedelta(hours=3, seconds=index * 0.5 + 0.25),
                "state",
                {"state": "down"},
            )
            for index, machine in enumerate(machines)
        ]
        started = time.perf_counter()
        equipment_events_ingest(events=late)
        late_s = time.perf_counter() - started
        print(
            f"ingest, late events:      {len(late) / late_s:9.0f} events/s "
            f"({len(late)} late events, each re-deriving its equipment's chain from its hour)"
        )

        # A full recompute of the shift from the database, and closing it.
        book = calendar_book_for(refs, range_start=SHIFT_START, range_end=SHIFT_END)
        recompute_ms = []
        for _ in range(5):
            started = time.perf_counter()
            results = equipment_period_compute(
                refs, book, window_start=SHIFT_START, window_end=SHIFT_END, now=clock["now"]
            )
            recompute_ms.append((time.perf_counter() - started) * 1e3)
        assert len(results) == len(refs)
        print(
            f"full recompute of the shift from the database, {len(refs)} equipment: "
            f"median {statistics.median(recompute_ms):.0f} ms, best {min(recompute_ms):.0f} ms"
        )
        clock["now"] = SHIFT_END + timedelta(minutes=10)
        started = time.perf_counter()
        result = oee_snapshots_rebuild(
            start=SHIFT_START, end=SHIFT_END, now=clock["now"], site_ids=[refs[0].site_id]
        )
        print(
            f"closing the shift (its 8 hours and the shift, every scope): "
            f"{(time.perf_counter() - started) * 1e3:.0f} ms for {result.periods_written} "
            f"periods, {result.snapshots_written} snapshots"
        )


if __name__ == "__main__":
    main()
