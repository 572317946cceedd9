"""``GET /metrics``: the Prometheus exposition of the MES (docs/observability.md).

What the processes record as it happens (``mes_site.metrics``; all processes of the host in
multiprocess mode) plus what is read at scrape time: Celery queue depths from Redis, the open
dead letters, the time of the last ingest batch, and the ERP backlogs — webhook deliveries and
the procurement outbox (count and oldest age). A scrape costs one Redis pipeline and a few
aggregate queries.

Protected by a bearer token (``METRICS_BEARER_TOKEN``): without the setting the route answers
404 (metrics are off); a request without the right ``Authorization: Bearer <token>`` gets 401.
A browser session or an API token of a user is not enough — the scraper is a machine with its
own secret, and the figures cover the whole plant.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from integration.selectors import webhook_backlog
from inventory.selectors import procurement_outbox_backlog
from mes_site.errors import error_body
from mes_site.metrics import registry_for_scrape
from mes_site.redis import redis_client
from workers.selectors import dead_letters_open_by_reason, ingest_last_processed_at

logger = logging.getLogger(__name__)


def celery_queues() -> list[str]:
    """The Celery queues whose depth is exported: ``METRICS_CELERY_QUEUES``, else the
    project's own (ingest, default, scheduling, the webhook and follow-up queues)."""
    configured = getattr(settings, "METRICS_CELERY_QUEUES", None)
    if configured:
        return list(configured)
    queues = {settings.INGEST_QUEUE, "default", "scheduling", settings.WEBHOOK_QUEUE}
    if settings.INGEST_FOLLOWUP_QUEUE:
        queues.add(settings.INGEST_FOLLOWUP_QUEUE)
    return sorted(queues)


def _gauge(name: str, documentation: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=labels)


class ScrapeTimeCollector(Collector):
    """Figures read from Redis and the database at each scrape. A source that does not
    answer leaves its metrics out (``mes_scrape_source_up`` says which) instead of failing
    the whole scrape."""

    def collect(self) -> Iterator[Metric]:
        up = _gauge(
            "mes_scrape_source_up", "1 if the source answered this scrape, else 0.", ["source"]
        )
        yield from self._guarded(up, "redis", self._queues)
        yield from self._guarded(up, "database", self._database)
        yield up

    def _guarded(self, up: GaugeMetricFamily, source: str, collect) -> Iterator[Metric]:
        try:
            families = list(collect())
        except Exception:
            logger.warning("metrics: %s did not answer", source, exc_info=True)
            up.add_metric([source], 0)
            return
        up.add_metric([source], 1)
        yield from families

    def _queues(self) -> Iterator[Metric]:
        queues = celery_queues()
        pipeline = redis_client().pipeline(transaction=False)
        for queue in queues:
            pipeline.llen(queue)
        depth = _gauge(
            "mes_celery_queue_length", "Tasks waiting in a Celery queue (Redis).", ["queue"]
        )
        for queue, length in zip(queues, pipeline.execute(), strict=True):
            depth.add_metric([queue], int(length))
        yield depth

    def _database(self) -> Iterator[Metric]:
        groups = _gauge(
            "mes_dead_letter_groups_open", "Open dead-letter groups, by reason.", ["reason"]
        )
        messages = _gauge(
            "mes_dead_letter_messages_open",
            "Messages counted in the open dead-letter groups, by reason.",
            ["reason"],
        )
        for row in dead_letters_open_by_reason():
            groups.add_metric([row["reason_code"]], row["group_count"])
            messages.add_metric([row["reason_code"]], row["message_count"])
        yield groups
        yield messages
        last = _gauge(
            "mes_ingest_last_batch_processed_timestamp_seconds",
            "When the newest ingest batch in the ledger was stored (Unix time); absent when "
            "the ledger is empty.",
        )
        last_processed_at = ingest_last_processed_at()
        if last_processed_at is not None:
            last.add_metric([], last_processed_at.timestamp())
        yield last
        yield from _backlog_metrics()


def _backlog_metrics() -> Iterator[Metric]:
    """The ERP backlogs of issue 16: webhook deliveries not accepted yet, procurement
    requests the ERP has not acknowledged — how many and how old the oldest is."""
    webhooks = webhook_backlog()
    deliveries = _gauge(
        "mes_webhook_deliveries",
        "Webhook deliveries not accepted by their receiver: pending (all open), retrying, "
        "parked (given up, waiting for a replay).",
        ["status"],
    )
    for status in ("pending", "retrying", "parked"):
        deliveries.add_metric([status], webhooks[f"{status}_count"])
    yield deliveries
    oldest = _gauge(
        "mes_webhook_oldest_pending_age_seconds",
        "Age of the oldest open webhook delivery (0 when none is open).",
    )
    oldest.add_metric([], webhooks["oldest_pending_age_s"] or 0.0)
    yield oldest
    outbox = procurement_outbox_backlog()
    requests = _gauge(
        "mes_procurement_outbox_requests",
        "Procurement requests in the ERP outbox: pending (not fetched), unacknowledged "
        "(pending or fetched, not acknowledged), stale.",
        ["status"],
    )
    for status in ("pending", "unacknowledged", "stale"):
        requests.add_metric([status], outbox[f"{status}_count"])
    yield requests
    outbox_oldest = _gauge(
        "mes_procurement_outbox_oldest_age_seconds",
        "Age of the oldest unacknowledged procurement request (0 when none).",
    )
    outbox_oldest.add_metric([], outbox["oldest_unacknowledged_age_s"] or 0.0)
    yield outbox_oldest


def metrics_exposition() -> bytes:
    """The whole exposition text: recorded metrics and the scrape-time figures."""
    text = generate_latest(registry_for_scrape())
    scraped = CollectorRegistry(auto_describe=False)
    scraped.register(ScrapeTimeCollector())
    return text + generate_latest(scraped)


def _is_authorized(request: HttpRequest, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_BEARER_TOKEN
    if not token:
        return JsonResponse(
            error_body("not_found", "Metrics are not enabled (METRICS_BEARER_TOKEN)."),
            status=404,
        )
    if not _is_authorized(request, token):
        response = JsonResponse(
            error_body("not_authenticated", "Send Authorization: Bearer <the metrics token>."),
            status=401,
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(metrics_exposition(), content_type=CONTENT_TYPE_LATEST)
