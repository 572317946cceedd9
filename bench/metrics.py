"""What the Prometheus metrics cost (docs/observability.md): one update of a counter or
histogram, in memory and in multiprocess mode, and the time to render ``/metrics`` from the
files of many processes (the recorded part; the scrape-time figures are a few aggregate
queries and one Redis pipeline on top).

    .venv/bin/python bench/metrics.py [--processes 1 10 40] [--updates 200000]

No database or Redis needed: the processes write into a temporary multiprocess directory as the
web server, the bridges and the Celery worker children of a host do.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_UPDATE_COST = """
import timeit
from mes_site import metrics
n = {updates}
child = metrics.INGEST_READINGS.labels(source="uns")
inc = timeit.timeit(lambda: child.inc(), number=n) / n
labelled = timeit.timeit(lambda: metrics.INGEST_READINGS.labels(source="uns").inc(), number=n) / n
lag = metrics.INGEST_LAG.labels(source="uns")
observe = timeit.timeit(lambda: lag.observe(0.2), number=n) / n
print(inc, labelled, observe)
"""

_ONE_PROCESS = """
from mes_site import metrics
for source in ("uns", "sparkplug"):
    metrics.INGEST_BATCHES.labels(source=source).inc(10)
    metrics.INGEST_READINGS.labels(source=source).inc(1000)
    metrics.INGEST_LAG.labels(source=source).observe(0.3)
    for reason in ("unknown_signal", "out_of_range", "bad_json"):
        metrics.INGEST_DEAD_LETTERS.labels(source=source, reason=reason).inc()
for task in range(30):
    metrics.TASK_DURATION.labels(task=f"app.tasks.task_{task}", state="success").observe(0.01)
metrics.WEBSOCKET_CLIENTS.inc(3)
"""


def _run(code: str, environment: dict[str, str]) -> str:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environment,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 10, 40])
    parser.add_argument("--updates", type=int, default=200_000)
    options = parser.parse_args()
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "mes_site.settings",
        "DJANGO_DEBUG": "true",
    }
    print(f"load average {os.getloadavg()[0]:.1f}")
    for mode in ("in memory", "multiprocess"):
        with tempfile.TemporaryDirectory() as directory:
            environment = dict(base)
            if mode == "multiprocess":
                environment["PROMETHEUS_MULTIPROC_DIR"] = directory
            inc, labelled, observe = map(
                float, _run(_UPDATE_COST.format(updates=options.updates), environment).split()
            )
        print(
            f"{mode:>12}: counter inc {inc * 1e6:.2f} µs, labels()+inc {labelled * 1e6:.2f} µs, "
            f"histogram observe {observe * 1e6:.2f} µs"
        )
    for count in options.processes:
        with tempfile.TemporaryDirectory() as directory:
            environment = dict(base, PROMETHEUS_MULTIPROC_DIR=directory)
            for _ in range(count):
                _run(_ONE_PROCESS, environment)
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
            from prometheus_client import generate_latest

            from mes_site.metrics import registry_for_scrape

            times = []
            for _ in range(5):
                started = time.perf_counter()
                text = generate_latest(registry_for_scrape())
                times.append(time.perf_counter() - started)
            files = len(os.listdir(directory))
            print(
                f"render from {count:>3} processes ({files} files, {len(text)} bytes): "
                f"median {statistics.median(times) * 1000:.1f} ms"
            )
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
