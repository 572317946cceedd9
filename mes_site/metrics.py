"""The Prometheus metrics every process of the MES records (docs/observability.md).

Counters, histograms and gauges that the code updates as things happen — ingest batches,
bridge connections and messages, Sparkplug births and rebirth requests, Celery task
durations, websocket clients, OEE and schedule computations — defined once here so that every
app (each layer may import ``mes_site``) records into the same names.

Processes: the web server, the bridge and each Celery worker child are separate processes.
With ``PROMETHEUS_MULTIPROC_DIR`` set in their environment (before they start: the client
library reads it at import), each writes its values to its own files in that directory and
``registry_for_scrape`` sums them up — one ``/metrics`` answers for every process of the host.
Without it (development, tests) the values live in the process's default registry.
Figures read at scrape time (queue depths, backlogs, open dead letters) are not here: they come
from ``workers.observability``'s collector, which reads Redis and the database.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess

logger = logging.getLogger(__name__)

MULTIPROCESS_ENVIRONMENT = "PROMETHEUS_MULTIPROC_DIR"

# Batch lag and task durations: from a few milliseconds to a few minutes.
_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

# --- ingest (Celery workers) -------------------------------------------------------------------

INGEST_BATCHES = Counter(
    "mes_ingest_batches", "Ingest batches processed (a redelivered batch is not counted again).",
    ["source"],
)  # fmt: skip
INGEST_MESSAGES = Counter(
    "mes_ingest_messages", "MQTT messages in the processed ingest batches.", ["source"]
)
INGEST_READINGS = Counter(
    "mes_ingest_readings", "Valid readings in the processed batches (rate: readings/s).", ["source"]
)
INGEST_READINGS_STORED = Counter(
    "mes_ingest_readings_stored", "Readings newly inserted into the telemetry store.", ["source"]
)
INGEST_READING_CONFLICTS = Counter(
    "mes_ingest_reading_conflicts",
    "Readings dropped because their signal already has another value at the same instant "
    "(the (signal, ts) key keeps the first); a redelivered identical value is not a conflict.",
    ["source"],
)
INGEST_DEAD_LETTERS = Counter(
    "mes_ingest_dead_letters", "Messages and readings dead-lettered, by reason.",
    ["source", "reason"],
)  # fmt: skip
INGEST_LAG = Histogram(
    "mes_ingest_lag_seconds",
    "From the bridge handing a batch to Celery to the batch being stored.",
    ["source"],
    buckets=_SECONDS_BUCKETS,
)

# --- the bridge --------------------------------------------------------------------------------

BRIDGE_CONNECTED = Gauge(
    "mes_bridge_connected",
    "1 while the bridge's MQTT client is connected to the broker, else 0.",
    ["client", "client_id"],
    multiprocess_mode="livemax",
)
BRIDGE_MESSAGES_RECEIVED = Counter(
    "mes_bridge_messages_received", "MQTT messages the bridge received.", ["client"]
)
SPARKPLUG_BIRTHS = Counter(
    "mes_sparkplug_births",
    "Sparkplug NBIRTH/DBIRTH messages received (a node's rebirth is an NBIRTH and its DBIRTHs).",
    ["message_type"],
)
SPARKPLUG_REBIRTH_REQUESTS = Counter(
    "mes_sparkplug_rebirth_requests",
    "Rebirth requests (NCMD Node Control/Rebirth) the host sent, by the reason.",
    ["reason"],
)

# --- Celery, websockets, computations ----------------------------------------------------------

TASK_DURATION = Histogram(
    "mes_celery_task_duration_seconds",
    "Run time of Celery tasks, by task name and outcome (success, failure, retry).",
    ["task", "state"],
    buckets=_SECONDS_BUCKETS,
)
WEBSOCKET_CLIENTS = Gauge(
    "mes_websocket_clients",
    "Open, authenticated live websockets.",
    multiprocess_mode="livesum",
)
OEE_COMPUTATION = Histogram(
    "mes_oee_computation_seconds",
    "OEE computations: the live publish of lines, the periodic snapshot maintenance.",
    ["kind"],
    buckets=_SECONDS_BUCKETS,
)
SCHEDULE_COMPUTATION = Histogram(
    "mes_schedule_computation_seconds",
    "Schedule runs from start to end, by outcome.",
    ["outcome"],
    buckets=_SECONDS_BUCKETS,
)


@contextmanager
def timed(histogram: Histogram, **labels: str) -> Iterator[None]:
    """Observe the duration of the block (also when it raises)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        histogram.labels(**labels).observe(time.perf_counter() - started)


def is_multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROCESS_ENVIRONMENT))


def registry_for_scrape() -> CollectorRegistry:
    """The registry a scrape reads: every process's files in multiprocess mode, else this
    process's own registry."""
    if not is_multiprocess():
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def process_exited(pid: int) -> None:
    """Drop the live gauges of a process that ended (Celery worker children, the bridge), so
    that their last values stop counting. Counters and histograms keep their totals."""
    if is_multiprocess():
        try:
            multiprocess.mark_process_dead(pid)
        except OSError:
            logger.warning("could not drop the metric files of process %s", pid, exc_info=True)
