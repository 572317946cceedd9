"""Measurements through the ingest task the bridge hands its batches to: UNS
``…/{station}/_measurement`` messages decoded, checked, appended to the charts' subgroups,
plotted and rule-checked (all 12 rules), stored — one transaction per batch.

Run: ``.venv/bin/python -m bench.quality.measurements_ingest [--batches 20 --batch-size 1000
--stations 10]``. It uses its own database (``mes_spcbench``, created and migrated) and Redis
db 9. The MQTT hop (broker → bridge → Celery) is the telemetry path of docs/benchmarks.md
("Telemetry ingest"); this measures what SPC adds behind it. Target (issue 14): 2,000
measurements/s into stored, rule-checked points.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np

from bench.django_setup import configure

DEFAULT_DATABASE_URL = "postgres://postgres@localhost:5432/mes_spcbench"
DEFAULT_REDIS_URL = "redis://localhost:6379/9"
SUBGROUP_SIZE = 5


def plant_prepare(stations: int) -> list:
    """Stations with one X̄–R chart each (all rules, no reaction), limits from a baseline."""
    from production import models as m
    from quality.models import Characteristic, ControlChart
    from quality.services import control_chart_configure, control_limits_compute, subgroup_record
    from quality.spc import RunRule

    ControlChart.objects.filter(characteristic__code__startswith="BENCH-").delete()
    Characteristic.objects.filter(code__startswith="BENCH-").delete()
    enterprise, _ = m.Enterprise.objects.get_or_create(code="bench", defaults={"name": "Bench"})
    site, _ = m.Site.objects.get_or_create(
        enterprise=enterprise, code="spcsite", defaults={"name": "SPC bench"}
    )
    area, _ = m.Area.objects.get_or_create(site=site, code="area", defaults={"name": "Area"})
    line, _ = m.Line.objects.get_or_create(area=area, code="QC", defaults={"name": "QC"})
    cell, _ = m.Cell.objects.get_or_create(line=line, code="gauges", defaults={"name": "Gauges"})
    rng = np.random.default_rng(2)
    charts = []
    for number in range(stations):
        equipment, _ = m.Equipment.objects.get_or_create(
            cell=cell, code=f"GAUGE{number:02d}", defaults={"name": f"Gauge {number}"}
        )
        characteristic = Characteristic.objects.create(
            code=f"BENCH-{number:02d}",
            name="Bore",
            unit="mm",
            lower_spec_limit=9.5,
            upper_spec_limit=10.5,
        )
        chart = control_chart_configure(
            characteristic=characteristic,
            chart_type="xbar_r",
            subgroup_size=SUBGROUP_SIZE,
            equipment=equipment,
            rules=[rule.value for rule in RunRule],
        )
        for row in rng.normal(10.0, 0.1, (25, SUBGROUP_SIZE)).tolist():
            subgroup_record(chart=chart, values=row)
        control_limits_compute(
            chart_id=chart.pk, first_index=0, last_index=24, actor=None, reason="bench baseline"
        )
        charts.append(chart)
    return charts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--stations", type=int, default=10)
    arguments = parser.parse_args()
    configure(
        os.environ.get("SPC_BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        os.environ.get("SPC_BENCH_REDIS_URL", DEFAULT_REDIS_URL),
    )
    from quality.models import RuleViolation, Subgroup
    from workers import selectors
    from workers.ingest.uns import ingest_uns_batch
    from workers.mqtt.uns import encode_measurement

    charts = plant_prepare(arguments.stations)
    selectors.contracts_forget()
    rng = np.random.default_rng(5)
    start_at = datetime.now(UTC) - timedelta(hours=1)
    rates, count = [], 0
    for batch in range(arguments.batches):
        messages = []
        for position in range(arguments.batch_size):
            chart = charts[position % len(charts)]
            count += 1
            drift = 0.05 * batch / max(arguments.batches - 1, 1)  # the tool wears a little
            messages.append(
                [
                    f"{chart.equipment.uns_path}/_measurement",
                    encode_measurement(
                        start_at + timedelta(milliseconds=count),
                        chart.characteristic.code,
                        float(rng.normal(10.0 + drift, 0.1)),
                        unit="mm",
                    ),
                ]
            )
        began = time.perf_counter()
        result = ingest_uns_batch(
            batch_id=str(uuid.uuid4()), published_at=datetime.now(UTC), messages=messages
        )
        elapsed = time.perf_counter() - began
        assert result.dead_letter_count == 0, result
        rates.append(arguments.batch_size / elapsed)
    points = Subgroup.objects.filter(chart__in=charts, index__gte=25, is_complete=True).count()
    violations = RuleViolation.objects.filter(chart__in=charts).count()
    print(
        f"{count:,} measurements in batches of {arguments.batch_size} over {len(charts)} charts "
        f"(X̄–R, n = {SUBGROUP_SIZE}, 12 rules): {points:,} points, {violations} violations"
    )
    print(
        f"measurements/s per batch: median {statistics.median(rates):,.0f}, "
        f"min {min(rates):,.0f}, max {max(rates):,.0f}"
    )


if __name__ == "__main__":
    main()
