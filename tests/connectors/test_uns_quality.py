"""The optional ``quality`` of a one-reading UNS payload (what the connectors send for an OPC UA
status): decoded, stored with the reading, and a bad reading may carry no value."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from workers import store
from workers.ingest.uns import ingest_uns_batch
from workers.models import DeadLetter, Reading
from workers.mqtt.errors import DecodeError, DecodeReason
from workers.mqtt.uns import QUALITY_GOOD, UnsDecoder, encode_reading

TOPIC = "acme/plant1/area/line/cell/press/temperature"
TS = datetime(2026, 1, 5, 8, 0, 0, 250_000, tzinfo=UTC)


def _payload(**document) -> bytes:
    return json.dumps({"ts": 1767600000250, **document}).encode()


def test_a_reading_without_quality_is_good() -> None:
    (reading,) = UnsDecoder().decode(TOPIC, _payload(value=1.5))
    assert reading.quality == QUALITY_GOOD == 192
    assert reading.value == 1.5


def test_a_bad_reading_may_carry_no_value() -> None:
    (reading,) = UnsDecoder().decode(TOPIC, _payload(value=None, quality=0))
    assert (reading.value, reading.quality, reading.ts) == (None, 0, TS)


def test_an_uncertain_reading_keeps_its_value() -> None:
    (reading,) = UnsDecoder().decode(TOPIC, _payload(value=2.0, quality=64))
    assert (reading.value, reading.quality) == (2.0, 64)


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"value": None}, DecodeReason.BAD_VALUE_TYPE),  # no value needs a quality that says so
        ({"value": None, "quality": 192}, DecodeReason.BAD_VALUE_TYPE),
        ({"value": 1.0, "quality": 256}, DecodeReason.BAD_PAYLOAD),
        ({"value": 1.0, "quality": -1}, DecodeReason.BAD_PAYLOAD),
        ({"value": 1.0, "quality": True}, DecodeReason.BAD_PAYLOAD),
        ({"value": 1.0, "quality": "bad"}, DecodeReason.BAD_PAYLOAD),
    ],
)
def test_bad_qualities_are_refused(document, reason) -> None:
    with pytest.raises(DecodeError) as caught:
        UnsDecoder().decode(TOPIC, _payload(**document))
    assert caught.value.reason_code == reason


def test_encode_reading_writes_the_quality_only_when_not_good() -> None:
    assert json.loads(encode_reading(TS, 1.0)) == {"ts": 1767600000250, "value": 1.0}
    assert json.loads(encode_reading(TS, None, quality=0)) == {
        "ts": 1767600000250,
        "value": None,
        "quality": 0,
    }


@pytest.mark.django_db
def test_the_ingest_stores_the_quality_and_a_bad_reading_without_value(
    telemetry, django_capture_on_commit_callbacks
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    topic = f"{telemetry.path}/temperature"
    messages = [
        [topic, encode_reading(now - timedelta(seconds=3), 20.0)],
        [topic, encode_reading(now - timedelta(seconds=2), None, quality=0)],
        [topic, encode_reading(now - timedelta(seconds=1), 21.0, quality=64)],
    ]
    with django_capture_on_commit_callbacks(execute=True):
        ingest_uns_batch(batch_id=str(uuid.uuid4()), published_at=now, messages=messages)
    rows = list(
        Reading.objects.filter(signal=telemetry.temperature)
        .order_by("ts")
        .values_list("value", "quality")
    )
    assert rows == [(20.0, 192), (None, 0), (21.0, 64)]
    assert not DeadLetter.objects.exists()
    current = store.current_values_get(telemetry.equipment.pk)
    assert (current["temperature"]["value"], current["temperature"]["quality"]) == (21.0, 64)
