"""The UNS ingest service: storage, contract checks, dead letters, idempotency, follow-ups."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.models import Sum

from workers import store
from workers.ingest import events as ingest_events
from workers.ingest.dead_letters import batch_dead_letter
from workers.ingest.followups import alerts_pending_take
from workers.ingest.triage import dead_letters_replay, signal_create_from_topic, topic_signal_guess
from workers.ingest.uns import ingest_uns_batch
from workers.models import DeadLetter, DeadLetterPayload, IngestBatch, Reading, ReadingRollup

pytestmark = pytest.mark.django_db


def _now() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _reading(topic: str, ts: datetime, value: Any, unit: str | None = None) -> list:
    document: dict[str, Any] = {"ts": _ms(ts), "value": value}
    if unit is not None:
        document["unit"] = unit
    return [topic, json.dumps(document).encode()]


def _ingest(messages, *, batch_id: str | None = None, oversize=()):
    return ingest_uns_batch(
        batch_id=batch_id or str(uuid.uuid4()),
        published_at=datetime.now(UTC),
        messages=messages,
        oversize=oversize,
    )


def _rows(signal) -> list[tuple[datetime, float | None, str | None, int]]:
    return list(
        Reading.objects.filter(signal=signal)
        .order_by("ts")
        .values_list("ts", "value", "text_value", "quality")
    )


def _dead(reason_code: str) -> DeadLetter:
    return DeadLetter.objects.get(reason_code=reason_code)


def test_a_single_reading_is_stored_with_its_ledger_row_and_current_value(telemetry):
    ts = _now()
    batch_id = str(uuid.uuid4())
    result = _ingest(
        [_reading(f"{telemetry.path}/temperature", ts, 71.5, "degC")], batch_id=batch_id
    )
    assert (result.message_count, result.reading_count, result.stored_count) == (1, 1, 1)
    assert result.dead_letter_count == 0
    assert _rows(telemetry.temperature) == [(ts, 71.5, None, 192)]
    batch = IngestBatch.objects.get(pk=batch_id)
    assert (batch.source, batch.message_count, batch.stored_count) == ("uns", 1, 1)
    assert DeadLetter.objects.count() == 0


def test_current_values_and_alert_values_are_handed_on_after_commit(
    telemetry, ingest_env, django_capture_on_commit_callbacks
):
    ts = _now()
    with django_capture_on_commit_callbacks(execute=True):
        _ingest(
            [
                _reading(f"{telemetry.path}/temperature", ts - timedelta(seconds=1), 70.0),
                _reading(f"{telemetry.path}/temperature", ts, 71.0),
                _reading(f"{telemetry.path}/running", ts, True),
            ]
        )
    current = store.current_values_get(telemetry.equipment.id)
    assert current == {
        "temperature": {"ts": ts, "value": 71.0, "quality": 192, "stale_at": None},
        "running": {"ts": ts, "value": True, "quality": 192, "stale_at": None},
    }
    values = alerts_pending_take()
    assert values == [
        (telemetry.equipment.id, "running", True, ts),
        (telemetry.equipment.id, "temperature", 71.0, ts),
    ]
    assert alerts_pending_take() == []
    assert ingest_env.followup_tasks() == [("workers.tasks.alerts_evaluate", "()")]


def test_a_batch_message_stores_numbers_booleans_and_strings(telemetry):
    ts = _now()
    payload = json.dumps(
        {
            "ts": _ms(ts),
            "values": {"temperature": 20, "running": False, "program": "O1234"},
            "units": {"temperature": "degC"},
        }
    ).encode()
    result = _ingest([[telemetry.path, payload]])
    assert result.stored_count == 3
    assert _rows(telemetry.temperature) == [(ts, 20.0, None, 192)]
    assert _rows(telemetry.running) == [(ts, 0.0, None, 192)]
    assert _rows(telemetry.program) == [(ts, None, "O1234", 192)]


@pytest.mark.parametrize(
    ("leaf", "payload", "reason_code"),
    [
        ("temperature", b"{not json", "bad_json"),
        ("temperature", b'{"value": 1}', "missing_field"),
        ("temperature", b'{"ts": 12, "value": 1}', "bad_timestamp"),
        ("temperature", b'{"ts": 1700000000000, "value": [1]}', "bad_value_type"),
        ("temperature", b"[1, 2]", "bad_payload"),
    ],
)
def test_undecodable_messages_are_dead_lettered_and_the_next_good_one_is_stored(
    telemetry, leaf, payload, reason_code
):
    ts = _now()
    topic = f"{telemetry.path}/{leaf}"
    result = _ingest([[topic, payload], _reading(topic, ts, 25.0)])
    assert (result.dead_letter_count, result.stored_count) == (1, 1)
    dead_letter = _dead(reason_code)
    assert (dead_letter.topic, dead_letter.count, dead_letter.source) == (topic, 1, "uns")
    assert dead_letter.payload_excerpt == payload.decode()
    assert [bytes(p.payload) for p in dead_letter.payloads.all()] == [payload]
    assert _rows(telemetry.temperature) == [(ts, 25.0, None, 192)]


def test_contract_violations_are_dead_lettered_with_their_reason(telemetry):
    ts = _now()
    path = telemetry.path
    messages = [
        _reading(f"{path}/temperature", ts, "hot"),
        _reading(f"{path}/temperature", ts, True),
        _reading(f"{path}/temperature", ts, 900.0),
        _reading(f"{path}/temperature", ts, -51),
        _reading(f"{path}/temperature", ts, 20.0, unit="degF"),
        _reading(f"{path}/running", ts, 2),
        _reading(f"{path}/program", ts, 12),
        _reading(f"{path}/program", ts, "x" * 1001),
        _reading(f"{path}/temperature", ts - timedelta(days=31), 20.0),
        _reading(f"{path}/temperature", ts + timedelta(hours=2), 20.0),
        _reading(f"{path}/humidity", ts, 40.0),
        _reading("ent/s1/area_L1/L1/cell1/NOPE/temperature", ts, 20.0),
    ]
    result = _ingest(messages)
    assert (result.stored_count, result.dead_letter_count) == (0, 12)
    counts = dict(
        DeadLetter.objects.values("reason_code")
        .annotate(total=Sum("count"))
        .values_list("reason_code", "total")
    )
    assert counts == {
        "wrong_type": 4,
        "out_of_range": 2,
        "unit_mismatch": 1,
        "value_too_long": 1,
        "too_old": 1,
        "ts_in_future": 1,
        "unknown_signal": 1,
        "unknown_equipment": 1,
    }
    assert _dead("unknown_signal").equipment_id == telemetry.equipment.id
    assert _dead("unknown_equipment").equipment_id is None
    assert "900" in DeadLetter.objects.get(reason_code="out_of_range").message or (
        "-51" in DeadLetter.objects.get(reason_code="out_of_range").message
    )
    assert Reading.objects.count() == 0


def test_a_batch_message_with_one_bad_signal_stores_the_others(telemetry):
    ts = _now()
    payload = json.dumps(
        {"ts": _ms(ts), "values": {"temperature": 20.0, "humidity": 3.0, "running": True}}
    ).encode()
    result = _ingest([[telemetry.path, payload]])
    assert (result.stored_count, result.dead_letter_count) == (2, 1)
    dead_letter = _dead("unknown_signal")
    assert dead_letter.topic == telemetry.path
    assert "humidity" in dead_letter.message


def test_payloads_too_large_are_dead_lettered_without_keeping_them(telemetry):
    ts = _now()
    topic = f"{telemetry.path}/temperature"
    huge = b'{"ts": 1, "value": "' + b"x" * (1024 * 1024) + b'"}'
    excerpt = huge[:512]
    result = _ingest(
        [[topic, huge], [topic, excerpt], _reading(topic, ts, 30.0)],
        oversize=[[1, 2_000_000]],
    )
    assert (result.stored_count, result.dead_letter_count) == (1, 2)
    dead_letter = _dead("payload_too_large")
    assert dead_letter.count == 2
    assert dead_letter.payload_size_bytes == 2_000_000
    assert len(dead_letter.payload_excerpt) == 513  # 512 bytes and the ellipsis
    assert dead_letter.payloads.count() == 0


def test_a_flood_of_one_bad_topic_is_one_row_with_its_count_and_the_last_payloads(
    telemetry, settings
):
    settings.INGEST_DEAD_LETTER_KEEP_PAYLOADS = 5
    topic = f"{telemetry.path}/temperature"
    flood = [[topic, f"bad {index}".encode()] for index in range(3000)]
    _ingest(flood[:1500])
    _ingest(flood[1500:])
    assert DeadLetter.objects.count() == 1
    dead_letter = _dead("bad_json")
    assert dead_letter.count == 3000
    assert dead_letter.payload_excerpt == "bad 2999"
    kept = [bytes(p.payload) for p in DeadLetterPayload.objects.order_by("id")]
    assert kept == [f"bad {index}".encode() for index in range(2995, 3000)]


def test_a_redelivered_batch_changes_nothing(telemetry):
    ts = _now()
    topic = f"{telemetry.path}/temperature"
    messages = [_reading(topic, ts, 10.0), [topic, b"garbage"]]
    batch_id = str(uuid.uuid4())
    first = _ingest(messages, batch_id=batch_id)
    second = _ingest(messages, batch_id=batch_id)
    assert (first.is_duplicate, first.stored_count) == (False, 1)
    assert (second.is_duplicate, second.stored_count) == (True, 0)
    assert _rows(telemetry.temperature) == [(ts, 10.0, None, 192)]
    assert _dead("bad_json").count == 1
    assert IngestBatch.objects.count() == 1


def test_readings_delivered_twice_are_stored_once_and_rolled_up_once(telemetry):
    start = _now().replace(second=0, microsecond=0) - timedelta(minutes=2)
    topic = f"{telemetry.path}/temperature"
    messages = [_reading(topic, start + timedelta(seconds=20 * i), float(i)) for i in range(6)]
    first = _ingest(messages)
    second = _ingest([*messages[2:], _reading(topic, start + timedelta(seconds=130), 50.0)])
    assert (first.stored_count, second.stored_count) == (6, 1)
    assert Reading.objects.filter(signal=telemetry.temperature).count() == 7
    rollups = list(
        ReadingRollup.objects.filter(signal=telemetry.temperature)
        .order_by("bucket")
        .values_list("bucket", "min_value", "max_value", "sum_value", "count")
    )
    assert rollups == [
        (start, 0.0, 2.0, 3.0, 3),
        (start + timedelta(minutes=1), 3.0, 5.0, 12.0, 3),
        (start + timedelta(minutes=2), 50.0, 50.0, 50.0, 1),
    ]


def test_the_same_reading_twice_in_one_batch_is_stored_once(telemetry):
    ts = _now()
    topic = f"{telemetry.path}/temperature"
    result = _ingest([_reading(topic, ts, 1.0), _reading(topic, ts, 2.0)])
    assert (result.reading_count, result.stored_count) == (2, 1)
    assert _rows(telemetry.temperature) == [(ts, 1.0, None, 192)]
    assert ReadingRollup.objects.get(signal=telemetry.temperature).count == 1


def test_vibration_features_enqueue_one_health_refresh_per_window(
    telemetry, ingest_env, settings, django_capture_on_commit_callbacks
):
    from production.models import Signal

    for name in ("vibration_rms", "vibration_kurtosis"):
        Signal.objects.create(equipment=telemetry.equipment, name=name)
    ts = _now()
    topic = f"{telemetry.path}/_features"

    def features(moment, rms):
        return [
            topic,
            json.dumps({"ts": _ms(moment), "features": {"rms": rms, "kurtosis": 3}}).encode(),
        ]

    with django_capture_on_commit_callbacks(execute=True):
        first = _ingest([features(ts, 1.5)])
    with django_capture_on_commit_callbacks(execute=True):
        _ingest([features(ts + timedelta(seconds=1), 1.6)])
    assert first.stored_count == 2
    health = [task for task in ingest_env.followup_tasks() if task[0].startswith("maintenance")]
    assert health == [("maintenance.tasks.health_refresh", f"[{telemetry.equipment.id}]")]
    ingest_env.redis.delete(store.redis_key("debounce", f"health:{telemetry.equipment.id}"))
    with django_capture_on_commit_callbacks(execute=True):
        _ingest([features(ts + timedelta(seconds=2), 1.7)])
    health = [task for task in ingest_env.followup_tasks() if task[0].startswith("maintenance")]
    assert len(health) == 2


def test_events_go_to_the_monitoring_service_and_its_rejects_become_dead_letters(
    telemetry, monkeypatch
):
    from dataclasses import dataclass as dataclass_

    received = []

    @dataclass_(frozen=True)
    class EventIn:
        equipment_path: str
        ts: datetime
        kind: str
        data: dict

    @dataclass_
    class Result:
        accepted: int
        rejected: list

    def ingest(*, events):
        received.extend(events)
        return Result(1, [(1, "unknown_state", "state 'flying' is not known")])

    monkeypatch.setattr(ingest_events, "EquipmentEventIn", EventIn)
    monkeypatch.setattr(ingest_events, "equipment_events_ingest", ingest)
    ts = _now()
    topic = f"{telemetry.path}/_event"
    result = _ingest(
        [
            [topic, json.dumps({"ts": _ms(ts), "type": "state", "state": "running"}).encode()],
            [topic, json.dumps({"ts": _ms(ts), "type": "state", "state": "flying"}).encode()],
        ]
    )
    assert received == [
        EventIn(telemetry.path, ts, "state", {"state": "running", "reason": None}),
        EventIn(telemetry.path, ts, "state", {"state": "flying", "reason": None}),
    ]
    assert (result.event_count, result.dead_letter_count) == (1, 1)
    dead_letter = _dead("unknown_state")
    assert (dead_letter.topic, dead_letter.count) == (topic, 1)
    assert "flying" in dead_letter.payload_excerpt


def test_events_are_dead_lettered_for_replay_when_the_service_fails(telemetry, monkeypatch):
    def failing_ingest(*, events):
        raise RuntimeError("monitoring is down")

    monkeypatch.setattr(ingest_events, "equipment_events_ingest", failing_ingest)
    topic = f"{telemetry.path}/_event"
    payload = json.dumps({"ts": _ms(_now()), "type": "count", "good": 3}).encode()
    result = _ingest([[topic, payload]])
    assert (result.event_count, result.dead_letter_count) == (0, 1)
    dead_letter = _dead("event_service_unavailable")
    assert [bytes(p.payload) for p in dead_letter.payloads.all()] == [payload]


def test_an_unknown_signal_is_created_from_its_topic_and_its_dead_letters_replayed(
    telemetry, admin_user
):
    from workers.selectors import contracts_forget

    ts = _now()
    topic = f"{telemetry.path}/humidity"
    _ingest([_reading(topic, ts, 41.0, "%"), _reading(topic, ts + timedelta(seconds=1), 42.0, "%")])
    dead_letter = _dead("unknown_signal")
    assert dead_letter.count == 2
    guess = topic_signal_guess(dead_letter)
    assert (guess["equipment"], guess["name"], guess["data_type"], guess["unit"]) == (
        telemetry.equipment,
        "humidity",
        "number",
        "%",
    )
    signal = signal_create_from_topic(
        dead_letter=dead_letter,
        equipment=telemetry.equipment,
        name="humidity",
        data_type="number",
        unit="%",
        min_value=0,
        max_value=100,
    )
    contracts_forget()  # the on-commit version bump does not run inside the test transaction
    result = dead_letters_replay(dead_letters=[dead_letter], user=admin_user)
    assert (result.replayed, result.stored, result.dead_lettered) == (2, 2, 0)
    assert [value for _, value, _, _ in _rows(signal)] == [41.0, 42.0]
    dead_letter.refresh_from_db()
    assert (dead_letter.is_resolved, dead_letter.count) == (True, 0)
    assert dead_letter.resolved_by == admin_user
    assert dead_letter.payloads.count() == 0


def test_a_replayed_payload_that_fails_again_reopens_its_group(telemetry, admin_user):
    topic = f"{telemetry.path}/humidity"
    _ingest([_reading(topic, _now(), 41.0)])
    dead_letter = _dead("unknown_signal")
    result = dead_letters_replay(dead_letters=[dead_letter], user=admin_user)
    assert (result.replayed, result.stored, result.dead_lettered) == (1, 0, 1)
    dead_letter.refresh_from_db()
    assert (dead_letter.is_resolved, dead_letter.count) == (False, 1)
    assert dead_letter.payloads.count() == 1


def test_a_failed_batch_is_dead_lettered_whole_and_closed_in_the_ledger(telemetry):
    topic = f"{telemetry.path}/temperature"
    batch_id = str(uuid.uuid4())
    messages = [[topic, b'{"ts": 1, "value": 1}'], [topic, b'{"ts": 2, "value": 2}']]
    batch_dead_letter(
        batch_id=batch_id, messages=messages, reason_code="ingest_error", message="boom"
    )
    dead_letter = _dead("ingest_error")
    assert (dead_letter.count, dead_letter.payloads.count()) == (2, 2)
    assert _ingest(messages, batch_id=batch_id).is_duplicate


def test_partitions_are_created_ahead_and_dropped_after_the_retention(db, settings):
    settings.INGEST_RETENTION_DAYS = 30
    settings.INGEST_PARTITIONS_AHEAD_DAYS = 2
    old_day = datetime(2001, 1, 1, tzinfo=UTC).date()
    assert store.partitions_ensure([old_day]) == [old_day]
    assert store.partitions_ensure([old_day]) == []
    now = datetime(2001, 3, 1, 12, tzinfo=UTC)
    result = store.telemetry_retention_apply(now=now)
    assert result["created_partitions"] == [
        "2001-02-28",
        "2001-03-01",
        "2001-03-02",
        "2001-03-03",
    ]
    assert result["dropped_partitions"] == ["2001-01-01"]
    days = set(store.partitions_list())
    assert old_day not in days
    for created in result["created_partitions"]:
        assert datetime.fromisoformat(created).date() in days
    with connection.cursor() as cursor:  # leave the test database as it was
        for created in result["created_partitions"]:
            cursor.execute(
                f"DROP TABLE {store.partition_name(datetime.fromisoformat(created).date())}"
            )
    store._known_partition_days.clear()


def test_nul_characters_in_topics_payloads_and_texts_are_dead_lettered_not_fatal(telemetry):
    ts = _now()
    path = telemetry.path
    result = _ingest(
        [
            [f"{path}/temp\x00erature", b'{"ts": 1, "value": 1}'],
            [f"{path}/temperature", b"\x00\x01 binary"],
            _reading(f"{path}/program", ts, "O1\x002"),
            _reading(f"{path}/temperature", ts, 5.0),
        ]
    )
    assert (result.stored_count, result.dead_letter_count) == (1, 3)
    reasons = sorted(DeadLetter.objects.values_list("reason_code", flat=True))
    assert reasons == ["bad_json", "bad_text", "bad_topic"]
    assert _dead("bad_topic").topic == f"{path}/temp\\x00erature"
    assert _dead("bad_json").payload_excerpt == "\\x00\x01 binary"


def test_events_reach_the_real_monitoring_service_and_its_rejects_are_dead_lettered(telemetry):
    from production.models.monitoring import EquipmentStateEvent

    ts = _now() - timedelta(minutes=1)
    topic = f"{telemetry.path}/_event"
    result = _ingest(
        [
            [topic, json.dumps({"ts": _ms(ts), "type": "state", "state": "producing"}).encode()],
            [topic, json.dumps({"ts": _ms(ts), "type": "state", "state": "flying"}).encode()],
        ]
    )
    assert (result.event_count, result.dead_letter_count) == (1, 1)
    assert EquipmentStateEvent.objects.filter(equipment=telemetry.equipment).count() == 1
    rejected = DeadLetter.objects.get(topic=topic)
    assert rejected.reason_code != "event_service_unavailable"
    assert "flying" in rejected.payload_excerpt


def test_text_values_are_not_handed_to_the_alert_rules(
    telemetry, django_capture_on_commit_callbacks
):
    ts = _now()
    with django_capture_on_commit_callbacks(execute=True):
        _ingest(
            [
                _reading(f"{telemetry.path}/program", ts, "O1234"),
                _reading(f"{telemetry.path}/temperature", ts, 50.0),
            ]
        )
    assert alerts_pending_take() == [(telemetry.equipment.id, "temperature", 50.0, ts)]
    assert store.current_values_get(telemetry.equipment.id)["program"]["value"] == "O1234"


def test_station_events_reach_the_line_order_machine_and_diagnostics_are_ignored(telemetry):
    """`station` events go to the line order state machine (not monitoring); the MES's own
    `_diagnostics` publications on the same tree are neither stored nor dead-lettered."""
    from workers.models import DeadLetter

    ts = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    station = (
        f"{telemetry.path}/_event",
        json.dumps(
            {"ts": _ms(ts), "type": "station", "station": "order_start", "order": "NOPE"}
        ).encode(),
    )
    diagnostics = (f"{telemetry.path}/_diagnostics", b'{"alpha": 0.9}')
    result = _ingest([station, diagnostics])
    reasons = list(DeadLetter.objects.values_list("reason_code", flat=True))
    # The unknown order is rejected by the line order service with its own reason code,
    # not by monitoring as an unknown event kind; diagnostics leave no trace.
    assert reasons == ["unknown_order"]
    assert result.dead_letter_count == 1


def test_current_values_are_pushed_to_the_equipment_screens(
    telemetry, ingest_env, django_capture_on_commit_callbacks
):
    import asyncio

    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    group = f"equipment.{telemetry.equipment.id}"
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group, channel)

    async def receive_all(wait_s: float) -> list[dict]:
        messages = []
        while True:
            try:
                messages.append(await asyncio.wait_for(layer.receive(channel), wait_s))
            except TimeoutError:
                return messages

    try:
        ts = _now()
        with django_capture_on_commit_callbacks(execute=True):
            _ingest(
                [
                    _reading(f"{telemetry.path}/temperature", ts, 71.0),
                    _reading(f"{telemetry.path}/running", ts, True),
                ]
            )
        messages = async_to_sync(receive_all)(1.0)
    finally:
        async_to_sync(layer.group_discard)(group, channel)
    pushed = [m for m in messages if m["event"] == "current_values"]
    assert len(pushed) == 1
    # numbers only (booleans and text stay in the cache and the API), one frame per equipment
    assert pushed[0]["payload"] == {
        "equipment_id": telemetry.equipment.id,
        "values": {"temperature": {"ts": ts.isoformat(), "value": 71.0}},
    }
