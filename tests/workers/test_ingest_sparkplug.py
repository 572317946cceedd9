"""The Sparkplug side of the ingest service: node/device mappings → equipment, metric →
signal (optionally created), historical values stored but never current, stale marks, data
quality events and undecodable messages as dead letters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from production.models import Signal
from workers import store
from workers.ingest.sparkplug import ingest_sparkplug_batch
from workers.models import DeadLetter, Reading, SparkplugDeviceMapping, SparkplugNodeMapping

pytestmark = pytest.mark.django_db

GROUP = "plant"
NODE = "edge-1"


def _now() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _chunk(device, rows):
    """rows: (name, datatype, ts, value, quality, historical)."""
    return [
        GROUP,
        NODE,
        device,
        [row[0] for row in rows],
        [row[1] for row in rows],
        [_ms(row[2]) for row in rows],
        [row[3] for row in rows],
        [row[4] for row in rows],
        [row[5] for row in rows],
    ]


def _ingest(**parts):
    return ingest_sparkplug_batch(
        batch_id=parts.pop("batch_id", str(uuid.uuid4())),
        published_at=datetime.now(UTC),
        **parts,
    )


@pytest.fixture
def mapped(telemetry, plant):
    node = SparkplugNodeMapping.objects.create(
        group_id=GROUP, edge_node_id=NODE, equipment=telemetry.equipment
    )
    SparkplugDeviceMapping.objects.create(
        node=node, device_id="press", equipment=plant.other_equipment
    )
    speed = Signal.objects.create(equipment=plant.other_equipment, name="Motor.Speed")
    return node, speed


def test_mapped_metrics_are_stored_and_only_live_ones_become_current_values(
    telemetry, mapped, django_capture_on_commit_callbacks, plant
):
    _node, speed = mapped
    ts = _now()
    old = ts - timedelta(minutes=5)
    readings = [
        _chunk(
            None, [("temperature", 10, ts, 21.5, None, False), ("program", 12, ts, "P7", 0, False)]
        ),
        _chunk(
            "press",
            [
                ("Motor/Speed", 10, ts, 1500.0, None, False),
                ("Motor/Speed", 10, old, 1400.0, None, True),
            ],
        ),
    ]
    current = [
        _chunk(None, [("temperature", 10, ts, 21.5, None, False)]),
        _chunk("press", [("Motor/Speed", 10, ts, 1500.0, None, False)]),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        result = _ingest(readings=readings, current_values=current, message_count=2)
    assert (result.reading_count, result.stored_count, result.dead_letter_count) == (4, 4, 0)
    assert list(
        Reading.objects.filter(signal=telemetry.temperature).values_list("ts", "value", "quality")
    ) == [(ts, 21.5, 192)]
    assert list(
        Reading.objects.filter(signal=telemetry.program).values_list("text_value", "quality")
    ) == [("P7", 0)]
    assert list(Reading.objects.filter(signal=speed).order_by("ts").values_list("ts", "value")) == [
        (old, 1400.0),
        (ts, 1500.0),
    ]
    assert store.current_values_get(plant.other_equipment.id) == {
        "Motor.Speed": {"ts": ts, "value": 1500.0, "quality": 192, "stale_at": None}
    }
    assert store.current_values_get(telemetry.equipment.id)["temperature"]["value"] == 21.5


def test_unmapped_nodes_and_devices_are_dead_lettered_by_scope(telemetry, mapped):
    ts = _now()
    readings = [
        ["other-group", NODE, None, ["x"], [10], [_ms(ts)], [1.0], [None], [False]],
        _chunk(
            "oven", [("Temp", 10, ts, 200.0, None, False), ("Temp", 10, ts, 201.0, None, False)]
        ),
    ]
    result = _ingest(readings=readings)
    assert (result.stored_count, result.dead_letter_count) == (0, 2)
    rows = {(row.topic, row.reason_code, row.count, row.source) for row in DeadLetter.objects.all()}
    assert rows == {
        ("spBv1.0/other-group/edge-1", "sparkplug_unmapped_node", 1, "sparkplug"),
        ("spBv1.0/plant/edge-1/oven", "sparkplug_unmapped_device", 1, "sparkplug"),
    }
    assert "2 readings dropped" in DeadLetter.objects.get(topic__endswith="oven").message


def test_unknown_metrics_are_dead_lettered_unless_the_node_creates_signals(
    telemetry, mapped, plant
):
    node, _speed = mapped
    ts = _now()
    chunk = _chunk("press", [("Hydraulics/Pressure bar", 9, ts, 180.0, None, False)])
    result = _ingest(readings=[chunk])
    assert (result.stored_count, result.dead_letter_count) == (0, 1)
    assert DeadLetter.objects.get().reason_code == "unknown_signal"
    node.auto_create_signals = True
    node.save()
    from workers.selectors import contracts_forget

    contracts_forget()
    later = ts + timedelta(seconds=1)
    result = _ingest(
        readings=[
            _chunk(
                "press",
                [
                    ("Hydraulics/Pressure bar", 9, later, 181.0, None, False),
                    ("Door open", 11, later, True, None, False),
                    ("Recipe", 19, later, 1, None, False),
                ],
            )
        ]
    )
    assert (result.stored_count, result.dead_letter_count) == (2, 1)
    created = {
        signal.name: signal.data_type
        for signal in Signal.objects.filter(equipment=plant.other_equipment)
    }
    assert created == {
        "Motor.Speed": "number",
        "Hydraulics.Pressure_bar": "number",
        "Door_open": "boolean",
    }
    assert DeadLetter.objects.get(reason_code="unsupported_value").count == 1


def test_contract_violations_from_sparkplug_are_dead_lettered(telemetry, mapped):
    ts = _now()
    result = _ingest(
        readings=[
            _chunk(
                None,
                [
                    ("temperature", 10, ts, 999.0, None, False),
                    ("temperature", 12, ts, "warm", None, False),
                    ("temperature", 10, ts - timedelta(days=40), 20.0, None, True),
                ],
            )
        ]
    )
    assert (result.stored_count, result.dead_letter_count) == (0, 3)
    reasons = sorted(DeadLetter.objects.values_list("reason_code", flat=True))
    assert reasons == ["out_of_range", "too_old", "wrong_type"]


def test_stale_marks_quality_events_and_undecodable_messages(
    telemetry, mapped, django_capture_on_commit_callbacks
):
    ts = _now()
    with django_capture_on_commit_callbacks(execute=True):
        _ingest(
            readings=[_chunk(None, [("temperature", 10, ts, 20.0, None, False)])],
            current_values=[_chunk(None, [("temperature", 10, ts, 20.0, None, False)])],
        )
    stale_at = ts + timedelta(seconds=3)
    with django_capture_on_commit_callbacks(execute=True):
        result = _ingest(
            stale_marks=[[GROUP, NODE, None, ["temperature", "program"], _ms(stale_at)]],
            quality_events=[
                [GROUP, NODE, None, "sequence_gap", "expected seq 4, got 6"],
                [GROUP, NODE, None, "sequence_gap", "expected seq 9, got 12"],
            ],
            dead_letters=[
                ["spBv1.0/plant/NDATA/edge-1", "bad_protobuf", "not a payload", b"\x00\x01", 2]
            ],
        )
    assert result.dead_letter_count == 3
    current = store.current_values_get(telemetry.equipment.id)
    assert current["temperature"] == {"ts": ts, "value": 20.0, "quality": 192, "stale_at": stale_at}
    assert current["program"] == {
        "ts": stale_at,
        "value": None,
        "quality": None,
        "stale_at": stale_at,
    }
    gap = DeadLetter.objects.get(reason_code="sequence_gap")
    assert (gap.topic, gap.count, gap.message) == (
        "spBv1.0/plant/edge-1",
        2,
        "expected seq 9, got 12",
    )
    bad = DeadLetter.objects.get(reason_code="bad_protobuf")
    assert (bad.payload_excerpt, bad.payload_size_bytes, bad.payloads.count()) == (
        "\\x00\x01",
        2,
        0,
    )


def test_a_redelivered_sparkplug_batch_changes_nothing(telemetry, mapped):
    ts = _now()
    batch_id = str(uuid.uuid4())
    parts = {
        "readings": [_chunk(None, [("temperature", 10, ts, 20.0, None, False)])],
        "quality_events": [[GROUP, NODE, None, "sequence_gap", "gap"]],
    }
    assert _ingest(batch_id=batch_id, **parts).stored_count == 1
    assert _ingest(batch_id=batch_id, **parts).is_duplicate
    assert Reading.objects.count() == 1
    assert DeadLetter.objects.get().count == 1
