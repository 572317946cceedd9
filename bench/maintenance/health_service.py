"""The health service end to end on PostgreSQL: RUL through the stored-feature path, the cost
of one refresh, and of the closed loop.

Run: ``DATABASE_URL=postgres://postgres@localhost:5432/mes_bench .venv/bin/python -m
bench.maintenance.health_service`` (about 1–2 minutes; creates and drops the throwaway
database ``test_<name>``; needs Redis and the MQTT broker like the app).

1. **Validation through the service** — synthetic degrading bearings with a known failure
   time (:mod:`maintenance.algorithms.synthetic`): every hour 8 windows are turned into
   feature readings in the telemetry store (``workers.store.readings_write``, as the ingest
   does) and ``maintenance.services.health_refresh`` writes a snapshot; the RUL p50 of the
   snapshots is compared with the truth. Same figures as ``validate_rul`` reports for the pure
   algorithm, but through baseline learning, the snapshot history and the database.
2. **Steady-state refresh cost** — one spindle with a full 24 h snapshot history at one
   snapshot per minute (1440 rows) and 32 recent windows: latency and queries per refresh.
3. **Closed loop** — the refresh that opens an anomaly episode (proposes and applies the
   maintenance order and the reservation, queues the UNS diagnostics).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mes_site.settings")

HOUR_S = 3600.0


def _setup_django():
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    if connection.vendor != "postgresql":
        raise SystemExit("Run against PostgreSQL: set DATABASE_URL=postgres://…")
    setup_test_environment()
    original_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    return connection, original_name


def _plant(spindle_count: int):
    from autonomy import models as autonomy_models
    from inventory.models import Item, Location
    from inventory.services import stock_receive
    from maintenance.algorithms.signal import FeatureSettings
    from maintenance.models import ComponentPart
    from production import models as m
    from traceability.services import lot_create

    enterprise = m.Enterprise.objects.create(code="bench", name="Bench")
    site = m.Site.objects.create(
        enterprise=enterprise, code="site", name="Site", autonomy_mode="full"
    )
    area = m.Area.objects.create(site=site, code="machining", name="Machining")
    line = m.Line.objects.create(area=area, code="CNC", name="CNC")
    for kind, risk in [
        ("part_reservation", "low"),
        ("maintenance_order", "medium"),
        ("procurement_request", "high"),
    ]:
        autonomy_models.ActionPolicy.objects.update_or_create(kind=kind, defaults={"risk": risk})
    bearing = Item.objects.create(code="SP-BRG", name="Bearing", kind="spare")
    store = Location.objects.create(site=site, code="MRO", name="Store")
    lot = lot_create(item=bearing, code="LOT-BRG", quantity=Decimal(100), origin="received")
    stock_receive(lot=lot, location=store, quantity=Decimal(100))
    spindles = []
    for number in range(spindle_count):
        cell = m.Cell.objects.create(line=line, code=f"cell{number}", name=f"Cell {number}")
        equipment = m.Equipment.objects.create(
            cell=cell, code=f"S{number}", name=f"Spindle {number}"
        )
        signal_ids = {
            name: m.Signal.objects.create(equipment=equipment, name=f"vibration_{name}").pk
            for name in FeatureSettings().feature_names
        }
        ComponentPart.objects.create(
            equipment=equipment, component="spindle_bearing", spare_item=bearing
        )
        spindles.append((equipment, signal_ids))
    return spindles


def _write(signal_ids, times, matrix) -> None:
    from django.db import transaction

    from maintenance.algorithms.signal import FeatureSettings
    from workers import store
    from workers.choices import QUALITY_GOOD

    names = FeatureSettings().feature_names
    rows = [
        (signal_ids[name], ts, float(value), None, QUALITY_GOOD)
        for ts, vector in zip(times, matrix, strict=True)
        for name, value in zip(names, vector, strict=True)
    ]
    with transaction.atomic():
        store.readings_write(rows)


def _features(bearing, hours: float, count: int, rng):
    from maintenance.algorithms.signal import FeatureSettings, extract_features

    return extract_features(bearing.windows(hours, count, rng), FeatureSettings()).as_array()


def validation(spindles, start: datetime, seed: int, step_h: float) -> None:
    from maintenance.algorithms.synthetic import BearingSpec, DegradationProfile, DegradingBearing
    from maintenance.services import health_refresh

    rng = np.random.default_rng(seed)
    errors, truths, covered, estimated, total = [], [], 0, 0, 0
    healthy_alphas, warnings_h = [], []
    for equipment, signal_ids in spindles:
        # The fleet of validate_rul: onset 50–250 h, failure 100–400 h after it.
        onset_h = float(rng.uniform(50.0, 250.0))
        failure_h = onset_h + float(rng.uniform(100.0, 400.0))
        bearing = DegradingBearing(BearingSpec(), DegradationProfile(onset_h, failure_h))
        _write(
            signal_ids,
            [start + timedelta(seconds=i) for i in range(60)],
            _features(bearing, 0.0, 60, rng),
        )
        health_refresh(equipment_id=equipment.pk)
        first_critical_h = None
        for hour in np.arange(step_h, failure_h, step_h):
            hour = float(hour)
            times = [start + timedelta(hours=hour, seconds=i) for i in range(8)]
            _write(signal_ids, times, _features(bearing, hour, 8, rng))
            snapshot = health_refresh(equipment_id=equipment.pk).snapshot
            if hour < onset_h:
                healthy_alphas.append(snapshot.alpha)
            elif first_critical_h is None and snapshot.recommendation == "critical":
                first_critical_h = hour
            true_rul = failure_h - (hour + 7 / 3600)
            if hour >= onset_h and true_rul <= 100:
                total += 1
                if snapshot.rul_p50_h is not None:
                    estimated += 1
                    errors.append(snapshot.rul_p50_h - true_rul)
                    truths.append(true_rul)
                    covered += int(
                        (snapshot.rul_p10_h or 0) <= true_rul <= (snapshot.rul_p90_h or math.inf)
                    )
        if first_critical_h is not None:
            warnings_h.append(failure_h - first_critical_h)
    errors_array, truths_array = np.array(errors), np.array(truths)
    print(
        f"validation through the service: {len(spindles)} bearings, 8 windows and one "
        f"snapshot every {step_h:g} h"
    )
    print(
        f"  healthy α (before onset, n={len(healthy_alphas)}): median "
        f"{statistics.median(healthy_alphas):.3f}, max {max(healthy_alphas):.3f}"
    )
    print(
        f"  first 'critical' before failure: median {statistics.median(warnings_h):.0f} h "
        f"(min {min(warnings_h):.0f} h), {len(warnings_h)}/{len(spindles)} bearings"
    )
    print(
        f"  true RUL ≤ 100 h: n={total}, estimated {estimated / total:.1%}, RMSE "
        f"{math.sqrt(float(np.mean(errors_array**2))):.1f} h, "
        f"bias {float(np.mean(errors_array)):+.1f} h, "
        f"within ±20 % {float(np.mean(np.abs(errors_array) <= 0.2 * truths_array)):.1%}, "
        f"in [p10, p90] {covered / estimated:.1%}"
    )


def steady_state(spindle, start: datetime, refreshes: int) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from maintenance.algorithms.synthetic import BearingSpec, DegradationProfile, DegradingBearing
    from maintenance.models import HealthBaseline, HealthSnapshot
    from maintenance.services import health_refresh

    equipment, signal_ids = spindle
    rng = np.random.default_rng(1)
    bearing = DegradingBearing(BearingSpec(), DegradationProfile(500.0, 900.0))
    _write(
        signal_ids,
        [start + timedelta(seconds=i) for i in range(60)],
        _features(bearing, 0.0, 60, rng),
    )
    health_refresh(equipment_id=equipment.pk)
    baseline = HealthBaseline.objects.get(equipment=equipment, status="current")
    t0 = start + timedelta(hours=1)
    HealthSnapshot.objects.bulk_create(
        HealthSnapshot(
            equipment=equipment,
            ts=t0 + timedelta(minutes=minute),
            state="assessed",
            alpha=0.05,
            rms_ratio=1.0 + 0.001 * rng.standard_normal(),
            baseline=baseline,
            recommendation="low",
        )
        for minute in range(1440)
    )
    latencies, queries = [], []
    for index in range(refreshes):
        ts0 = t0 + timedelta(minutes=1440 + index, seconds=1)
        times = [ts0 + timedelta(seconds=i) for i in range(32)]
        _write(signal_ids, times, _features(bearing, 24.0, 32, rng))
        with CaptureQueriesContext(connection) as captured:
            began = time.perf_counter()
            outcome = health_refresh(equipment_id=equipment.pk)
            latencies.append(time.perf_counter() - began)
        assert outcome.is_new
        queries.append(len(captured.captured_queries))
    latencies_ms = sorted(1000 * value for value in latencies)
    print(
        f"steady-state refresh (32 windows, 1440-snapshot history): p50 "
        f"{statistics.median(latencies_ms):.1f} ms, p95 "
        f"{latencies_ms[int(0.95 * (len(latencies_ms) - 1))]:.1f} ms, "
        f"{statistics.median(queries):.0f} queries (n={refreshes})"
    )
    noop = []
    for _ in range(refreshes):
        began = time.perf_counter()
        health_refresh(equipment_id=equipment.pk)
        noop.append(1000 * (time.perf_counter() - began))
    print(
        f"refresh with nothing new (debounced / idempotent): p50 {statistics.median(noop):.1f} ms"
    )


def closed_loop(spindles, start: datetime) -> None:
    from autonomy.models import ProposedAction
    from maintenance.algorithms.synthetic import BearingSpec, DegradationProfile, DegradingBearing
    from maintenance.models import MaintenanceWorkOrder
    from maintenance.services import health_refresh

    rng = np.random.default_rng(2)
    healthy = DegradingBearing(BearingSpec(), DegradationProfile(500.0, 900.0))
    sick = DegradingBearing(BearingSpec(), DegradationProfile(0.0, 20.0))
    latencies = []
    for equipment, signal_ids in spindles:
        _write(
            signal_ids,
            [start + timedelta(seconds=i) for i in range(60)],
            _features(healthy, 0.0, 60, rng),
        )
        health_refresh(equipment_id=equipment.pk)
        times = [start + timedelta(hours=1, seconds=i) for i in range(8)]
        _write(signal_ids, times, _features(sick, 18.0, 8, rng))
        began = time.perf_counter()
        outcome = health_refresh(equipment_id=equipment.pk)
        latencies.append(1000 * (time.perf_counter() - began))
        assert outcome.loop_ran
    orders = MaintenanceWorkOrder.objects.filter(equipment__in=[e for e, _ in spindles]).count()
    actions = ProposedAction.objects.filter(status="applied").count()
    print(
        f"closed loop (anomaly → order + reservation, applied): p50 "
        f"{statistics.median(latencies):.1f} ms, max {max(latencies):.1f} ms over "
        f"{len(spindles)} spindles; {orders} orders, {actions} applied actions"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bearings", type=int, default=4)
    parser.add_argument("--refreshes", type=int, default=40)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--step-h", type=float, default=2.0)
    arguments = parser.parse_args()

    connection, original_name = _setup_django()
    from django.conf import settings

    from maintenance.services import diagnostics
    from mes_site.celery import app
    from workers import store

    app.conf.task_always_eager = True  # diagnostics are published for real, in-process
    settings.MQTT_UNS_ROOT = f"bench-maint-{uuid.uuid4().hex[:8]}"
    diagnostics.scheduler_trigger = lambda **_: None  # no schedule runs in the bench
    start = (datetime.now(UTC) - timedelta(days=28)).replace(minute=0, second=0, microsecond=0)
    store.partitions_ensure(store.partitions_for_range(start, datetime.now(UTC)))
    try:
        began = time.perf_counter()
        spindles = _plant(arguments.bearings + 1 + 6)
        validation(spindles[: arguments.bearings], start, arguments.seed, arguments.step_h)
        steady_state(spindles[arguments.bearings], start, arguments.refreshes)
        closed_loop(spindles[arguments.bearings + 1 :], start)
        print(f"total {time.perf_counter() - began:.0f} s")
        _retained_clear([diagnostics.diagnostics_topic(equipment) for equipment, _ in spindles])
    finally:
        connection.creation.destroy_test_db(original_name, verbosity=0)


def _retained_clear(topics: list[str]) -> None:
    """Remove the retained diagnostics the bench left on the broker."""
    from maintenance.services.diagnostics import diagnostics_publisher

    publisher = diagnostics_publisher()
    for topic in topics:
        publisher.publish(topic, b"")
    publisher.close()


if __name__ == "__main__":
    main()
