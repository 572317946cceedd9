"""Dead letters cannot grow without bound: a cap on the number of groups, and retention.

A flood of messages to distinct unknown topics made one dead-letter group per topic (20,000
rows in seconds). Past ``INGEST_DEAD_LETTER_MAX_GROUPS`` a new (source, topic, reason) is
counted in the overflow group of its source and reason (topic ``#``, which no published
message can have); groups already there keep counting. Groups not seen for
``RETENTION_DEAD_LETTERS_DAYS`` are deleted with their payloads.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Sum

from workers.ingest.dead_letters import OVERFLOW_TOPIC, dead_letters_retention_apply
from workers.ingest.uns import ingest_uns_batch
from workers.models import DeadLetter, DeadLetterPayload

pytestmark = pytest.mark.django_db


def _flood(count: int, *, first: int = 0) -> None:
    ts_ms = round(datetime.now(UTC).timestamp() * 1000)
    messages = [
        [f"ent/s1/area/L1/cell/ghost{index}/temperature", json.dumps({"ts": ts_ms, "value": 1})]
        for index in range(first, first + count)
    ]
    ingest_uns_batch(
        batch_id=str(uuid.uuid4()),
        published_at=datetime.now(UTC),
        messages=[[topic, payload.encode()] for topic, payload in messages],
    )


def test_a_flood_of_distinct_unknown_topics_is_capped_and_still_counted(settings, telemetry):
    settings.INGEST_DEAD_LETTER_MAX_GROUPS = 50
    _flood(2_000)
    _flood(2_000, first=2_000)

    assert DeadLetter.objects.count() == 51
    overflow = DeadLetter.objects.get(topic=OVERFLOW_TOPIC)
    assert overflow.reason_code == "unknown_equipment"
    assert overflow.count == 3_950
    assert "ghost3999" in overflow.message
    assert DeadLetter.objects.aggregate(total=Sum("count"))["total"] == 4_000
    assert DeadLetterPayload.objects.filter(dead_letter=overflow).count() == (
        settings.INGEST_DEAD_LETTER_KEEP_PAYLOADS
    )
    # A group that was in before the cap keeps its own row and counter.
    _flood(1, first=0)
    assert DeadLetter.objects.get(topic="ent/s1/area/L1/cell/ghost0/temperature").count == 2
    assert DeadLetter.objects.count() == 51


def test_under_the_cap_every_topic_has_its_own_group(settings, telemetry):
    settings.INGEST_DEAD_LETTER_MAX_GROUPS = 50
    _flood(30)
    assert DeadLetter.objects.count() == 30
    assert not DeadLetter.objects.filter(topic=OVERFLOW_TOPIC).exists()


def _age(topic_prefix: str, days: float) -> None:
    DeadLetter.objects.filter(topic__startswith=topic_prefix).update(
        last_seen_at=datetime.now(UTC) - timedelta(days=days)
    )


def test_retention_deletes_groups_not_seen_for_the_set_days_in_batches(settings, telemetry):
    settings.RETENTION_DEAD_LETTERS_DAYS = 30
    settings.RETENTION_BATCH_SIZE = 7
    _flood(20)
    _age("ent/s1/area/L1/cell/ghost1", 31)  # ghost1, ghost10..ghost19: 11 groups
    _age("ent/s1/area/L1/cell/ghost2", 29)
    assert DeadLetterPayload.objects.count() == 20

    deleted = dead_letters_retention_apply(now=datetime.now(UTC))

    assert deleted == 11
    remaining = set(DeadLetter.objects.values_list("topic", flat=True))
    assert remaining == {
        f"ent/s1/area/L1/cell/ghost{index}/temperature" for index in (0, 2, 3, 4, 5, 6, 7, 8, 9)
    }
    assert DeadLetterPayload.objects.count() == 9


@pytest.mark.parametrize("days", [0, None])
def test_retention_zero_or_empty_keeps_dead_letters_forever(settings, telemetry, days):
    settings.RETENTION_DEAD_LETTERS_DAYS = days
    _flood(3)
    _age("ent/", 5000)
    assert dead_letters_retention_apply(now=datetime.now(UTC)) == 0
    assert DeadLetter.objects.count() == 3
