"""Benchmark: a service call → the websocket frame at N connected clients (one ASGI process).

Run:  .venv/bin/python -m bench.live.fanout                       (100 clients, ingest load)
      .venv/bin/python -m bench.live.fanout --sweep 100,250,500,1000 --background ingest
      .venv/bin/python -m bench.live.fanout --background none --events 50

What is measured. One daphne process serves the ASGI app on a free port. N websocket
clients (in a separate process, asyncio + autobahn, the websocket library daphne already
brings) log in with a supervisor's session, subscribe to ``site.<id>`` and, one in each
equipment group ``equipment.<k>``, wait. The bench then calls a real service,
``autonomy.services.guardrails.action_propose`` (a transaction, an audit event and the
broadcast after commit), ``--events`` times at ``--rate-hz``. The latency of a frame is the
time from just before the service call to its arrival at a client (same clock); every client
gets every event, so each call yields N samples.

Background load (``--background``):

- ``ingest`` (default): the real telemetry pipeline at ``--ingest-rate`` readings/s: the
  ingest benchmark's MQTT publisher (batch UNS messages of 100 readings) → Mosquitto →
  ``manage.py mqtt_bridge`` → Celery ``ingest`` worker → PostgreSQL, for 10 equipment × 100
  signals registered in the bench database;
- ``broadcast``: ``--broadcast-rate`` channel-layer messages/s of ``current_values`` to the
  equipment groups the clients also listen to (what equipment pages get);
- ``none``.

Everything runs on this machine (PostgreSQL, Redis, Mosquitto, daphne, the worker, the
clients), so the figures include their competition for the CPU. The bench uses its own
database (``--database-url``, created and migrated when missing) and a unique MQTT root.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATABASE_URL = "postgres://postgres@localhost:5432/mes_livebench"
DEFAULT_REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379/9")
EQUIPMENT_GROUPS = 100
WAVE = 25
P99_TARGET_MS = 250.0


def _configure(database_url: str, redis_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["REDIS_URL"] = redis_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mes_site.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _database_ensure(database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if exists.fetchone() is None:
            connection.execute(f'CREATE DATABASE "{name}"')


def _plant_prepare(with_ingest_topology: bool) -> dict[str, Any]:
    """Migrate, load the demo plant, autonomy off (proposals stay proposals), the topology."""
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from production import models as m
    from workers.demo_plant import demo_plant_load

    call_command("migrate", verbosity=0)
    demo_plant_load()
    site = m.Site.objects.get(code="plant1")
    m.Site.objects.filter(pk=site.pk).update(autonomy_mode="off")
    machines = list(
        m.Equipment.objects.filter(cell__line__area__site=site)
        .order_by("id")
        .values_list("id", flat=True)
    )
    if with_ingest_topology:
        _topology_register(m)
    user = get_user_model().objects.get(username="supervisor")
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    # A supervisor's session counts once the second factor is given (mes_site.mfa).
    device, _ = TOTPDevice.objects.get_or_create(
        user=user, name="bench", defaults={"confirmed": True}
    )
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.create()
    return {"site": site, "session_key": session.session_key, "equipment_ids": machines}


def _topology_register(m) -> None:
    """10 equipment × 100 number signals at bench/site1/area1/line1/cellNNN/eqNNN."""
    enterprise, _ = m.Enterprise.objects.get_or_create(code="bench", defaults={"name": "Bench"})
    site, _ = m.Site.objects.get_or_create(
        enterprise=enterprise, code="site1", defaults={"name": "Bench site"}
    )
    area, _ = m.Area.objects.get_or_create(site=site, code="area1", defaults={"name": "Area"})
    line, _ = m.Line.objects.get_or_create(area=area, code="line1", defaults={"name": "Line"})
    for index in range(10):
        cell, _ = m.Cell.objects.get_or_create(
            line=line, code=f"cell{index:03d}", defaults={"name": f"Cell {index}"}
        )
        machine, _ = m.Equipment.objects.get_or_create(
            cell=cell, code=f"eq{index:03d}", defaults={"name": f"Bench {index}"}
        )
        existing = set(machine.signals.values_list("name", flat=True))
        m.Signal.objects.bulk_create(
            m.Signal(equipment=machine, name=f"s{number:03d}", sample_period_s=0.1)
            for number in range(100)
            if f"s{number:03d}" not in existing
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(command: list[str], environment: dict[str, str], log_name: str) -> subprocess.Popen:
    log_dir = ROOT / "var" / "bench-live"
    log_dir.mkdir(parents=True, exist_ok=True)
    log = (log_dir / f"{log_name}.log").open("wb")
    return subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
    )


def _stop(process: subprocess.Popen | None, how: int = signal.SIGTERM) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(how)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def _wait_http(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout_s} s")


# --- clients (a separate process) --------------------------------------------------------


def _clients_run(
    port: int,
    session_key: str,
    site_id: int,
    equipment_ids: list[int],
    count: int,
    ready: Any,
    stop: Any,
    results: Any,
    received: Any,
) -> None:
    """Connect ``count`` clients, report readiness, collect event arrival times until stop."""
    from autobahn.asyncio.websocket import WebSocketClientFactory, WebSocketClientProtocol

    samples: list[tuple[int, float, float]] = []
    background_frames = [0]
    subscribed = [0]
    failures: list[str] = []

    class BenchClient(WebSocketClientProtocol):
        targets: list[str] = []

        def onMessage(self, payload: bytes, isBinary: bool) -> None:
            arrived = time.time()
            frame = json.loads(payload)
            kind = frame.get("type")
            if kind == "event":
                if frame["event"] == "proposed_action":
                    samples.append((frame["payload"]["id"], frame["sent_at_ms"] / 1000, arrived))
                    received.value += 1
                else:
                    background_frames[0] += 1
            elif kind == "welcome":
                message = {"type": "subscribe", "targets": self.targets, "snapshot": False}
                self.sendMessage(json.dumps(message).encode())
            elif kind == "subscribed":
                subscribed[0] += 1
            elif kind == "error":
                failures.append(frame.get("message", "error"))
                subscribed[0] += 1  # answered, if not as wished

    async def main() -> None:
        loop = asyncio.get_running_loop()
        headers = {"Origin": f"http://127.0.0.1:{port}", "Cookie": f"sessionid={session_key}"}
        transports = []
        # Waves of clients, each wave subscribed before the next connects (as tablets and
        # browsers come online over time, not all in one instant).
        for wave_start in range(0, count, WAVE):
            for index in range(wave_start, min(count, wave_start + WAVE)):
                factory = WebSocketClientFactory(f"ws://127.0.0.1:{port}/ws/live/", headers=headers)
                factory.setProtocolOptions(openHandshakeTimeout=60, closeHandshakeTimeout=5)
                group = f"equipment.{equipment_ids[index % len(equipment_ids)]}"
                factory.protocol = type(
                    "Client", (BenchClient,), {"targets": [f"site.{site_id}", group]}
                )
                try:
                    transport, _ = await loop.create_connection(factory, "127.0.0.1", port)
                except OSError as error:
                    failures.append(f"connect: {error}")
                    continue
                transports.append(transport)
            wave_deadline = time.monotonic() + 60
            while subscribed[0] < 2 * min(count, wave_start + WAVE):
                if time.monotonic() > wave_deadline:
                    break
                await asyncio.sleep(0.02)
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        for transport in transports:
            transport.close()

    cpu_started = time.process_time()
    asyncio.run(main())
    results.put(
        {
            "client_cpu_s": time.process_time() - cpu_started,
            "samples": samples,
            "subscribed": subscribed[0],
            "background_frames": background_frames[0],
            "failures": failures[:5],
        }
    )


# --- background load ---------------------------------------------------------------------


class Background:
    def __init__(self, kind: str, environment: dict[str, str], args: argparse.Namespace):
        self.kind = kind
        self.environment = environment
        self.args = args
        self.processes: list[subprocess.Popen] = []
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.sent = 0
        self.note = ""

    def start(self, equipment_ids: list[int], duration_s: float) -> None:
        if self.kind == "ingest":
            self._ingest_start(duration_s)
        elif self.kind == "broadcast":
            self.thread = threading.Thread(
                target=self._broadcast_loop, args=(equipment_ids,), daemon=True
            )
            self.thread.start()

    def _ingest_start(self, duration_s: float) -> None:
        root = f"livebench{uuid.uuid4().hex[:8]}"
        environment = {**self.environment, "MQTT_UNS_ROOT": root}
        python = sys.executable
        self.processes.append(
            _start(
                [
                    str(Path(python).parent / "celery"),
                    "-A",
                    "mes_site",
                    "worker",
                    "-Q",
                    "ingest",
                    "--concurrency",
                    "1",
                    "--loglevel",
                    "WARNING",
                    "-n",
                    f"{root}@%h",
                ],
                environment,
                "worker",
            )
        )
        self.processes.append(
            _start(
                [
                    python,
                    "manage.py",
                    "mqtt_bridge",
                    "--no-sparkplug",
                    "--client-id",
                    f"{root}-bridge",
                    "--stats-interval",
                    "5",
                ],
                environment,
                "bridge",
            )
        )
        time.sleep(4)  # the worker and the bridge connect
        self.processes.append(
            _start(
                [
                    python,
                    "-m",
                    "bench.ingest.publisher",
                    "--mode",
                    "batch",
                    "--rate",
                    str(self.args.ingest_rate),
                    "--duration-s",
                    str(duration_s),
                    "--root",
                    root,
                    "--equipment",
                    "10",
                    "--signals",
                    "100",
                    "--batch-size",
                    "100",
                ],
                environment,
                "publisher",
            )
        )
        self.note = f"MQTT root {root}; logs in var/bench-live/"

    def _broadcast_loop(self, equipment_ids: list[int]) -> None:
        from live.broadcast import send_now_async

        async def loop() -> None:
            period_s = 1.0 / self.args.broadcast_rate
            next_at = time.monotonic()
            index = 0
            while not self.stop_event.is_set():
                equipment_id = equipment_ids[index % len(equipment_ids)]
                await send_now_async(
                    [f"equipment.{equipment_id}"],
                    "current_values",
                    {"equipment_id": equipment_id, "values": {"temperature": 40 + index % 7}},
                )
                self.sent += 1
                index += 1
                next_at += period_s
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))

        asyncio.run(loop())

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=5)
        for process in reversed(self.processes):
            _stop(process)

    def ingest_rows(self, since) -> int | None:
        if self.kind != "ingest":
            return None
        from workers.models import Reading  # Django is set up only once the bench has started

        readings = Reading.objects.filter(
            ts__gte=since, signal__equipment__uns_path__startswith="bench/"
        )
        return readings.count()


# --- one measurement ---------------------------------------------------------------------


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(0, math.ceil(share * len(ordered)) - 1)
    return ordered[rank]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(
    *,
    clients: int,
    port: int,
    plant: dict[str, Any],
    args: argparse.Namespace,
    daphne_pid: int,
) -> dict[str, Any]:
    from autonomy.services import guardrails

    context = multiprocessing.get_context("spawn")
    ready, stop, results = context.Event(), context.Event(), context.Queue()
    received = context.Value("q", 0, lock=False)
    client_process = context.Process(
        target=_clients_run,
        args=(
            port,
            plant["session_key"],
            plant["site"].pk,
            plant["equipment_ids"][:EQUIPMENT_GROUPS],
            clients,
            ready,
            stop,
            results,
            received,
        ),
    )
    client_process.start()
    if not ready.wait(timeout=900):
        stop.set()
        client_process.join(timeout=10)
        raise RuntimeError(f"{clients} clients did not connect within 900 s")
    time.sleep(args.settle_s)
    daphne_cpu_started = _cpu_seconds(daphne_pid)
    measure_started = time.monotonic()
    sent_at: dict[int, float] = {}
    period_s = 1.0 / args.rate_hz
    next_at = time.monotonic()
    for number in range(args.events):
        started = time.time()
        action = guardrails.action_propose(
            site=plant["site"],
            kind="reprioritise",
            target=f"bench event {number}",
            payload={"work_order_id": 0, "priority": 1},
            explanation="live fan-out benchmark",
        )
        sent_at[action.pk] = started
        next_at += period_s
        time.sleep(max(0.0, next_at - time.monotonic()))
    expected = clients * args.events
    deadline = time.monotonic() + args.grace_s  # late frames still count
    while received.value < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    daphne_cpu_s = _cpu_seconds(daphne_pid) - daphne_cpu_started
    outcome = results.get(timeout=60)
    client_process.join(timeout=30)
    if args.dump:
        Path(args.dump).write_text(json.dumps({"sent_at": sent_at, "samples": outcome["samples"]}))
    latencies_ms = [
        (arrived - sent_at[action_id]) * 1000.0
        for action_id, _, arrived in outcome["samples"]
        if action_id in sent_at
    ]
    # Split: service call until the layer send (commit, audit, broadcast) and after it.
    to_layer_ms = [
        (layer_at - sent_at[action_id]) * 1000.0
        for action_id, layer_at, _ in outcome["samples"]
        if action_id in sent_at
    ]
    from_layer_ms = [
        (arrived - layer_at) * 1000.0
        for action_id, layer_at, arrived in outcome["samples"]
        if action_id in sent_at
    ]
    return {
        "clients": clients,
        "subscribed": outcome["subscribed"],
        "frames": len(latencies_ms),
        "missing": expected - len(latencies_ms),
        "background_frames": outcome["background_frames"],
        "p50_ms": _percentile(latencies_ms, 0.50),
        "p90_ms": _percentile(latencies_ms, 0.90),
        "p99_ms": _percentile(latencies_ms, 0.99),
        "max_ms": max(latencies_ms) if latencies_ms else math.nan,
        "mean_ms": statistics.fmean(latencies_ms) if latencies_ms else math.nan,
        "failures": outcome["failures"],
        "to_layer_p50_ms": _percentile(to_layer_ms, 0.50),
        "from_layer_p50_ms": _percentile(from_layer_ms, 0.50),
        "from_layer_p99_ms": _percentile(from_layer_ms, 0.99),
        "daphne_cpu_share": daphne_cpu_s / (time.monotonic() - measure_started),
        "client_cpu_s": outcome["client_cpu_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--sweep", default="", help="client counts, e.g. 100,250,500,1000")
    parser.add_argument("--events", type=int, default=60, help="service calls per measurement")
    parser.add_argument("--rate-hz", type=float, default=5.0, help="service calls per second")
    parser.add_argument("--background", choices=["ingest", "broadcast", "none"], default="ingest")
    parser.add_argument("--ingest-rate", type=float, default=10_000, help="readings/s")
    parser.add_argument("--broadcast-rate", type=float, default=200, help="messages/s")
    parser.add_argument("--settle-s", type=float, default=3.0, help="wait before measuring")
    parser.add_argument(
        "--grace-s", type=float, default=10.0, help="wait for late frames after the last call"
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--profile", default="", help="write a cProfile of daphne here")
    parser.add_argument("--dump", default="", help="write the raw samples (JSON) here")
    parser.add_argument(
        "--freeze-gc", action="store_true", help="serve bench.live.asgi_frozen (gc.freeze())"
    )
    args = parser.parse_args()
    counts = [int(item) for item in args.sweep.split(",") if item.strip()] or [args.clients]

    load_before = os.getloadavg()
    _database_ensure(args.database_url)
    _configure(args.database_url, args.redis_url)
    if args.background == "ingest":
        from django.core.management import get_commands

        if "mqtt_bridge" not in get_commands() or not (ROOT / "bench/ingest/publisher.py").exists():
            print("no MQTT bridge or ingest publisher here: falling back to --background broadcast")
            args.background = "broadcast"
    plant = _plant_prepare(with_ingest_topology=args.background == "ingest")
    environment = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "DATABASE_CONN_MAX_AGE": "60",
        "LOG_LEVEL": "WARNING",
    }
    port = _free_port()
    profile = ["-m", "cProfile", "-o", args.profile] if args.profile else []
    daphne = _start(
        [
            sys.executable,
            *profile,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "bench.live.asgi_frozen:application" if args.freeze_gc else "mes_site.asgi:application",
        ],
        environment,
        "daphne",
    )
    background = Background(args.background, environment, args)
    per_run_s = args.events / args.rate_hz + args.settle_s + 30
    from django.utils import timezone

    started = timezone.now()
    rows: list[dict[str, Any]] = []
    try:
        _wait_http(f"http://127.0.0.1:{port}/healthz", 30)
        background.start(plant["equipment_ids"][:EQUIPMENT_GROUPS], per_run_s * len(counts) + 30)
        if args.background == "ingest":
            time.sleep(5)  # the pipeline reaches its rate
        for count in counts:
            rows.append(
                _measure(clients=count, port=port, plant=plant, args=args, daphne_pid=daphne.pid)
            )
            row = rows[-1]
            print(
                f"{row['clients']:>5} clients: p50 {row['p50_ms']:6.1f} ms  p90 "
                f"{row['p90_ms']:6.1f} ms  p99 {row['p99_ms']:6.1f} ms  max "
                f"{row['max_ms']:6.1f} ms  frames {row['frames']} (missing {row['missing']}; "
                f"{row['subscribed'] // 2} clients subscribed); "
                f"call→layer p50 {row['to_layer_p50_ms']:.1f} ms, layer→client p50 "
                f"{row['from_layer_p50_ms']:.1f} / p99 {row['from_layer_p99_ms']:.1f} ms; "
                f"daphne CPU {row['daphne_cpu_share']:.0%} of a core",
                flush=True,
            )
    finally:
        elapsed_s = (timezone.now() - started).total_seconds()
        stored = background.ingest_rows(started)
        background.stop()
        _stop(daphne, signal.SIGINT)  # daphne stops cleanly (and a profile is written)
    print()
    print(
        f"background: {args.background}"
        + (
            f" — {stored:,} readings stored in {elapsed_s:.0f} s "
            f"({stored / elapsed_s:,.0f}/s; target {args.ingest_rate:,.0f}/s) {background.note}"
            if stored is not None
            else ""
        )
        + (f" — {background.sent:,} messages sent" if args.background == "broadcast" else "")
    )
    print(f"events: {args.events} service calls at {args.rate_hz} Hz per measurement")
    print(f"load average before the run: {load_before}; after: {os.getloadavg()}")
    print("| clients | frames | missing | p50 ms | p90 ms | p99 ms | max ms | daphne CPU |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['clients']} | {row['frames']} | {row['missing']} | {row['p50_ms']:.1f} | "
            f"{row['p90_ms']:.1f} | {row['p99_ms']:.1f} | {row['max_ms']:.1f} | "
            f"{row['daphne_cpu_share']:.0%} |"
        )
        if row["failures"]:
            print(f"  client errors: {row['failures']}")
    holding = [
        row["clients"] for row in rows if row["p99_ms"] < P99_TARGET_MS and not row["missing"]
    ]
    print(
        f"largest client count with p99 < {P99_TARGET_MS:.0f} ms and no frame lost: "
        + (str(max(holding)) if holding else "none of those measured")
    )


if __name__ == "__main__":
    main()
