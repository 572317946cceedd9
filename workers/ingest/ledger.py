"""The batch ledger: one row per ingested batch, so a redelivered batch is skipped whole."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import connection, transaction

from mes_site import metrics
from workers.models import IngestBatch

if TYPE_CHECKING:  # dead_letters imports this module
    from workers.ingest.dead_letters import DeadLetterCollector


@dataclass(frozen=True)
class IngestResult:
    batch_id: str
    is_duplicate: bool = False
    message_count: int = 0
    reading_count: int = 0
    stored_count: int = 0
    dead_letter_count: int = 0
    event_count: int = 0
    conflict_count: int = 0


def batch_seen(batch_id: str) -> bool:
    return IngestBatch.objects.filter(pk=batch_id).exists()


def batch_claim(*, batch_id: str, source: str, published_at: datetime, now: datetime) -> bool:
    """Insert the ledger row; False when the batch was already processed (or is being
    processed by another worker, whose commit we then wait for)."""
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO workers_ingestbatch (id, source, published_at, processed_at, "
            "message_count, reading_count, stored_count, dead_letter_count, event_count, "
            "conflict_count) VALUES (%s, %s, %s, %s, 0, 0, 0, 0, 0, 0) ON CONFLICT (id) DO NOTHING",
            [
                IngestBatch._meta.pk.get_db_prep_value(uuid.UUID(batch_id), connection),
                source,
                adapt(published_at),
                adapt(now),
            ],
        )
        return cursor.rowcount == 1


def batch_observe(
    *, source: str, published_at: datetime, result: IngestResult, dead: DeadLetterCollector
) -> None:
    """Count the batch in the Prometheus metrics once it has committed (a batch rolled back
    and retried is counted once, when it is stored)."""

    def observe() -> None:
        metrics.INGEST_BATCHES.labels(source=source).inc()
        metrics.INGEST_MESSAGES.labels(source=source).inc(result.message_count)
        metrics.INGEST_READINGS.labels(source=source).inc(result.reading_count)
        metrics.INGEST_READINGS_STORED.labels(source=source).inc(result.stored_count)
        metrics.INGEST_READING_CONFLICTS.labels(source=source).inc(result.conflict_count)
        by_reason: dict[str, int] = {}
        for (_source, _topic, reason_code), group in dead.groups.items():
            by_reason[reason_code] = by_reason.get(reason_code, 0) + group.count
        for reason_code, count in by_reason.items():
            metrics.INGEST_DEAD_LETTERS.labels(source=source, reason=reason_code).inc(count)
        lag_s = (datetime.now(published_at.tzinfo) - published_at).total_seconds()
        metrics.INGEST_LAG.labels(source=source).observe(max(0.0, lag_s))

    transaction.on_commit(observe, robust=True)
