"""List endpoints of the REST API under a steady request rate, over a big database.

Run from the repository root (PostgreSQL and Redis must be up):

    .venv/bin/python -m bench.api [--work-orders 100000] [--audit-events 1000000]
        [--rate 200] [--duration-s 30]

It uses its own database (``--database-url``, default ``mes_apibench``; created and migrated
if missing) and fills it once: one site with two lines, ``--work-orders`` work orders and
``--audit-events`` audit events (bulk inserts in batches; a second run with the same sizes
reuses them). The app runs on a free local port, read by ``--clients`` supervisors with an
API token each (by default enough that none passes the user rate limit), under gunicorn
(``--workers`` WSGI processes, default 4; pinned in requirements-bench.txt) or under daphne
(``--server daphne``: the project's ASGI server as in ``make run``, one process, which runs
the synchronous views one at a time and cannot serve 200 requests/s).

Load: open loop — request *i* is sent at ``start + i / rate`` whether or not the earlier ones
have answered, round-robin over the list endpoints below, so a slow answer does not slow the
sender down (no coordinated omission). The client is a small asyncio HTTP/1.1 one with
keep-alive connections (httpx's pool could not keep up with 200 requests/s here). Latency
runs from the planned send time to the last byte of the answer. Figures per endpoint and
overall: p50/p95/p99, errors (non-200 or transport errors). ``make bench`` runs it with small sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

from bench.django_setup import ROOT, configure

DEFAULT_DATABASE_URL = "postgres://postgres@localhost:5432/mes_apibench"
DEFAULT_REDIS_URL = "redis://localhost:6379/8"
ENDPOINTS = [
    "/api/production/work-orders/",
    "/api/production/work-orders/?state=released",
    "/api/traceability/audit-events/",
    "/api/traceability/audit-events/?action=release",
    "/api/production/operations/",
    "/api/production/equipment/",
]
BATCH = 20_000
# Requests per minute of one bench client: under the default user rate limit (3000/minute),
# so that the load is spread over clients as a plant's would be and none is throttled.
CLIENT_REQUESTS_PER_MINUTE = 2_400


def database_fill(work_order_count: int, audit_event_count: int, clients: int = 1) -> list[str]:
    """Fill the bench database (idempotent for the same sizes); return the API token keys of
    ``clients`` supervisors of the bench site."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.contrib.contenttypes.models import ContentType

    from production import models as m
    from traceability.models import AuditEvent
    from traceability.services.api_tokens import api_token_create

    enterprise, _ = m.Enterprise.objects.get_or_create(code="bench", defaults={"name": "Bench"})
    site, _ = m.Site.objects.get_or_create(
        enterprise=enterprise, code="bench", defaults={"name": "Bench site"}
    )
    area, _ = m.Area.objects.get_or_create(site=site, code="area", defaults={"name": "Area"})
    lines = [
        m.Line.objects.get_or_create(area=area, code=code, defaults={"name": code})[0]
        for code in ("L1", "L2")
    ]
    product, _ = m.Product.objects.get_or_create(code="BENCH", defaults={"name": "Bench part"})
    routing, _ = m.Routing.objects.get_or_create(product=product, version="1")
    now = datetime(2026, 6, 1, tzinfo=UTC)
    states = ["planned", "released", "in_progress", "completed"]
    existing = m.WorkOrder.objects.count()
    for start in range(existing, work_order_count, BATCH):
        m.WorkOrder.objects.bulk_create(
            m.WorkOrder(
                number=f"WO-{index:07d}",
                product=product,
                routing=routing,
                quantity=10 + index % 90,
                due_at=now + timedelta(minutes=index),
                priority=1 + index % 9,
                state=states[index % len(states)],
                site=site,
                line=lines[index % 2],
            )
            for index in range(start, min(start + BATCH, work_order_count))
        )
    content_type = ContentType.objects.get_for_model(m.WorkOrder)
    actions = ["release", "start", "complete", "pause"]
    existing = AuditEvent.objects.count()
    for start in range(existing, audit_event_count, BATCH):
        AuditEvent.objects.bulk_create(
            AuditEvent(
                at=now + timedelta(seconds=index),
                actor_name="bench",
                content_type=content_type,
                object_id=str(index % max(work_order_count, 1)),
                object_repr=f"WO-{index % max(work_order_count, 1):07d}",
                action=actions[index % len(actions)],
                old_value="planned",
                new_value="released",
            )
            for index in range(start, min(start + BATCH, audit_event_count))
        )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    keys = []
    for index in range(clients):
        username = "bench-supervisor" + (f"-{index + 1}" if index else "")
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.groups.set([Group.objects.get(name="supervisor")])
        scope, _ = m.PlantScope.objects.get_or_create(user=user)
        scope.sites.set([site])
        # a fresh day-long API token per run (keys are stored hashed, an old one is unknown)
        keys.append(api_token_create(actor=user, owner=user, name="bench", ttl_days=1)[1])
    return keys


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_start(port: int, server: str, workers: int) -> subprocess.Popen:
    binaries = os.path.dirname(sys.executable)
    if server == "daphne":
        command = [f"{binaries}/daphne", "-b", "127.0.0.1", "-p", str(port)]
        command += ["mes_site.asgi:application"]
    else:  # gunicorn: WSGI worker processes (the views are synchronous Django)
        command = [f"{binaries}/gunicorn", "-b", f"127.0.0.1:{port}", "-w", str(workers)]
        command += ["--keep-alive", "30", "django.core.wsgi:get_wsgi_application()"]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "mes_site.settings"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return process
        except (urllib.error.URLError, OSError):
            pass
        if process.poll() is not None:
            break
        time.sleep(0.2)
    process.terminate()
    raise SystemExit(f"{server} did not answer on port {port} within 60 s")


def server_cpu_s(process: subprocess.Popen) -> float:
    """CPU seconds (user + system) used so far by the server and its worker processes (Linux
    /proc; 0 elsewhere)."""
    ticks_per_s = os.sysconf("SC_CLK_TCK")
    pids = [process.pid]
    try:
        with open(f"/proc/{process.pid}/task/{process.pid}/children") as children:
            pids += [int(pid) for pid in children.read().split()]
    except OSError:
        return 0.0
    total_ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total_ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return total_ticks / ticks_per_s


class Connections:
    """Keep-alive HTTP/1.1 connections to the server: an idle one is reused, a new one is
    opened when all are busy (the sender never waits for a connection)."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def get(self, path: str, token: str) -> int:
        if self.idle:
            reader, writer = self.idle.pop()
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        headers = f"Host: {self.host}:{self.port}\r\nAuthorization: Token {token}\r\n"
        writer.write(f"GET {path} HTTP/1.1\r\n{headers}\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        fields = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        length = int(next((v for k, v in fields.items() if k.lower() == "content-length"), 0))
        await reader.readexactly(length)
        if any(k.lower() == "connection" and v.lower() == "close" for k, v in fields.items()):
            writer.close()  # gunicorn's sync workers answer one request per connection
        else:
            self.idle.append((reader, writer))
        return status

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


async def load(
    host: str, port: int, tokens: list[str], rate: float, duration_s: float, on_start
) -> dict:
    """Open-loop load; returns latencies (ms) and error counts per endpoint."""
    latencies: dict[str, list[float]] = {endpoint: [] for endpoint in ENDPOINTS}
    errors: dict[str, int] = dict.fromkeys(ENDPOINTS, 0)
    connections = Connections(host, port)

    async def one(endpoint: str, token: str, planned_at: float) -> None:
        try:
            status = await connections.get(endpoint, token)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            errors[endpoint] += 1
            return
        if status != 200:
            errors[endpoint] += 1
        latencies[endpoint].append((time.perf_counter() - planned_at) * 1000.0)

    for endpoint in ENDPOINTS:  # warm up: each once, not measured
        await connections.get(endpoint, tokens[0])
    tasks = []
    on_start()
    start = time.perf_counter()
    for index in range(int(rate * duration_s)):
        planned_at = start + index / rate
        delay = planned_at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        endpoint = ENDPOINTS[index % len(ENDPOINTS)]
        token = tokens[index % len(tokens)]
        tasks.append(asyncio.create_task(one(endpoint, token, planned_at)))
    await asyncio.gather(*tasks)
    connections.close()
    return {"latencies": latencies, "errors": errors, "started_at": start}


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-orders", type=int, default=2_000)
    parser.add_argument("--audit-events", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--duration-s", type=float, default=10.0)
    parser.add_argument("--server", choices=["gunicorn", "daphne"], default="gunicorn")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument(
        "--clients",
        type=int,
        default=0,
        help="API clients (a supervisor and token each); default: enough that none passes "
        "the user rate limit (API_THROTTLE_USER_RATE, 3000/minute)",
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    args = parser.parse_args()
    # the app refuses to start without a real key (DEBUG is off, as in production)
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    configure(args.database_url, args.redis_url)

    fill_started = time.perf_counter()
    clients = args.clients or max(1, math.ceil(args.rate * 60 / CLIENT_REQUESTS_PER_MINUTE))
    tokens = database_fill(args.work_orders, args.audit_events, clients)
    print(
        f"database: {args.work_orders:,} work orders, {args.audit_events:,} audit events "
        f"(ready in {time.perf_counter() - fill_started:.1f} s)"
    )
    port = free_port()
    server = server_start(port, args.server, args.workers)
    cpu_at_start: list[float] = []
    try:
        load_before = os.getloadavg()[0]
        result = asyncio.run(
            load(
                "127.0.0.1",
                port,
                tokens,
                args.rate,
                args.duration_s,
                on_start=lambda: cpu_at_start.append(server_cpu_s(server)),
            )
        )
        served_s = time.perf_counter() - result["started_at"]
        server_cpu_used_s = server_cpu_s(server) - cpu_at_start[0]
        load_after = os.getloadavg()[0]
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(
        f"open loop {args.rate:.0f} req/s for {args.duration_s:.0f} s, {args.server}"
        f"{f' ({args.workers} workers)' if args.server == 'gunicorn' else ' (1 process)'}, "
        f"{clients} clients; "
        f"load average {load_before:.1f} → {load_after:.1f} on {os.cpu_count()} cores"
    )
    print(f"{'endpoint':48} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}")
    everything: list[float] = []
    for endpoint in ENDPOINTS:
        values = result["latencies"][endpoint]
        everything += values
        print(
            f"{endpoint:48} {len(values):6d} {percentile(values, 0.50):8.1f} "
            f"{percentile(values, 0.95):8.1f} {percentile(values, 0.99):8.1f} "
            f"{result['errors'][endpoint]:7d}"
        )
    print(
        f"{'all':48} {len(everything):6d} {percentile(everything, 0.50):8.1f} "
        f"{percentile(everything, 0.95):8.1f} {percentile(everything, 0.99):8.1f} "
        f"{sum(result['errors'].values()):7d}  (mean {statistics.fmean(everything or [0]):.1f})"
    )
    answered = len(everything)
    print(
        f"served {answered / served_s:.1f} requests/s ({answered} in {served_s:.1f} s); "
        f"server CPU {server_cpu_used_s * 1000 / max(answered, 1):.1f} ms per request"
    )


if __name__ == "__main__":
    main()
