"""What one list request of the REST API costs inside the app: CPU ms, wall ms and SQL queries.

Run from the repository root, after ``bench.api`` has filled its database:

    .venv/bin/python -m bench.api_profile [--requests 200] [--profile /api/production/work-orders/]

Each list endpoint of ``bench.api`` is called through Django's WSGI handler in this process —
the whole middleware stack, the token authentication, throttles, permissions, scope,
filters, pagination with its bounded count, serializers and rendering, as under gunicorn, but
without the HTTP server and the load generator. CPU ms is this process's CPU time per request
(``time.process_time``: Django and DRF, not PostgreSQL's or Redis's), the figure that decides
how many requests per second a core serves, whatever else the machine runs; wall ms adds the
waits on PostgreSQL and Redis. ``--profile PATH`` prints cProfile's top functions for one
endpoint.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import secrets
import statistics
import time
from urllib.parse import urlsplit

from bench.api import DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, ENDPOINTS, database_fill
from bench.django_setup import configure


def wsgi_environ(url: str, token: str) -> dict:
    parts = urlsplit(url)
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": parts.path,
        "QUERY_STRING": parts.query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_AUTHORIZATION": f"Token {token}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def call(application, url: str, token: str) -> tuple[str, bytes]:
    statuses: list[str] = []
    result = application(wsgi_environ(url, token), lambda status, headers: statuses.append(status))
    try:
        body = b"".join(result)
    finally:
        result.close()  # request_finished, as a server does
    return statuses[0], body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="timed requests per endpoint")
    parser.add_argument("--profile", help="print cProfile's top functions for this endpoint")
    parser.add_argument("--profile-out", help="with --profile: also write cProfile's raw stats")
    parser.add_argument(
        "--show-queries", action="store_true", help="print the SQL of one request to each list"
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    configure(args.database_url, args.redis_url)
    # Imported after configure(): Django is set up there.
    from django.core.wsgi import get_wsgi_application
    from django.db import connection

    token = database_fill(0, 0)[0]  # the filled database as it is; a fresh token
    application = get_wsgi_application()
    print(f"{'endpoint':48} {'queries':>7} {'CPU ms':>7} {'wall ms':>8} {'bytes':>7}")
    cpu_all: list[float] = []
    queries_of: dict[str, list[str]] = {}
    for url in ENDPOINTS:
        for _ in range(5):  # warm up: connections, caches, imports
            status, body = call(application, url, token)
        if not status.startswith("200"):
            raise SystemExit(f"{url}: {status} {body[:300]!r}")
        queries = queries_of[url] = []

        def counted(execute, sql, params, many, context, queries=queries):
            queries.append(sql)
            return execute(sql, params, many, context)

        # counted by a wrapper: a request's start empties connection.queries
        with connection.execute_wrapper(counted):
            call(application, url, token)
        cpu_ms: list[float] = []
        wall_ms: list[float] = []
        for _ in range(args.requests):
            cpu_started, wall_started = time.process_time(), time.perf_counter()
            call(application, url, token)
            cpu_ms.append((time.process_time() - cpu_started) * 1000)
            wall_ms.append((time.perf_counter() - wall_started) * 1000)
        cpu_all += cpu_ms
        print(
            f"{url:48} {len(queries):7d} {statistics.median(cpu_ms):7.2f} "
            f"{statistics.median(wall_ms):8.2f} {len(body):7d}"
        )
    print(f"{'all (median CPU ms per request)':48} {'':7} {statistics.median(cpu_all):7.2f}")
    if args.show_queries:
        for url, queries in queries_of.items():
            print(f"\n{url}")
            for sql in queries:
                print(f"  {sql[:400]}")
    if args.profile:
        profiler = cProfile.Profile(time.process_time)  # CPU, not the waits
        profiler.enable()
        for _ in range(args.requests):
            call(application, args.profile, token)
        profiler.disable()
        if args.profile_out:
            profiler.dump_stats(args.profile_out)
        stats = pstats.Stats(profiler).sort_stats("cumulative")
        stats.print_stats(45)
        stats.sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
