"""The batch ledger: one row per ingested batch, so a redelivered batch is skipped whole."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from workers.models import IngestBatch


@dataclass(frozen=True)
class IngestResult:
    batch_id: str
    is_duplicate: bool = False
    message_count: int = 0
    reading_count: int = 0
    stored_count: int = 0
    dead_letter_count: int = 0
    event_count: int = 0


def batch_seen(batch_id: str) -> bool:
    return IngestBatch.objects.filter(pk=batch_id).exists()


def batch_claim(*, batch_id: str, source: str, published_at: datetime, now: datetime) -> bool:
    """Insert the ledger row; False when the batch was already processed (or is being
    processed by another worker, whose commit we then wait for)."""
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO workers_ingestbatch (id, source, published_at, processed_at, "
            "message_count, reading_count, stored_count, dead_letter_count, event_count) "
            "VALUES (%s, %s, %s, %s, 0, 0, 0, 0, 0) ON CONFLICT (id) DO NOTHING",
            [
                IngestBatch._meta.pk.get_db_prep_value(uuid.UUID(batch_id), connection),
                source,
                adapt(published_at),
                adapt(now),
            ],
        )
        return cursor.rowcount == 1
