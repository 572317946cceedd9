"""End-to-end ingest benchmark: MQTT publish → bridge → Celery → committed PostgreSQL row.

Run (PostgreSQL required; the database is migrated and its telemetry tables emptied):

    DATABASE_URL=postgres://postgres@localhost:5432/mes_bench_ingest \\
    REDIS_URL=redis://localhost:6379/3 .venv/bin/python -m bench.ingest.pipeline

Options: ``--workloads single,batch,sparkplug``, ``--messages N`` per workload (scaled per
workload), ``--concurrency`` of the Celery worker, ``--latency-rate`` readings/s and
``--latency-seconds`` for the latency runs, ``--skip-baseline``.

For each workload it measures, on a private Mosquitto (started on a free port):

- **pipeline**: ``manage.py mqtt_bridge`` and ``celery worker -Q <queue>`` as subprocesses,
  everything published as fast as the publishers go (QoS 1), readings/s = readings /
  (time from the first publish until the ledger shows every reading committed);
- **baseline**: ``bench.ingest.bare_subscriber`` (a bare paho subscriber, same codecs, binary
  COPY) on the same messages; the ratio pipeline / baseline;
- **latency** (single and batch): a steady background load at ``--latency-rate`` readings/s
  plus a probe signal published 20 times a second with the publication time as ``ts``;
  latency = when the probe's row is first seen committed − its ``ts`` (polled every 5 ms).

Publishers: ``mosquitto_pub -l -q 1`` (C, one process per stream) for the JSON workloads;
one process per Sparkplug edge node with the minimal client of ``raw_mqtt.py`` for Sparkplug
(pre-encoded DDATA, 100 Double metrics by alias, at most 1,000 unacknowledged). Everything
runs on this machine, publisher included.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.ingest.feeds import (
    SIGNAL_COUNT,
    SPARKPLUG_GROUP,
    UNS_ROOT,
    Backlog,
    json_streams,
    mosquitto_pub,
    sparkplug_publisher,
)

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
CELERY = str(Path(sys.executable).parent / "celery")
PROBE = "probe"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(condition, timeout_s: float, interval_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval_s)
    return bool(condition())


# --- set-up ------------------------------------------------------------------------------------


def _django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mes_site.settings")
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit(
            "Set DATABASE_URL to a PostgreSQL database (it is migrated and its telemetry "
            "tables are emptied), e.g. postgres://postgres@localhost:5432/mes_bench_ingest"
        )
    import django

    django.setup()


def _database_prepare() -> None:
    from django.core.management import call_command
    from django.db import connection

    settings_dict = connection.settings_dict
    import psycopg

    admin = psycopg.connect(
        host=settings_dict["HOST"] or "localhost",
        port=settings_dict["PORT"] or 5432,
        user=settings_dict["USER"] or "postgres",
        dbname="postgres",
        autocommit=True,
    )
    exists = admin.execute(
        "SELECT 1 FROM pg_database WHERE datname = %s", [settings_dict["NAME"]]
    ).fetchone()
    if not exists:
        admin.execute(f'CREATE DATABASE "{settings_dict["NAME"]}"')
    admin.close()
    call_command("migrate", verbosity=0)


@dataclass
class BenchPlant:
    equipment_id: int
    equipment_path: str
    signal_ids: dict[str, int]


def _plant() -> BenchPlant:
    from production import models as m
    from workers.models import SparkplugDeviceMapping, SparkplugNodeMapping

    enterprise, _ = m.Enterprise.objects.get_or_create(code="bench", defaults={"name": "Bench"})
    site, _ = m.Site.objects.get_or_create(enterprise=enterprise, code="s", defaults={"name": "S"})
    area, _ = m.Area.objects.get_or_create(site=site, code="a", defaults={"name": "A"})
    line, _ = m.Line.objects.get_or_create(area=area, code="l", defaults={"name": "L"})
    cell, _ = m.Cell.objects.get_or_create(line=line, code="c", defaults={"name": "C"})
    equipment, _ = m.Equipment.objects.get_or_create(
        cell=cell, code="machine", defaults={"name": "Bench machine"}
    )
    names = [f"v{index:03d}" for index in range(SIGNAL_COUNT)] + [PROBE]
    for name in names:
        m.Signal.objects.get_or_create(
            equipment=equipment,
            name=name,
            defaults={"unit": "", "min_value": -1e12, "max_value": 1e15},
        )
    for node_index in range(4):
        node, _ = SparkplugNodeMapping.objects.get_or_create(
            group_id=SPARKPLUG_GROUP, edge_node_id=f"edge{node_index}"
        )
        SparkplugDeviceMapping.objects.get_or_create(
            node=node, device_id="dev", defaults={"equipment": equipment}
        )
    signal_ids = dict(m.Signal.objects.filter(equipment=equipment).values_list("name", "id"))
    return BenchPlant(equipment.id, equipment.uns_path, signal_ids)


def _tables_empty() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE workers_reading, workers_readingrollup, workers_ingestbatch, "
            "workers_deadletter CASCADE"
        )


def _stored_by_pipeline() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(sum(stored_count), 0) FROM workers_ingestbatch")
        return int(cursor.fetchone()[0])


def _dead_letters() -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT reason_code, sum(count) FROM workers_deadletter GROUP BY 1")
        return {reason: int(count) for reason, count in cursor.fetchall()}


# --- processes ---------------------------------------------------------------------------------


class Broker:
    def __init__(self, directory: Path) -> None:
        self.port = _free_port()
        config = directory / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "max_queued_messages 0\nmax_inflight_messages 0\nmax_keepalive 600\n"
        )
        self.process = subprocess.Popen(
            ["mosquitto", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if not _wait_for(self._reachable, 10):
            raise RuntimeError("mosquitto did not start")

    def _reachable(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


class Child:
    def __init__(self, command: list[str], environment: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "wb") as output:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_for_log(self, pattern: str, timeout_s: float = 90.0) -> None:
        regex = re.compile(pattern)
        if not _wait_for(lambda: regex.search(self.log.read_text(errors="replace")), timeout_s):
            raise RuntimeError(f"{self.log.name}: no {pattern!r}:\n{self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _environment(broker: Broker, tag: str) -> dict[str, str]:
    environment = {
        **os.environ,
        "MQTT_URL": f"mqtt://127.0.0.1:{broker.port}",
        "MQTT_UNS_ROOT": UNS_ROOT,
        "MQTT_BRIDGE_CLIENT_ID": f"bench-bridge-{tag}",
        "MQTT_SESSION_EXPIRY_S": "60",
        "SPARKPLUG_HOST_ID": f"bench-host-{tag}",
        "INGEST_QUEUE": f"bench-ingest-{tag}",
        "INGEST_FOLLOWUP_QUEUE": f"bench-followup-{tag}",
        "INGEST_REDIS_PREFIX": f"bench:{tag}",
        "INGEST_ALERTS_DEBOUNCE_S": "3600",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    return environment


def _pipeline_start(broker: Broker, workload: str, concurrency: int, directory: Path, tag: str):
    environment = _environment(broker, tag)
    worker = Child(
        [
            CELERY,
            "-A",
            "mes_site",
            "worker",
            "-Q",
            environment["INGEST_QUEUE"],
            "-c",
            str(concurrency),
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"bench-{tag}@%h",
            "--loglevel",
            "WARNING",
        ],
        environment,
        directory / f"worker-{tag}.log",
    )
    flags = ["--no-sparkplug"] if workload != "sparkplug" else ["--no-uns", "--sparkplug"]
    bridge = Child(
        [PYTHON, "manage.py", "mqtt_bridge", "--stats-interval", "0", *flags],
        environment,
        directory / f"bridge-{tag}.log",
    )
    bridge.wait_for_log("subscribed to" if workload != "sparkplug" else "Sparkplug host .* online")
    time.sleep(0.5)
    return [worker, bridge], environment


@dataclass
class Run:
    readings: int
    elapsed_s: float
    publish_s: float

    @property
    def rate(self) -> float:
        return self.readings / self.elapsed_s


def _publish_and_wait(
    workload: str,
    plant: BenchPlant,
    broker: Broker,
    messages: int,
    stored,
    directory: Path,
    timeout_s: float,
) -> Run:
    base_ms = int((datetime.now(UTC) - timedelta(minutes=50)).timestamp() * 1000)
    if workload == "sparkplug":
        nodes = 2
        per_node = messages // nodes
        total = per_node * nodes * SIGNAL_COUNT
        context = multiprocessing.get_context("fork")
        go = context.Event()
        readies = [context.Event() for _ in range(nodes)]
        processes = [
            context.Process(
                target=sparkplug_publisher,
                args=(
                    broker.port,
                    f"edge{node}",
                    per_node,
                    base_ms + node * (per_node + 10),
                    readies[node],
                    go,
                ),
            )
            for node in range(nodes)
        ]
        for process in processes:
            process.start()
        for ready in readies:
            ready.wait(300)
        time.sleep(1.0)  # births handled before the timed data
        started = time.monotonic()
        go.set()
        for process in processes:
            process.join()
        published = time.monotonic()
    else:
        streams = 4
        per_stream = messages // streams
        readings_per_message = 1 if workload == "single" else SIGNAL_COUNT
        total = per_stream * streams * readings_per_message
        plan = json_streams(workload, plant.equipment_path, per_stream * streams, streams, base_ms)
        backlog = Backlog(stored, readings_per_message)
        started = time.monotonic()
        publishers = [
            threading.Thread(
                target=mosquitto_pub,
                args=(broker.port, topic, lines, backlog),
                name=f"{workload}-{index}",
            )
            for index, (topic, lines) in enumerate(plan)
        ]
        for publisher in publishers:
            publisher.start()
        for publisher in publishers:
            publisher.join()
        published = time.monotonic()
        backlog.close()

    def finished() -> bool:
        if _dead_letters():
            raise RuntimeError(f"{workload}: dead letters in the benchmark: {_dead_letters()}")
        return stored() >= total

    if not _wait_for(finished, timeout_s, interval_s=0.02):
        raise RuntimeError(f"{workload}: {stored()} of {total} readings stored in {timeout_s} s")
    done = time.monotonic()
    return Run(total, done - started, published - started)


def _run_pipeline(workload, plant, broker, messages, concurrency, directory) -> Run:
    _tables_empty()
    tag = uuid.uuid4().hex[:8]
    children, _environment_used = _pipeline_start(broker, workload, concurrency, directory, tag)
    try:
        run = _publish_and_wait(
            workload, plant, broker, messages, _stored_by_pipeline, directory, 600
        )
        dead = _dead_letters()
        if dead:
            raise RuntimeError(f"{workload}: dead letters in the benchmark: {dead}")
        return run
    finally:
        for child in children:
            child.stop()
        _redis_forget(tag)


def _redis_forget(tag: str) -> None:
    """Delete a run's Redis keys: its namespace, queues and kombu bindings."""
    from mes_site.redis import redis_client

    client = redis_client()
    keys = list(client.scan_iter(match=f"bench:{tag}:*", count=1000))
    for queue in (f"bench-ingest-{tag}", f"bench-followup-{tag}"):
        keys += [queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}"]
    client.delete(*keys)


def _run_baseline(workload, plant, broker, messages, directory) -> Run:
    from django.conf import settings
    from django.db import connection

    from mes_site.redis import redis_client

    _tables_empty()
    counter_key = f"bench:bare:{uuid.uuid4().hex[:8]}"
    client = redis_client()
    signals_file = directory / "signals.json"
    signals_file.write_text(
        json.dumps([[plant.equipment_path, name, id_] for name, id_ in plant.signal_ids.items()])
    )
    database = connection.settings_dict
    database_url = (
        f"postgresql://{database['USER'] or 'postgres'}@{database['HOST'] or 'localhost'}:"
        f"{database['PORT'] or 5432}/{database['NAME']}"
    )
    mode = "sparkplug" if workload == "sparkplug" else "uns"
    topic_filter = f"spBv1.0/{SPARKPLUG_GROUP}/#" if mode == "sparkplug" else f"{UNS_ROOT}/#"
    bare = Child(
        [
            PYTHON,
            "-m",
            "bench.ingest.bare_subscriber",
            "--port",
            str(broker.port),
            "--mode",
            mode,
            "--topic-filter",
            topic_filter,
            "--root",
            UNS_ROOT,
            "--signals",
            str(signals_file),
            "--database-url",
            database_url,
            "--redis-url",
            settings.REDIS_URL,
            "--counter-key",
            counter_key,
        ],
        {**os.environ},
        directory / f"bare-{workload}.log",
    )
    try:
        bare.wait_for_log("ready")
        return _publish_and_wait(
            workload,
            plant,
            broker,
            messages,
            lambda: int(client.get(counter_key) or 0),
            directory,
            600,
        )
    finally:
        bare.stop()
        client.delete(counter_key)


def _run_latency(workload, plant, broker, rate, seconds, concurrency, directory) -> list[float]:
    """Probe latencies (s) under a steady background load of ``rate`` readings/s."""
    import paho.mqtt.client as mqtt
    from django.db import connection

    _tables_empty()
    tag = uuid.uuid4().hex[:8]
    children, _environment_used = _pipeline_start(broker, workload, concurrency, directory, tag)
    latencies: list[float] = []
    try:
        per_message = 1 if workload == "single" else SIGNAL_COUNT
        message_rate = rate / per_message
        streams = 4 if workload == "single" else 1
        base_ms = int((datetime.now(UTC) - timedelta(minutes=40)).timestamp() * 1000)
        total_messages = int(message_rate * seconds)
        plan = json_streams(workload, plant.equipment_path, total_messages, streams, base_ms)
        feeders = []
        stop = threading.Event()

        def feed(topic: str, lines: list[bytes]) -> None:
            publisher = subprocess.Popen(
                ["mosquitto_pub", "-p", str(broker.port), "-t", topic, "-l", "-q", "1"],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            assert publisher.stdin is not None
            per_stream_rate = message_rate / streams
            started = time.monotonic()
            for index in range(0, len(lines), 10):
                publisher.stdin.write(b"\n".join(lines[index : index + 10]) + b"\n")
                publisher.stdin.flush()
                ahead_s = (index + 10) / per_stream_rate - (time.monotonic() - started)
                if ahead_s > 0:
                    time.sleep(ahead_s)
                if stop.is_set():
                    break
            publisher.stdin.close()
            publisher.wait()

        for topic, lines in plan:
            feeders.append(threading.Thread(target=feed, args=(topic, lines)))
        probe = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-probe-{tag}", protocol=mqtt.MQTTv5
        )
        probe.connect("127.0.0.1", broker.port)
        probe.loop_start()
        probe_topic = f"{UNS_ROOT}/{plant.equipment_path}/{PROBE}"
        probe_id = plant.signal_ids[PROBE]
        for feeder in feeders:
            feeder.start()
        time.sleep(2.0)  # warm up before sampling
        sent: list[int] = []
        seen: dict[int, float] = {}
        last_ts = datetime.now(UTC) - timedelta(minutes=1)
        next_probe = time.monotonic()
        deadline = time.monotonic() + seconds - 2.0
        cursor = connection.cursor()
        while time.monotonic() < deadline or (sent and len(seen) < len(sent)):
            now = time.monotonic()
            if now >= next_probe and now < deadline:
                ts_ms = int(time.time() * 1000)
                probe.publish(probe_topic, b'{"ts":%d,"value":1}' % ts_ms, qos=1)
                sent.append(ts_ms)
                next_probe = now + 0.05
            cursor.execute(
                "SELECT ts FROM workers_reading WHERE signal_id = %s AND ts > %s ORDER BY ts",
                [probe_id, last_ts],
            )
            observed = time.time()
            for (ts,) in cursor.fetchall():
                seen[round(ts.timestamp() * 1000)] = observed
                last_ts = ts
            if time.monotonic() > deadline + 30:
                break
            time.sleep(0.005)
        stop.set()
        for feeder in feeders:
            feeder.join()
        probe.disconnect()
        probe.loop_stop()
        latencies = [seen[ts_ms] - ts_ms / 1000 for ts_ms in sent if ts_ms in seen]
        missing = len(sent) - len(latencies)
        if missing:
            print(f"  ({missing} of {len(sent)} probes not seen within 30 s)")
        return latencies
    finally:
        for child in children:
            child.stop()
        _redis_forget(tag)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workloads", default="single,batch,sparkplug")
    parser.add_argument(
        "--messages",
        type=int,
        default=200_000,
        help="single-reading messages per single run (batch and Sparkplug: this / 40)",
    )
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--latency-rate", type=float, default=10_000)
    parser.add_argument("--latency-seconds", type=float, default=15)
    parser.add_argument("--latency-workloads", default="single,batch")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--repeats", type=int, default=1, help="runs per workload (alternating)")
    args = parser.parse_args()
    for tool in ("mosquitto", "mosquitto_pub"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not on PATH (apt-get install mosquitto mosquitto-clients)")
    # SIGTERM runs the clean-ups (children, broker, tables) like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))
    _django_setup()
    _database_prepare()
    plant = _plant()
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, worker concurrency "
        f"{args.concurrency}, load average at start {os.getloadavg()[0]:.2f}"
    )
    directory = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    broker = Broker(directory)
    try:
        for workload in [item for item in args.workloads.split(",") if item]:
            messages = args.messages if workload == "single" else max(args.messages // 40, 100)
            pipeline_rates: list[float] = []
            baseline_rates: list[float] = []
            for repeat in range(args.repeats):
                load = os.getloadavg()[0]
                pipeline = _run_pipeline(
                    workload, plant, broker, messages, args.concurrency, directory
                )
                pipeline_rates.append(pipeline.rate)
                print(
                    f"{workload:9s} #{repeat + 1} pipeline {pipeline.rate:10,.0f} readings/s "
                    f"({pipeline.readings:,} in {pipeline.elapsed_s:.2f} s; publishers done at "
                    f"{pipeline.publish_s:.2f} s; load {load:.2f})",
                    flush=True,
                )
                if args.skip_baseline:
                    continue
                load = os.getloadavg()[0]
                baseline = _run_baseline(workload, plant, broker, messages, directory)
                baseline_rates.append(baseline.rate)
                print(
                    f"{workload:9s} #{repeat + 1} baseline {baseline.rate:10,.0f} readings/s "
                    f"({baseline.readings:,} in {baseline.elapsed_s:.2f} s; publishers done at "
                    f"{baseline.publish_s:.2f} s; load {load:.2f}); "
                    f"ratio {pipeline.rate / baseline.rate:.2f}",
                    flush=True,
                )
            summary = (
                f"{workload:9s} median pipeline {statistics.median(pipeline_rates):,.0f} "
                f"readings/s (range {min(pipeline_rates):,.0f}–{max(pipeline_rates):,.0f})"
            )
            if baseline_rates:
                summary += (
                    f", baseline {statistics.median(baseline_rates):,.0f} "
                    f"(range {min(baseline_rates):,.0f}–{max(baseline_rates):,.0f}), "
                    "ratio of medians "
                    f"{statistics.median(pipeline_rates) / statistics.median(baseline_rates):.2f}"
                )
            print(summary, flush=True)
        for workload in [item for item in args.latency_workloads.split(",") if item]:
            load = os.getloadavg()[0]
            latencies = _run_latency(
                workload,
                plant,
                broker,
                args.latency_rate,
                args.latency_seconds,
                args.concurrency,
                directory,
            )
            if latencies:
                print(
                    f"{workload:9s} latency at {args.latency_rate:,.0f} readings/s: "
                    f"p50 {statistics.median(latencies) * 1000:.0f} ms, "
                    f"p99 {_percentile(latencies, 0.99) * 1000:.0f} ms, "
                    f"max {max(latencies) * 1000:.0f} ms ({len(latencies)} probes; "
                    f"load {load:.2f})",
                    flush=True,
                )
    finally:
        broker.stop()
        _tables_empty()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
