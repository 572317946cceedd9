"""Webhook delivery throughput: events emitted through the outbox, sent by the real sender
(``integration.services.deliveries``: claims, signing, HTTP keep-alive, result recording) to a
local receiver that verifies every signature, until every delivery is recorded as delivered.

    .venv/bin/python bench/webhooks.py [--events 5000] [--subscriptions 1] [--senders 1]

The receiver runs in its own process (a ThreadingHTTPServer, HTTP/1.1), so it does not share
the sender's interpreter lock. Senders are processes calling one pass after another, as Celery
workers running ``integration.tasks.deliveries_send`` do. The database is a benchmark database
of its own (created and migrated on first use); the events of earlier runs are removed first.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.django_setup import configure

DEFAULT_DATABASE_URL = "postgres://postgres@localhost:5432/mes_bench_webhooks"
DEFAULT_REDIS_URL = "redis://localhost:6379/15"


def _receiver(port_out, secrets: dict[str, str], counts) -> None:
    from standardwebhooks.webhooks import Webhook

    webhooks = {path: Webhook(secret) for path, secret in secrets.items()}
    seen: set[str] = set()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {key.lower(): value for key, value in self.headers.items()}
            try:
                webhooks[self.path].verify(body, headers, json_parse=False)
                status = 200
            except Exception:
                status = 401
            with counts.get_lock():
                counts[0] += 1
                if status == 200 and headers["webhook-id"] not in seen:
                    seen.add(headers["webhook-id"])
                    counts[1] += 1
                if status != 200:
                    counts[2] += 1
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_out.put(server.server_address[1])
    server.serve_forever()


def _process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a live process (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _sender(cpu_out) -> None:
    from django.db import connections

    from integration.choices import OPEN_DELIVERY_STATUSES
    from integration.models import WebhookDelivery
    from integration.services.deliveries import deliveries_send_due

    connections.close_all()
    while True:
        report = deliveries_send_due()
        if (
            report.claimed == 0
            and not WebhookDelivery.objects.filter(status__in=OPEN_DELIVERY_STATUSES).exists()
        ):
            times = os.times()
            cpu_out.put(times.user + times.system)
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--subscriptions", type=int, default=1)
    parser.add_argument("--senders", type=int, default=1)
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    arguments = parser.parse_args()
    configure(arguments.database_url, arguments.redis_url)

    from django.conf import settings
    from django.db import connections, transaction

    from integration.choices import DeliveryStatus, EventType
    from integration.models import OutboxEvent, WebhookDelivery, WebhookSubscription
    from integration.services.events import emit
    from integration.services.subscriptions import subscription_create

    settings.WEBHOOK_RETRY_BASE_DELAY_S = 0.01
    OutboxEvent.objects.all().delete()
    WebhookSubscription.objects.all().delete()
    subscriptions = [
        subscription_create(
            name=f"bench {n}",
            target_url="http://127.0.0.1:1/placeholder",
            event_types=[EventType.WORK_ORDER_COMPLETED],
        )
        for n in range(arguments.subscriptions)
    ]
    secrets = {f"/hooks/{s.pk}": s.secret for s in subscriptions}
    context = multiprocessing.get_context("fork")
    port_queue = context.Queue()
    counts = context.Array("q", 3)  # requests, unique accepted ids, rejected
    connections.close_all()
    receiver = context.Process(target=_receiver, args=(port_queue, secrets, counts), daemon=True)
    receiver.start()
    port = port_queue.get(timeout=30)
    for subscription in subscriptions:
        WebhookSubscription.objects.filter(pk=subscription.pk).update(
            target_url=f"http://127.0.0.1:{port}/hooks/{subscription.pk}"
        )

    # Emit: the outbox writes, 100 events per business transaction. Nothing is sent meanwhile:
    # the backlog builds up as during an ERP outage, then drains.
    started_s = time.perf_counter()
    for first in range(0, arguments.events, 100):
        with transaction.atomic():
            for n in range(first, min(first + 100, arguments.events)):
                emit(
                    EventType.WORK_ORDER_COMPLETED,
                    {"number": f"WO-{n:06d}", "quantity_good": 40, "quantity_scrap": 1},
                )
    emit_s = time.perf_counter() - started_s
    delivery_count = WebhookDelivery.objects.count()

    # Send: the whole backlog, by the given number of sender processes.
    connections.close_all()
    started_s = time.perf_counter()
    receiver_cpu_before_s = _process_cpu_s(receiver.pid)
    cpu_queue = context.Queue()
    senders = [context.Process(target=_sender, args=(cpu_queue,)) for _ in range(arguments.senders)]
    for sender in senders:
        sender.start()
    sender_cpu_s = sum(cpu_queue.get(timeout=3600) for _ in senders)
    for sender in senders:
        sender.join()
    send_s = time.perf_counter() - started_s
    receiver_cpu_after_s = _process_cpu_s(receiver.pid)
    receiver.terminate()

    delivered = WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERED)
    durations_ms = sorted(1000 * d for d in delivered.values_list("last_duration_s", flat=True))
    print(
        f"events emitted:        {arguments.events} in {emit_s:.2f} s "
        f"({arguments.events / emit_s:,.0f} events/s, {delivery_count} deliveries)"
    )
    print(f"subscriptions / senders: {arguments.subscriptions} / {arguments.senders}")
    print(
        f"delivered:             {delivered.count()} of {delivery_count} in {send_s:.2f} s "
        f"= {delivery_count / send_s:,.0f} deliveries/s"
    )
    print(
        f"receiver:              {counts[0]} requests, {counts[1]} distinct webhook-ids "
        f"accepted, {counts[2]} rejected signatures"
    )
    receiver_cpu = ""
    if receiver_cpu_before_s is not None and receiver_cpu_after_s is not None:
        receiver_cpu_s = receiver_cpu_after_s - receiver_cpu_before_s
        receiver_cpu = f", receiver {1000 * receiver_cpu_s / delivery_count:.2f} ms"
    print(
        f"CPU per delivery:      sender {1000 * sender_cpu_s / delivery_count:.2f} ms"
        f"{receiver_cpu} (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )
    if durations_ms:
        print(
            f"POST round trip:       median {statistics.median(durations_ms):.2f} ms, "
            f"p99 {durations_ms[int(0.99 * (len(durations_ms) - 1))]:.2f} ms"
        )


if __name__ == "__main__":
    main()
