"""Vision results over the UNS (`.../{equipment}/_event`, type `vision`): stored through the
same bridge batch, contract and dead letters as the other events."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from autonomy.models import ActionPolicy
from inventory.models import Item
from production.models import Site
from quality.models import QualityHold, VisionResult
from traceability.models import Lot, SerialUnit
from traceability.services import lot_create
from workers.ingest.uns import ingest_uns_batch
from workers.models import DeadLetter

pytestmark = pytest.mark.django_db

TS = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 8).decode()


def _message(topic: str, **document) -> list:
    body = {"ts": int(TS.timestamp() * 1000), "type": "vision", **document}
    return [topic, json.dumps(body).encode()]


def _ingest(messages):
    return ingest_uns_batch(batch_id=str(uuid.uuid4()), published_at=TS, messages=messages)


@pytest.fixture
def serial(plant, make_work_order):
    ActionPolicy.objects.get_or_create(kind="lot_hold", defaults={"risk": "low"})
    Site.objects.filter(pk=plant.site.pk).update(autonomy_mode="supervised")
    lot = lot_create(
        item=Item.objects.create(code="P1-ITEM", name="Part"),
        code="LOT-V",
        quantity=Decimal(10),
        origin="produced",
        produced_by=make_work_order().operations.first(),
    )
    return SerialUnit.objects.create(lot=lot, serial="SN-V1")


def test_vision_events_are_stored_hold_on_confidence_and_bad_ones_are_dead_lettered(
    telemetry, serial
):
    topic = f"{telemetry.path}/_event"
    confident = _message(
        topic,
        serial="SN-V1",
        defects=[{"class": "scratch", "confidence": 0.95, "box": [1, 2, 3, 4]}],
        image_base64=PNG,
        image_content_type="image/png",
    )
    uncertain = _message(
        topic, lot="LOT-V", defects=[{"class": "pit", "confidence": 0.5, "box": [0, 0, 1, 1]}]
    )
    unknown_serial = _message(topic, serial="SN-NOPE", defects=[])
    bad_box = _message(topic, defects=[{"class": "pit", "confidence": 0.5, "box": [0, 0]}])
    result = _ingest([confident, uncertain, unknown_serial, bad_box])

    assert (result.event_count, result.dead_letter_count) == (2, 2)
    stored = VisionResult.objects.order_by("pk")
    assert [(row.serial_unit_id, row.review_status, row.inspected_at) for row in stored] == [
        (serial.pk, "not_needed", TS),
        (None, "pending", TS),
    ]
    assert bytes(stored[0].image_bytes).startswith(b"\x89PNG")
    assert QualityHold.objects.get().source == "vision"
    assert Lot.objects.get(pk=serial.lot_id).status == "on_hold"
    assert sorted(DeadLetter.objects.values_list("reason_code", flat=True)) == [
        "bad_defects",
        "unknown_serial",
    ]
