"""Dead letters: a batch's rejects grouped by (source, topic, reason) and upserted once per
group with their last few payloads, and the dead-lettering of a whole batch the ingest could not
process."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from mes_site.metrics import INGEST_DEAD_LETTERS
from mes_site.retention import delete_in_batches, retention_cutoff
from workers.choices import IngestSource
from workers.ingest.ledger import batch_claim
from workers.models import DeadLetter, DeadLetterPayload, IngestBatch

# Topic of the overflow group of a (source, reason): a published topic never contains "#".
OVERFLOW_TOPIC = "#"


@dataclass
class _DeadLetterGroup:
    count: int = 0
    message: str = ""
    excerpt: str = ""
    size: int = 0
    equipment_id: int | None = None
    payloads: list[bytes] = field(default_factory=list)
    payload_indexes: set[int] = field(default_factory=set)


def _clean(text: str, limit: int) -> str:
    """Text PostgreSQL can store: NUL characters spelled out, cut to ``limit``."""
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    return text[:limit]


def payload_excerpt(payload: bytes, size: int | None = None) -> str:
    """The first ``INGEST_DEAD_LETTER_EXCERPT_BYTES`` as text, "…" when there was more."""
    limit = settings.INGEST_DEAD_LETTER_EXCERPT_BYTES
    excerpt = payload[:limit].decode("utf-8", errors="backslashreplace").replace("\x00", "\\x00")
    return excerpt + "…" if max(len(payload), size or 0) > limit else excerpt


_DEAD_LETTER_UPSERT = (
    "INSERT INTO workers_deadletter AS d (source, topic, reason_code, message, "
    "payload_excerpt, payload_size_bytes, count, first_seen_at, last_seen_at, "
    "equipment_id, is_resolved) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (source, topic, reason_code) DO UPDATE SET "
    "message = excluded.message, "
    "payload_excerpt = CASE WHEN excluded.payload_excerpt = '' THEN d.payload_excerpt "
    "ELSE excluded.payload_excerpt END, "
    "payload_size_bytes = excluded.payload_size_bytes, "
    "count = d.count + excluded.count, "
    "last_seen_at = GREATEST(d.last_seen_at, excluded.last_seen_at), "
    "equipment_id = COALESCE(excluded.equipment_id, d.equipment_id), "
    "is_resolved = %s, resolved_at = NULL, resolved_by_id = NULL "
    "RETURNING id"
)


class DeadLetterCollector:
    """Groups a batch's rejects by (source, topic, reason) before one write per group."""

    def __init__(self) -> None:
        self.groups: dict[tuple[str, str, str], _DeadLetterGroup] = {}
        self.count = 0

    def add(
        self,
        *,
        source: str,
        topic: str,
        reason_code: str,
        message: str,
        payload: bytes | None = None,
        payload_size: int | None = None,
        keep_payload: bool = True,
        equipment_id: int | None = None,
        message_index: int | None = None,
    ) -> None:
        key = (source, _clean(topic, 512), _clean(str(reason_code), 64))
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = _DeadLetterGroup()
        group.count += 1
        self.count += 1
        group.message = _clean(message, 500)
        if equipment_id is not None:
            group.equipment_id = equipment_id
        if payload is not None:
            group.size = payload_size if payload_size is not None else len(payload)
            if message_index is None or message_index not in group.payload_indexes:
                group.excerpt = payload_excerpt(payload, group.size)
                if keep_payload and len(payload) <= settings.INGEST_MAX_PAYLOAD_BYTES:
                    group.payloads.append(payload)
                    if message_index is not None:
                        group.payload_indexes.add(message_index)
                    keep = settings.INGEST_DEAD_LETTER_KEEP_PAYLOADS
                    if len(group.payloads) > keep:
                        del group.payloads[: len(group.payloads) - keep]

    def _cap(self) -> None:
        """Fold the groups that would pass ``INGEST_DEAD_LETTER_MAX_GROUPS`` into the overflow
        group of their source and reason; groups already stored keep their own row. The
        count is read without a lock, so concurrent batches may pass the cap by a batch's
        worth of groups: bounded, which is the point."""
        max_groups = settings.INGEST_DEAD_LETTER_MAX_GROUPS
        topics = {topic for _source, topic, _reason in self.groups if topic != OVERFLOW_TOPIC}
        if not max_groups or not topics:
            return
        stored = set(
            DeadLetter.objects.filter(topic__in=topics).values_list(
                "source", "topic", "reason_code"
            )
        )
        new = [key for key in self.groups if key not in stored and key[1] != OVERFLOW_TOPIC]
        room = max_groups - DeadLetter.objects.exclude(topic=OVERFLOW_TOPIC).count()
        keep = settings.INGEST_DEAD_LETTER_KEEP_PAYLOADS
        for key in new[max(0, room) :]:  # arrival order: the first new topics get the room
            group = self.groups.pop(key)
            source, topic, reason_code = key
            overflow = self.groups.setdefault(
                (source, OVERFLOW_TOPIC, reason_code), _DeadLetterGroup()
            )
            overflow.count += group.count
            overflow.message = _clean(
                f"over the cap of {max_groups} dead-letter groups; latest topic {topic}: "
                f"{group.message}",
                500,
            )
            if group.excerpt:
                overflow.excerpt, overflow.size = group.excerpt, group.size
            overflow.payloads = (overflow.payloads + group.payloads)[-keep:] if keep else []

    def write(self, *, now: datetime) -> None:
        """Upsert the groups (counter += n) and keep the last N payloads of each."""
        if not self.groups:
            return
        self._cap()
        keep = settings.INGEST_DEAD_LETTER_KEEP_PAYLOADS
        adapt = connection.ops.adapt_datetimefield_value
        sql = _DEAD_LETTER_UPSERT.replace(
            "GREATEST", "GREATEST" if connection.vendor == "postgresql" else "max"
        )
        payload_rows = []
        trimmed = []
        with connection.cursor() as cursor:
            # Key order: concurrent workers lock the same groups in the same order.
            for key in sorted(self.groups):
                group = self.groups[key]
                source, topic, reason_code = key
                cursor.execute(
                    sql,
                    [
                        source,
                        topic,
                        reason_code,
                        group.message,
                        group.excerpt,
                        group.size,
                        group.count,
                        adapt(now),
                        adapt(now),
                        group.equipment_id,
                        False,
                        False,
                    ],
                )
                dead_letter_id = cursor.fetchone()[0]
                if group.payloads:
                    payload_rows.extend(
                        DeadLetterPayload(
                            dead_letter_id=dead_letter_id, received_at=now, payload=payload
                        )
                        for payload in group.payloads
                    )
                    trimmed.append(dead_letter_id)
        if payload_rows:
            DeadLetterPayload.objects.bulk_create(payload_rows)
            with connection.cursor() as cursor:
                for dead_letter_id in trimmed:
                    cursor.execute(
                        "DELETE FROM workers_deadletterpayload WHERE dead_letter_id = %s AND id IN "
                        "(SELECT id FROM workers_deadletterpayload WHERE dead_letter_id = %s "
                        "ORDER BY id DESC LIMIT -1 OFFSET %s)"
                        if connection.vendor != "postgresql"
                        else "DELETE FROM workers_deadletterpayload WHERE dead_letter_id = %s "
                        "AND id IN (SELECT id FROM workers_deadletterpayload "
                        "WHERE dead_letter_id = %s ORDER BY id DESC OFFSET %s)",
                        [dead_letter_id, dead_letter_id, keep],
                    )


def batch_dead_letter(
    *,
    batch_id: str,
    messages: Sequence[Sequence[Any]],
    reason_code: str,
    message: str,
    topic: str | None = None,
) -> None:
    """Dead-letter a whole batch the ingest could not process (kept for replay) and close
    it in the ledger, so the stream moves on and nothing is lost silently."""
    now = timezone.now()
    dead = DeadLetterCollector()
    for topic_of_message, payload in messages:
        dead.add(
            source=IngestSource.UNS,
            topic=topic_of_message,
            reason_code=reason_code,
            message=message,
            payload=payload,
        )
    if not messages:
        dead.add(
            source=IngestSource.SPARKPLUG,
            topic=topic or "",
            reason_code=reason_code,
            message=message,
        )
    with transaction.atomic():
        if not batch_claim(
            batch_id=batch_id,
            source=IngestSource.UNS if messages else IngestSource.SPARKPLUG,
            published_at=now,
            now=now,
        ):
            return
        dead.write(now=now)
        IngestBatch.objects.filter(pk=batch_id).update(
            message_count=len(messages), dead_letter_count=dead.count
        )
        source = IngestSource.UNS if messages else IngestSource.SPARKPLUG
        transaction.on_commit(
            lambda: INGEST_DEAD_LETTERS.labels(source=source, reason=reason_code).inc(dead.count),
            robust=True,
        )


def dead_letters_retention_apply(*, now: datetime) -> int:
    """Delete the dead-letter groups (and their payloads) not seen for
    ``RETENTION_DEAD_LETTERS_DAYS``; the number of groups deleted (0: kept forever)."""
    cutoff = retention_cutoff("RETENTION_DEAD_LETTERS_DAYS", now=now)
    if cutoff is None:
        return 0
    return delete_in_batches(DeadLetter.objects.filter(last_seen_at__lt=cutoff))
