"""``python manage.py metrics_exporter``: serve the metrics of this host's processes on an
internal port, for a host that runs bridges or Celery workers but no web server.

It reads the multiprocess directory (``PROMETHEUS_MULTIPROC_DIR``) that the bridge and the
workers of the host write into, and answers ``GET /metrics`` with their sum — no database,
no Redis, no token: bind it to an address only the Prometheus server reaches (default
127.0.0.1). The plant-wide figures (queue depths, backlogs, dead letters) come from the web
server's ``/metrics``; scrape both (docs/observability.md).
"""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand, CommandError
from prometheus_client import start_http_server

from mes_site.metrics import MULTIPROCESS_ENVIRONMENT, is_multiprocess, registry_for_scrape


class Command(BaseCommand):
    help = "Serve this host's multiprocess metrics (bridge, workers) on an internal port."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", type=int, default=9808, help="Port (default 9808).")
        parser.add_argument(
            "--address", default="127.0.0.1", help="Address to bind (default 127.0.0.1)."
        )

    def handle(self, *args, **options) -> None:
        if not is_multiprocess():
            raise CommandError(
                f"{MULTIPROCESS_ENVIRONMENT} is not set: there are no other processes' "
                "metrics to serve. Set it for this host's bridge and workers and for this "
                "command (docs/observability.md)."
            )
        server, thread = start_http_server(
            options["port"], addr=options["address"], registry=registry_for_scrape()
        )
        host, port = server.server_address[:2]
        self.stdout.write(f"serving metrics on http://{host}:{port}/metrics", ending="\n")
        self.stdout.flush()
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        stop.wait()
        server.shutdown()
        thread.join(timeout=5)
