"""Measurements over the Unified Namespace: ``…/{station}/_measurement`` messages through the
UNS codec and the ingest batch (the bridge's task) into the charts' subgroups, plotted and
rule-checked; every bad one a dead letter with its reason, the others stored."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from quality.models import RuleViolation, Subgroup
from quality.services import control_limits_compute, subgroup_record
from tests.workers.conftest import ingest_env  # noqa: F401 (the ingest's isolated namespace)
from workers.ingest.uns import ingest_uns_batch
from workers.models import DeadLetter
from workers.mqtt.errors import DecodeError
from workers.mqtt.uns import UnsDecoder, encode_measurement

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ingest_env")]

BASELINE = [[10.0, 10.2, 9.8], [10.1, 9.9, 10.0], [9.9, 10.1, 10.2], [10.0, 9.8, 10.1]]


def _now() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _ingest(messages):
    return ingest_uns_batch(
        batch_id=str(uuid.uuid4()), published_at=datetime.now(UTC), messages=messages
    )


def _message(station, ts, characteristic="D1", value=10.0, **optional):
    topic = f"{station.uns_path}/_measurement"
    return [topic, encode_measurement(ts, characteristic, value, **optional)]


@pytest.fixture
def charted(make_chart, plant):
    chart = make_chart()
    for row in BASELINE:
        subgroup_record(chart=chart, values=row)
    control_limits_compute(chart_id=chart.pk, first_index=0, last_index=3, actor=None, reason="x")
    return chart


def test_the_codec_decodes_a_measurement_and_refuses_a_bad_one():
    decoder = UnsDecoder(root="", max_payload_bytes=4096)
    topic = "e/s/a/l/c/gauge1/_measurement"
    ts = datetime(2026, 3, 1, tzinfo=UTC)
    event = decoder.decode(topic, encode_measurement(ts, "D1", 10, unit="mm", lot="LOT-1"))
    assert (event.kind, event.equipment_path) == ("measurement", "e/s/a/l/c/gauge1")
    assert dict(event.data) == {
        "characteristic": "D1",
        "value": 10.0,
        "unit": "mm",
        "lot": "LOT-1",
        "serial": None,
        "size": None,
    }
    for payload, reason in (
        (b'{"ts": 1772323200000, "characteristic": "D1", "value": NaN}', "bad_json"),
        (b'{"ts": 1772323200000, "characteristic": "D1", "value": true}', "bad_value_type"),
        (b'{"ts": 1772323200000, "value": 1.0}', "missing_field"),
        (b'{"ts": 1772323200000, "characteristic": "D1", "value": 1, "size": 0}', "bad_value_type"),
    ):
        with pytest.raises(DecodeError) as raised:
            decoder.decode(topic, payload)
        assert raised.value.reason_code == reason


def test_measurements_fill_subgroups_that_are_plotted_and_checked(charted, plant, make_lot):
    lot = make_lot("LOT-7")
    ts = _now()
    values = [10.0, 10.1, 9.9, 11.0, 11.1, 10.9, 10.0]
    result = _ingest(
        [
            _message(plant.equipment, ts + timedelta(seconds=i), value=v, unit="mm", lot="LOT-7")
            for i, v in enumerate(values)
        ]
    )

    assert (result.event_count, result.dead_letter_count) == (7, 0)
    points = list(Subgroup.objects.filter(chart=charted, index__gte=4).order_by("index"))
    assert [(p.values, p.is_complete) for p in points] == [
        ([10.0, 10.1, 9.9], True),
        ([11.0, 11.1, 10.9], True),
        ([10.0], False),
    ]
    assert points[1].lot == lot and points[1].source == "uns"
    assert list(RuleViolation.objects.values_list("rule", "point_indices")) == [("nelson_1", [5])]


def test_bad_measurements_are_dead_letters_and_the_others_are_stored(charted, plant):
    ts = _now()
    good = _message(plant.equipment, ts, value=10.0)
    bad = {
        "unknown_characteristic": _message(plant.equipment, ts, characteristic="NOPE"),
        "wrong_station": _message(plant.other_equipment, ts),
        "invalid_measurement": _message(plant.equipment, ts, unit="in"),
        "unknown_lot": _message(plant.equipment, ts, lot="LOT-NONE"),
        "bad_json": [f"{plant.equipment.uns_path}/_measurement", b'{"ts": 1, "value": NaN}'],
    }
    result = _ingest([good, *bad.values()])

    assert result.dead_letter_count == len(bad)
    assert set(DeadLetter.objects.values_list("reason_code", flat=True)) == set(bad)
    unit = DeadLetter.objects.get(reason_code="invalid_measurement")
    assert "'mm', not 'in'" in unit.message
    assert Subgroup.objects.get(chart=charted, index=4).values == [10.0]


def test_unknown_station_is_a_dead_letter(charted):
    ts = _now()
    topic = "ent/s9/a/l/c/ghost/_measurement"
    result = _ingest(
        [[topic, json.dumps({"ts": 0}).encode()], [topic, encode_measurement(ts, "D1", 10.0)]]
    )
    assert result.dead_letter_count == 2
    assert set(DeadLetter.objects.values_list("reason_code", flat=True)) == {
        "bad_timestamp",
        "unknown_equipment",
    }
