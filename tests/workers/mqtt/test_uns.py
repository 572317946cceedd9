"""UNS JSON codec: topics, payloads, every reason code, and fuzzing (only DecodeError escapes)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.mqtt.errors import DecodeError, DecodeReason
from workers.mqtt.uns import (
    DecodedEvent,
    DecodedReading,
    TopicKind,
    UnsDecoder,
    UnsTopic,
    build_topic,
    encode_batch,
    encode_event,
    encode_features,
    encode_reading,
    parse_timestamp,
)

ROOT = "acme/v1"
EQUIPMENT = "acme_corp/plant_1/machining/line_2/cell_a/press_7"
TS_MS = 1_714_550_400_250  # 2024-05-01T08:00:00.250Z
TS = datetime(2024, 5, 1, 8, 0, 0, 250_000, tzinfo=UTC)


@pytest.fixture
def decoder() -> UnsDecoder:
    return UnsDecoder(root=ROOT)


def _json(document: object) -> bytes:
    return json.dumps(document).encode()


def _single(decoder: UnsDecoder, topic: str, payload: bytes) -> DecodedReading:
    decoded = decoder.decode(topic, payload)
    assert isinstance(decoded, tuple) and len(decoded) == 1
    return decoded[0]


def _reason(decoder: UnsDecoder, topic: str, payload: bytes) -> DecodeReason:
    with pytest.raises(DecodeError) as caught:
        decoder.decode(topic, payload)
    return caught.value.reason_code


# --- happy paths -------------------------------------------------------------------------------


def test_single_reading_with_epoch_ms_and_unit(decoder: UnsDecoder) -> None:
    decoded = decoder.decode(
        f"{ROOT}/{EQUIPMENT}/spindle_temp", _json({"ts": TS_MS, "value": 61.5, "unit": "degC"})
    )

    assert decoded == (DecodedReading(EQUIPMENT, "spindle_temp", TS, 61.5, "degC"),)
    assert decoded[0].ts.tzinfo is UTC


@pytest.mark.parametrize(
    ("raw_ts", "expected"),
    [
        ("2024-05-01T08:00:00.250Z", TS),
        ("2024-05-01T10:00:00.250+02:00", TS),
        ("2024-05-01t08:00:00.250z", TS),
        ("2024-05-01 08:00:00.250+00:00", TS),
        ("2024-05-01T08:00:00.250999999Z", TS + timedelta(microseconds=999)),
        (TS_MS + 0.5, TS + timedelta(microseconds=500)),
    ],
)
def test_timestamp_forms(decoder: UnsDecoder, raw_ts: object, expected: datetime) -> None:
    reading = _single(decoder, f"{ROOT}/{EQUIPMENT}/speed", _json({"ts": raw_ts, "value": 1}))

    assert isinstance(reading, DecodedReading)
    assert reading.ts == expected
    assert reading.ts.utcoffset() == timedelta(0)


@pytest.mark.parametrize("value", [True, False, 0, -3, 2.5, "RUNNING", ""])
def test_value_types_kept(decoder: UnsDecoder, value: object) -> None:
    reading = _single(decoder, f"{ROOT}/{EQUIPMENT}/mode", _json({"ts": TS_MS, "value": value}))

    assert isinstance(reading, DecodedReading)
    assert reading.value == value
    assert type(reading.value) is type(value)
    assert reading.unit is None


def test_batch_reads_every_value_with_units(decoder: UnsDecoder) -> None:
    payload = _json(
        {
            "ts": "2024-05-01T08:00:00.250Z",
            "values": {"force_kn": 12.5, "is_running": True, "program": "P-100"},
            "units": {"force_kn": "kN"},
            "extra": "ignored",
        }
    )

    decoded = decoder.decode(f"{ROOT}/{EQUIPMENT}", payload)

    assert decoded == (
        DecodedReading(EQUIPMENT, "force_kn", TS, 12.5, "kN"),
        DecodedReading(EQUIPMENT, "is_running", TS, True, None),
        DecodedReading(EQUIPMENT, "program", TS, "P-100", None),
    )


def test_features_become_float_readings_of_vibration_signals(decoder: UnsDecoder) -> None:
    payload = _json({"ts": TS_MS, "features": {"rms": 0.42, "kurtosis": 3, "crest_factor": 2.9}})

    decoded = decoder.decode(f"{ROOT}/{EQUIPMENT}/_features", payload)

    assert decoded == (
        DecodedReading(EQUIPMENT, "vibration_rms", TS, 0.42, None),
        DecodedReading(EQUIPMENT, "vibration_kurtosis", TS, 3.0, None),
        DecodedReading(EQUIPMENT, "vibration_crest_factor", TS, 2.9, None),
    )
    assert all(type(reading.value) is float for reading in decoded)


def test_state_event(decoder: UnsDecoder) -> None:
    payload = _json({"ts": TS_MS, "type": "state", "state": "down", "reason": "TOOL_BREAK"})

    event = decoder.decode(f"{ROOT}/{EQUIPMENT}/_event", payload)

    assert event == DecodedEvent(EQUIPMENT, "state", TS, {"state": "down", "reason": "TOOL_BREAK"})


def test_state_event_without_reason(decoder: UnsDecoder) -> None:
    event = decoder.decode(
        f"{ROOT}/{EQUIPMENT}/_event", _json({"ts": TS_MS, "type": "state", "state": "running"})
    )

    assert isinstance(event, DecodedEvent)
    assert dict(event.data) == {"state": "running", "reason": None}


def test_count_event_fills_absent_counts_with_zero(decoder: UnsDecoder) -> None:
    event = decoder.decode(
        f"{ROOT}/{EQUIPMENT}/_event", _json({"ts": TS_MS, "type": "count", "good": 5, "scrap": 1})
    )

    assert isinstance(event, DecodedEvent)
    assert event.kind == "count"
    assert dict(event.data) == {"good": 5, "scrap": 1, "rework": 0}


def test_event_data_is_read_only(decoder: UnsDecoder) -> None:
    event = decoder.decode(
        f"{ROOT}/{EQUIPMENT}/_event", _json({"ts": TS_MS, "type": "count", "good": 5})
    )

    assert isinstance(event, DecodedEvent)
    with pytest.raises(TypeError):
        event.data["good"] = 6  # type: ignore[index]


def test_other_event_kinds_pass_through(decoder: UnsDecoder) -> None:
    event = decoder.decode(
        f"{ROOT}/{EQUIPMENT}/_event",
        _json({"ts": TS_MS, "type": "tool_change", "tool": "T12", "wear_pct": 80}),
    )

    assert event == DecodedEvent(EQUIPMENT, "tool_change", TS, {"tool": "T12", "wear_pct": 80})


@pytest.mark.parametrize("root", ["", "/", "a", "a/b/c", "/spaced root/x/"])
def test_root_prefix_of_any_depth(root: str) -> None:
    decoder = UnsDecoder(root=root)
    prefix = root.strip("/")
    topic = f"{prefix}/{EQUIPMENT}/speed" if prefix else f"{EQUIPMENT}/speed"

    reading = _single(decoder, topic, _json({"ts": TS_MS, "value": 3}))

    assert isinstance(reading, DecodedReading)
    assert reading.equipment_path == EQUIPMENT
    assert decoder.root == prefix


def test_parse_topic_kinds(decoder: UnsDecoder) -> None:
    assert decoder.parse_topic(f"{ROOT}/{EQUIPMENT}") == UnsTopic(EQUIPMENT, TopicKind.BATCH, None)
    assert decoder.parse_topic(f"{ROOT}/{EQUIPMENT}/rpm") == UnsTopic(
        EQUIPMENT, TopicKind.READING, "rpm"
    )
    assert decoder.parse_topic(f"{ROOT}/{EQUIPMENT}/_event") == UnsTopic(
        EQUIPMENT, TopicKind.EVENT, None
    )
    assert decoder.parse_topic(f"{ROOT}/{EQUIPMENT}/_features") == UnsTopic(
        EQUIPMENT, TopicKind.FEATURES, None
    )
    assert decoder.subscriptions == (f"{ROOT}/+/+/+/+/+/+", f"{ROOT}/+/+/+/+/+/+/+")


def test_encoders_round_trip(decoder: UnsDecoder) -> None:
    assert decoder.decode(build_topic(ROOT, EQUIPMENT, "rpm"), encode_reading(TS, 1200, "rpm")) == (
        DecodedReading(EQUIPMENT, "rpm", TS, 1200, "rpm"),
    )
    assert decoder.decode(
        build_topic(ROOT, EQUIPMENT), encode_batch(TS, {"a": 1.5, "b": False}, {"a": "mm"})
    ) == (
        DecodedReading(EQUIPMENT, "a", TS, 1.5, "mm"),
        DecodedReading(EQUIPMENT, "b", TS, False, None),
    )
    assert decoder.decode(
        build_topic(ROOT, EQUIPMENT, "_features"), encode_features(TS, {"rms": 0.5})
    ) == (DecodedReading(EQUIPMENT, "vibration_rms", TS, 0.5, None),)
    assert decoder.decode(
        build_topic(ROOT, EQUIPMENT, "_event"), encode_event(TS, "count", {"good": 2})
    ) == DecodedEvent(EQUIPMENT, "count", TS, {"good": 2, "scrap": 0, "rework": 0})


def test_encoding_needs_an_aware_timestamp() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        encode_reading(datetime(2024, 5, 1, 8, 0), 1.0)


# --- every reason code -------------------------------------------------------------------------


def test_payload_too_large_is_checked_before_parsing() -> None:
    decoder = UnsDecoder(root=ROOT, max_payload_bytes=64)
    # Not even JSON: the size check must come first.
    assert _reason(decoder, f"{ROOT}/{EQUIPMENT}/x", b"{" * 65) == DecodeReason.PAYLOAD_TOO_LARGE
    assert decoder.decode(f"{ROOT}/{EQUIPMENT}/x", _json({"ts": TS_MS, "value": 1})) == (
        DecodedReading(EQUIPMENT, "x", TS, 1, None),
    )


def test_default_payload_limit_is_256_kib(decoder: UnsDecoder) -> None:
    payload = b" " * (256 * 1024 - 30) + _json({"ts": TS_MS, "value": 1})
    assert _reason(decoder, f"{ROOT}/{EQUIPMENT}/x", payload) == DecodeReason.PAYLOAD_TOO_LARGE


def test_json_whitespace_around_the_document_is_accepted(decoder: UnsDecoder) -> None:
    payload = b' \r\n\t{"ts": 1714550400250, "value": 1} \n'
    assert decoder.decode(f"{ROOT}/{EQUIPMENT}/x", payload) == (
        DecodedReading(EQUIPMENT, "x", TS, 1, None),
    )


@pytest.mark.parametrize(
    "payload",
    [
        b'{"ts": 1714550400250, "value": 1} x',
        b'{"ts": 1714550400250, "value": 1}{"ts": 1714550400250, "value": 2}',
        b'{"ts": 1714550400250, "value": 1}\x0b',  # not JSON whitespace
        b'  {"ts": 1714550400250, "value": 1} 2',
    ],
)
def test_trailing_data_is_bad_json(decoder: UnsDecoder, payload: bytes) -> None:
    assert _reason(decoder, f"{ROOT}/{EQUIPMENT}/x", payload) == DecodeReason.BAD_JSON


@pytest.mark.parametrize(
    "topic",
    [
        "other/v1/" + EQUIPMENT + "/x",  # not below the root
        f"{ROOT}/a/b/c/d/e",  # too few levels
        f"{ROOT}/{EQUIPMENT}/x/y",  # too many levels
        f"{ROOT}/{EQUIPMENT}/+",  # wildcard
        f"{ROOT}/a/b/#",
        f"{ROOT}/a//c/d/e/f/x",  # empty level
        f"{ROOT}/{EQUIPMENT}/",
        f"{ROOT}/_a/b/c/d/e/f",  # reserved equipment level
        f"{ROOT}/a/b/c/d/e/$f/x",
        f"{ROOT}/{EQUIPMENT}/_unknown",  # reserved leaf
        f"{ROOT}/",
        ROOT,
        "",
    ],
)
def test_bad_topic(decoder: UnsDecoder, topic: str) -> None:
    assert _reason(decoder, topic, _json({"ts": TS_MS, "value": 1})) == DecodeReason.BAD_TOPIC


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not json",
        b'{"ts": 1, "value": 1',
        b'{"ts": 1714550400250, "value": NaN}',
        b'{"ts": 1714550400250, "value": Infinity}',
        b"\xff\xfe{}",
        '\ufeff{"ts": 1714550400250, "value": 1}'.encode(),
        b"[" * 100_000 + b"]" * 100_000,
        b'{"ts": 1714550400250, "value": ' + b"9" * 5_000 + b"}",
    ],
)
def test_bad_json(payload: bytes) -> None:
    decoder = UnsDecoder(root=ROOT, max_payload_bytes=1_000_000)
    assert _reason(decoder, f"{ROOT}/{EQUIPMENT}/x", payload) == DecodeReason.BAD_JSON


@pytest.mark.parametrize(
    ("leaf", "document"),
    [
        ("x", [1, 2]),
        ("x", "text"),
        ("x", {"ts": TS_MS, "value": 1, "unit": 5}),
        (None, {"ts": TS_MS, "values": [1, 2]}),
        (None, {"ts": TS_MS, "values": {}}),
        (None, {"ts": TS_MS, "values": {"a": 1}, "units": ["kN"]}),
        (None, {"ts": TS_MS, "values": {"a": 1}, "units": {"a": 3}}),
        (None, {"ts": TS_MS, "values": {"_hidden": 1}}),
        (None, {"ts": TS_MS, "values": {"a/b": 1}}),
        (None, {"ts": TS_MS, "values": {"": 1}}),
        ("_features", {"ts": TS_MS, "features": []}),
        ("_features", {"ts": TS_MS, "features": {"#": 1.0}}),
        ("_event", {"ts": TS_MS, "type": ""}),
        ("_event", {"ts": TS_MS, "type": 3}),
    ],
)
def test_bad_payload(decoder: UnsDecoder, leaf: str | None, document: object) -> None:
    topic = build_topic(ROOT, EQUIPMENT, leaf)
    assert _reason(decoder, topic, _json(document)) == DecodeReason.BAD_PAYLOAD


@pytest.mark.parametrize(
    ("leaf", "document", "field"),
    [
        ("x", {"value": 1}, "ts"),
        ("x", {"ts": TS_MS}, "value"),
        (None, {"ts": TS_MS, "value": 1}, "values"),
        ("_features", {"ts": TS_MS, "values": {"rms": 1.0}}, "features"),
        ("_event", {"ts": TS_MS, "state": "down"}, "type"),
        ("_event", {"ts": TS_MS, "type": "state"}, "state"),
        ("_event", {"ts": TS_MS, "type": "count"}, "good, scrap or rework"),
    ],
)
def test_missing_field(decoder: UnsDecoder, leaf: str | None, document: object, field: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decoder.decode(build_topic(ROOT, EQUIPMENT, leaf), _json(document))

    assert caught.value.reason_code == DecodeReason.MISSING_FIELD
    assert field in caught.value.message


@pytest.mark.parametrize(
    "raw_ts",
    [
        1_714_550_400,  # seconds, not milliseconds
        -1,
        4_102_444_800_000,  # 2100-01-01: out of range
        True,
        None,
        [TS_MS],
        "2024-05-01T08:00:00",  # no offset
        "2024-05-01",
        "2024-13-01T08:00:00Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01T08:00:60Z",
        "20240501T080000Z",  # ISO 8601 basic format is not RFC 3339
        "1999-12-31T23:59:59Z",
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:00:00+01:00",
        "yesterday",
    ],
)
def test_bad_timestamp(decoder: UnsDecoder, raw_ts: object) -> None:
    payload = _json({"ts": raw_ts, "value": 1})
    assert _reason(decoder, f"{ROOT}/{EQUIPMENT}/x", payload) == DecodeReason.BAD_TIMESTAMP


def test_nan_epoch_timestamp_is_bad() -> None:
    with pytest.raises(DecodeError) as caught:
        parse_timestamp(float("nan"))
    assert caught.value.reason_code == DecodeReason.BAD_TIMESTAMP


@pytest.mark.parametrize(
    ("leaf", "document"),
    [
        ("x", {"ts": TS_MS, "value": None}),
        ("x", {"ts": TS_MS, "value": [1]}),
        ("x", {"ts": TS_MS, "value": {"a": 1}}),
        (None, {"ts": TS_MS, "values": {"a": 1, "b": None}}),
        ("_features", {"ts": TS_MS, "features": {"rms": "high"}}),
        ("_features", {"ts": TS_MS, "features": {"rms": True}}),
        ("_event", {"ts": TS_MS, "type": "state", "state": ""}),
        ("_event", {"ts": TS_MS, "type": "state", "state": "down", "reason": 4}),
        ("_event", {"ts": TS_MS, "type": "count", "good": -1}),
        ("_event", {"ts": TS_MS, "type": "count", "good": 1.5}),
        ("_event", {"ts": TS_MS, "type": "count", "good": True}),
        ("_event", {"ts": TS_MS, "type": "count", "good": 1, "rework": "2"}),
    ],
)
def test_bad_value_type(decoder: UnsDecoder, leaf: str | None, document: object) -> None:
    payload = _json(document)
    assert (
        _reason(decoder, build_topic(ROOT, EQUIPMENT, leaf), payload) == DecodeReason.BAD_VALUE_TYPE
    )


def test_number_overflowing_to_infinity_is_a_bad_value(decoder: UnsDecoder) -> None:
    payload = b'{"ts": 1714550400250, "value": 1e400}'
    assert _reason(decoder, f"{ROOT}/{EQUIPMENT}/x", payload) == DecodeReason.BAD_VALUE_TYPE


def test_one_bad_value_rejects_the_whole_batch(decoder: UnsDecoder) -> None:
    with pytest.raises(DecodeError) as caught:
        decoder.decode(f"{ROOT}/{EQUIPMENT}", _json({"ts": TS_MS, "values": {"a": 1, "b": [2]}}))

    assert caught.value.reason_code == DecodeReason.BAD_VALUE_TYPE
    assert "values.b" in caught.value.message


def test_every_reason_code_of_the_uns_codec_is_covered() -> None:
    uns_reasons = {
        DecodeReason.PAYLOAD_TOO_LARGE,
        DecodeReason.BAD_TOPIC,
        DecodeReason.BAD_JSON,
        DecodeReason.BAD_PAYLOAD,
        DecodeReason.MISSING_FIELD,
        DecodeReason.BAD_TIMESTAMP,
        DecodeReason.BAD_VALUE_TYPE,
    }
    assert {reason.value for reason in uns_reasons} == {
        "payload_too_large",
        "bad_topic",
        "bad_json",
        "bad_payload",
        "missing_field",
        "bad_timestamp",
        "bad_value_type",
    }


def test_decode_error_carries_code_and_message() -> None:
    error = DecodeError(DecodeReason.BAD_JSON, "Expecting value")

    assert error.reason_code is DecodeReason.BAD_JSON
    assert error.message == "Expecting value"
    assert str(error) == "bad_json: Expecting value"
    assert isinstance(error, ValueError)


def test_bad_root_is_rejected_at_construction() -> None:
    with pytest.raises(ValueError, match="wildcard"):
        UnsDecoder(root="a/+/b")
    with pytest.raises(ValueError, match="empty level"):
        UnsDecoder(root="a//b")
    with pytest.raises(ValueError, match="positive"):
        UnsDecoder(max_payload_bytes=0)


def test_offset_timestamps_are_converted_to_utc() -> None:
    moment = parse_timestamp("2024-05-01T03:00:00.250-05:00")
    assert moment == TS
    assert moment.tzinfo is UTC
    assert moment.astimezone(timezone(timedelta(hours=2))).hour == 10


# --- fuzzing: nothing but DecodeError escapes ---------------------------------------------------

_TOPIC_ALPHABET = st.sampled_from(["a", "b", "_", "$", "+", "#", "/", " ", "\x00", "é", "x"])


@settings(max_examples=400, deadline=None)
@given(payload=st.binary(max_size=512))
def test_arbitrary_bytes_raise_only_decode_error(payload: bytes) -> None:
    decoder = UnsDecoder(root=ROOT, max_payload_bytes=256)
    for leaf in ("x", None, "_event", "_features"):
        try:
            decoded = decoder.decode(build_topic(ROOT, EQUIPMENT, leaf), payload)
        except DecodeError as error:
            assert isinstance(error.reason_code, DecodeReason)
        else:
            assert isinstance(decoded, (tuple, DecodedEvent))


@settings(max_examples=400, deadline=None)
@given(topic=st.text(alphabet=_TOPIC_ALPHABET, max_size=40) | st.text(max_size=40))
def test_arbitrary_topics_raise_only_decode_error(topic: str) -> None:
    decoder = UnsDecoder(root="")
    try:
        parsed = decoder.parse_topic(topic)
    except DecodeError as error:
        assert error.reason_code == DecodeReason.BAD_TOPIC
    else:
        assert parsed.equipment_path.count("/") == 5
        assert "+" not in topic and "#" not in topic


_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)
_json_values = st.recursive(
    _json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=400, deadline=None)
@given(
    document=st.dictionaries(
        st.sampled_from(
            ["ts", "value", "values", "unit", "units", "type", "state", "reason", "good",
             "scrap", "rework", "features"]
        ),
        _json_values | st.sampled_from([TS_MS, "2024-05-01T08:00:00Z", "state", "count"]),
        max_size=6,
    )
)  # fmt: skip
def test_arbitrary_json_documents_raise_only_decode_error(document: dict[str, object]) -> None:
    decoder = UnsDecoder(root=ROOT)
    payload = json.dumps(document).encode()
    for leaf in ("x", None, "_event", "_features"):
        try:
            decoded = decoder.decode(build_topic(ROOT, EQUIPMENT, leaf), payload)
        except DecodeError as error:
            assert isinstance(error.reason_code, DecodeReason)
        else:
            readings = (decoded,) if isinstance(decoded, DecodedEvent) else decoded
            assert readings  # a decoded message always holds at least one item
            assert all(item.ts.tzinfo is UTC for item in readings)
