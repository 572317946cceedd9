"""Sparkplug B codec: topics, payload encode/decode, value types, problems, fuzzing."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.mqtt import sparkplug_b_pb2
from workers.mqtt.errors import DecodeError, DecodeReason
from workers.mqtt.sparkplug.decode import decode_host_state, decode_message, decode_payload
from workers.mqtt.sparkplug.encode import (
    encode_data,
    encode_dbirth,
    encode_ddeath,
    encode_host_state,
    encode_nbirth,
    encode_ndeath,
    encode_payload,
    encode_rebirth_command,
)
from workers.mqtt.sparkplug.model import (
    BD_SEQ_METRIC,
    REBIRTH_METRIC,
    DataType,
    HostState,
    MessageType,
    SparkplugDataSet,
    SparkplugMetric,
    SparkplugPayload,
    SparkplugTemplate,
    SparkplugTopic,
    TemplateParameter,
    is_control_metric,
)
from workers.mqtt.sparkplug.topics import build_topic, host_state_topic, parse_topic
from workers.mqtt.sparkplug.values import interpret_metric_value

TS = datetime(2024, 5, 1, 8, 0, 0, 250_000, tzinfo=UTC)
TS_MS = 1_714_550_400_250


def _metric(
    datatype: DataType, value: object, name: str = "m", alias: int | None = 1
) -> SparkplugMetric:
    return SparkplugMetric(name, alias, datatype, value, TS)


def _round_trip(metric: SparkplugMetric) -> SparkplugMetric:
    payload = decode_payload(encode_payload(timestamp=TS, seq=4, metrics=[metric]))
    (decoded,) = payload.metrics
    return decoded


# --- topics ------------------------------------------------------------------------------------


@pytest.mark.parametrize("message_type", ["NBIRTH", "NDEATH", "NDATA", "NCMD"])
def test_node_topics(message_type: str) -> None:
    assert parse_topic(f"spBv1.0/Plant A/{message_type}/edge-1") == SparkplugTopic(
        MessageType(message_type), "Plant A", "edge-1"
    )


@pytest.mark.parametrize("message_type", ["DBIRTH", "DDEATH", "DDATA", "DCMD"])
def test_device_topics(message_type: str) -> None:
    assert parse_topic(f"spBv1.0/g/{message_type}/edge-1/press_7") == SparkplugTopic(
        MessageType(message_type), "g", "edge-1", "press_7"
    )


def test_host_state_topic() -> None:
    assert parse_topic("spBv1.0/STATE/mes-host") == SparkplugTopic(
        MessageType.STATE, None, None, None, "mes-host"
    )
    assert host_state_topic("mes-host") == "spBv1.0/STATE/mes-host"


@pytest.mark.parametrize(
    "topic",
    [
        "spAv1.0/g/NDATA/n",
        "g/NDATA/n",
        "spBv1.0/g/NDATA",
        "spBv1.0/g/NDATA/n/d",  # node type with a device
        "spBv1.0/g/DDATA/n",  # device type without a device
        "spBv1.0/g/XDATA/n",
        "spBv1.0/g/STATE/n",  # STATE lives at spBv1.0/STATE/host only
        "spBv1.0/STATE/host/extra",
        "spBv1.0/STATE/",
        "spBv1.0//NDATA/n",
        "spBv1.0/g/NDATA/",
        "spBv1.0/g/DDATA/n/",
        "spBv1.0/g+/NDATA/n",
        "spBv1.0/g/NDATA/#",
        "spBv1.0/g/DDATA/n/d/e",
        "",
    ],
)
def test_bad_topics(topic: str) -> None:
    with pytest.raises(DecodeError) as caught:
        parse_topic(topic)
    assert caught.value.reason_code == DecodeReason.BAD_TOPIC


def test_build_topic_round_trips_and_validates() -> None:
    topic = build_topic("g", MessageType.DDATA, "n", "d")
    assert topic == "spBv1.0/g/DDATA/n/d"
    assert parse_topic(topic) == SparkplugTopic(MessageType.DDATA, "g", "n", "d")
    assert build_topic("g", MessageType.NCMD, "n") == "spBv1.0/g/NCMD/n"
    with pytest.raises(ValueError, match="needs device"):
        build_topic("g", MessageType.DDATA, "n")
    with pytest.raises(ValueError, match="takes no device"):
        build_topic("g", MessageType.NDATA, "n", "d")
    with pytest.raises(ValueError, match="non-empty"):
        build_topic("g/h", MessageType.NDATA, "n")
    with pytest.raises(ValueError, match="host_state_topic"):
        build_topic("g", MessageType.STATE, "n")


# --- value types -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("datatype", "value"),
    [
        (DataType.INT8, -128),
        (DataType.INT8, 127),
        (DataType.INT16, -32768),
        (DataType.INT32, -(2**31)),
        (DataType.INT32, 2**31 - 1),
        (DataType.INT64, -(2**63)),
        (DataType.INT64, 2**63 - 1),
        (DataType.UINT8, 255),
        (DataType.UINT16, 65535),
        (DataType.UINT32, 2**32 - 1),
        (DataType.UINT64, 2**64 - 1),
        (DataType.DOUBLE, -1234.5678),
        (DataType.FLOAT, 0.5),
        (DataType.BOOLEAN, True),
        (DataType.STRING, "RUNNING"),
        (DataType.TEXT, "long text é"),
        (DataType.UUID, "3f2504e0-4f89-11d3-9a0c-0305e82c3301"),
        (DataType.DATETIME, TS_MS),
        (DataType.BYTES, b"\x00\x01\xff"),
        (DataType.FILE, b"%PDF"),
        (DataType.INT8_ARRAY, (-23, 123)),
        (DataType.INT16_ARRAY, (1, -2)),
        (DataType.INT32_ARRAY, (123456789, -987654321)),
        (DataType.INT64_ARRAY, (-(2**63), 2**63 - 1)),
        (DataType.UINT8_ARRAY, (0, 255)),
        (DataType.UINT16_ARRAY, (65535,)),
        (DataType.UINT32_ARRAY, (2**32 - 1, 0)),
        (DataType.UINT64_ARRAY, (2**64 - 1,)),
        (DataType.FLOAT_ARRAY, (1.5, -0.25)),
        (DataType.DOUBLE_ARRAY, (12.354213, 1022.9123213)),
        (DataType.BOOLEAN_ARRAY, (True, False, True)),
        (DataType.STRING_ARRAY, ("ABC", "hello", "")),
        (DataType.DATETIME_ARRAY, (TS_MS, TS_MS + 1)),
        (DataType.INT32_ARRAY, ()),
    ],
)
def test_value_round_trip(datatype: DataType, value: object) -> None:
    decoded = _round_trip(_metric(datatype, value))

    assert decoded.value == value
    assert type(decoded.value) is type(value)
    assert decoded.datatype == datatype
    assert decoded.problem is None
    assert decoded.timestamp == TS


def test_float_is_single_precision() -> None:
    decoded = _round_trip(_metric(DataType.FLOAT, 1.1))
    assert decoded.value == struct.unpack("<f", struct.pack("<f", 1.1))[0]
    assert decoded.value != 1.1


def test_datetime_value_accepts_a_datetime_and_returns_ms() -> None:
    assert _round_trip(_metric(DataType.DATETIME, TS)).value == TS_MS


def test_signed_integers_are_twos_complement_on_the_wire() -> None:
    raw = sparkplug_b_pb2.Payload()
    raw.ParseFromString(encode_payload(timestamp=TS, seq=0, metrics=[_metric(DataType.INT32, -5)]))
    assert raw.metrics[0].int_value == 2**32 - 5
    raw.ParseFromString(encode_payload(timestamp=TS, seq=0, metrics=[_metric(DataType.INT64, -5)]))
    assert raw.metrics[0].long_value == 2**64 - 5


@pytest.mark.parametrize("wire_value", [0xFB, 0xFFFF_FFFB])
def test_int8_accepts_narrow_and_sign_extended_encodings(wire_value: int) -> None:
    raw = sparkplug_b_pb2.Payload()
    metric = raw.metrics.add()
    metric.name = "m"
    metric.datatype = DataType.INT8
    metric.int_value = wire_value

    assert decode_payload(raw.SerializeToString()).metrics[0].value == -5


def test_spec_examples_of_packed_arrays() -> None:
    raw = sparkplug_b_pb2.Payload()
    flags = (False, False, True, True, False, True, False, False, True, True, False, True)
    raw.ParseFromString(
        encode_payload(
            timestamp=None,
            seq=None,
            metrics=[
                _metric(DataType.BOOLEAN_ARRAY, flags),
                _metric(DataType.STRING_ARRAY, ("ABC", "hello")),
                _metric(DataType.INT16_ARRAY, (1, -2)),
            ],
        )
    )
    assert raw.metrics[0].bytes_value == bytes([0x0C, 0x00, 0x00, 0x00, 0x34, 0xD0])
    assert raw.metrics[1].bytes_value == b"ABC\x00hello\x00"
    assert raw.metrics[2].bytes_value == bytes([0x01, 0x00, 0xFE, 0xFF])


def test_null_metric() -> None:
    decoded = _round_trip(_metric(DataType.DOUBLE, None))
    assert decoded.is_null is True
    assert decoded.value is None
    assert decoded.problem is None


def test_flags_alias_and_properties_round_trip() -> None:
    metric = SparkplugMetric(
        "Line/Speed",
        42,
        DataType.DOUBLE,
        3.5,
        TS,
        is_historical=True,
        is_transient=True,
        properties={"engUnit": "m/min", "Quality": 192, "limits": {"high": 9.5, "on": True}},
    )
    decoded = _round_trip(metric)

    assert (decoded.name, decoded.alias, decoded.value) == ("Line/Speed", 42, 3.5)
    assert decoded.is_historical is True
    assert decoded.is_transient is True
    assert decoded.properties is not None
    assert dict(decoded.properties) == {
        "engUnit": "m/min",
        "Quality": 192,
        "limits": {"high": 9.5, "on": True},
    }


def test_alias_zero_is_an_alias() -> None:
    assert _round_trip(_metric(DataType.DOUBLE, 1.0, alias=0)).alias == 0
    assert _round_trip(_metric(DataType.DOUBLE, 1.0, alias=None)).alias is None


def test_dataset_round_trip() -> None:
    dataset = SparkplugDataSet(
        ("step", "force_kn", "ok", "note"),
        (DataType.INT32, DataType.DOUBLE, DataType.BOOLEAN, DataType.STRING),
        ((1, 12.5, True, "a"), (-2, 0.0, False, "")),
    )
    assert _round_trip(_metric(DataType.DATASET, dataset)).value == dataset


def test_template_round_trip() -> None:
    template = SparkplugTemplate(
        "1.0",
        "Motor",
        False,
        (
            SparkplugMetric("rpm", None, DataType.DOUBLE, 1480.0),
            SparkplugMetric("fault", None, DataType.BOOLEAN, False),
        ),
        (TemplateParameter("poles", DataType.INT16, -4),),
    )
    assert _round_trip(_metric(DataType.TEMPLATE, template)).value == template


@pytest.mark.parametrize(
    ("datatype", "value"),
    [
        (DataType.INT8, 128),
        (DataType.UINT8, -1),
        (DataType.UINT64, 2**64),
        (DataType.BOOLEAN, 1),
        (DataType.STRING, 5),
        (DataType.INT8_ARRAY, (200,)),
        (DataType.STRING_ARRAY, ("a\x00b",)),
        (DataType.STRING_ARRAY, ("\ud800",)),  # a lone surrogate has no UTF-8
        (DataType.PROPERTY_SET, {}),
    ],
)
def test_encoding_rejects_values_that_do_not_fit(datatype: DataType, value: object) -> None:
    with pytest.raises(ValueError):
        encode_payload(timestamp=TS, seq=0, metrics=[_metric(datatype, value)])


def test_encoding_rejects_bad_seq_and_missing_datatype() -> None:
    with pytest.raises(ValueError, match=r"0\.\.255"):
        encode_payload(timestamp=TS, seq=256, metrics=[])
    with pytest.raises(ValueError, match="datatype is required"):
        encode_payload(timestamp=TS, seq=0, metrics=[SparkplugMetric("m", 1, None, 1.0)])
    with pytest.raises(ValueError, match="timezone-aware"):
        encode_payload(timestamp=datetime(2024, 1, 1), seq=0, metrics=[])


# --- message builders --------------------------------------------------------------------------


def test_nbirth_carries_bdseq_and_rebirth_false_with_seq_zero() -> None:
    payload = decode_payload(
        encode_nbirth(timestamp=TS, bd_seq=7, metrics=[_metric(DataType.DOUBLE, 1.0, "Temp", 1)])
    )

    assert payload.seq == 0
    assert payload.timestamp == TS
    assert [(m.name, m.datatype, m.value) for m in payload.metrics] == [
        (BD_SEQ_METRIC, DataType.UINT64, 7),
        (REBIRTH_METRIC, DataType.BOOLEAN, False),
        ("Temp", DataType.DOUBLE, 1.0),
    ]


def test_ndeath_has_bdseq_and_no_seq() -> None:
    payload = decode_payload(encode_ndeath(bd_seq=7))
    assert payload.seq is None
    assert payload.timestamp is None
    assert [(m.name, m.value) for m in payload.metrics] == [(BD_SEQ_METRIC, 7)]


def test_rebirth_command() -> None:
    payload = decode_payload(encode_rebirth_command(timestamp=TS))
    assert payload.seq is None
    assert payload.timestamp == TS
    assert [(m.name, m.datatype, m.value) for m in payload.metrics] == [
        (REBIRTH_METRIC, DataType.BOOLEAN, True)
    ]


def test_dbirth_ddata_ddeath_builders() -> None:
    birth = decode_payload(
        encode_dbirth(timestamp=TS, seq=1, metrics=[_metric(DataType.INT32, 5, "Count", 9)])
    )
    data = decode_payload(
        encode_data(timestamp=TS, seq=2, metrics=[SparkplugMetric(None, 9, DataType.INT32, 6, TS)])
    )
    death = decode_payload(encode_ddeath(timestamp=TS, seq=3))

    assert (birth.seq, birth.metrics[0].name, birth.metrics[0].alias) == (1, "Count", 9)
    assert (data.seq, data.metrics[0].name, data.metrics[0].alias, data.metrics[0].value) == (
        2,
        None,
        9,
        6,
    )
    assert (death.seq, death.metrics) == (3, ())


def test_data_without_datatype_is_interpreted_with_the_births() -> None:
    raw = sparkplug_b_pb2.Payload(seq=1, timestamp=TS_MS)
    metric = raw.metrics.add()
    metric.alias = 3
    metric.int_value = 2**32 - 7

    (decoded,) = decode_payload(raw.SerializeToString()).metrics

    assert decoded.datatype is None
    assert decoded.value == 2**32 - 7
    assert decoded.value_field == "int_value"
    assert interpret_metric_value(decoded, DataType.INT32) == -7
    assert interpret_metric_value(decoded, DataType.UINT32) == 2**32 - 7
    with pytest.raises(DecodeError) as caught:
        interpret_metric_value(decoded, DataType.STRING)
    assert caught.value.reason_code == DecodeReason.BAD_VALUE_TYPE


def test_control_metric_names() -> None:
    assert is_control_metric("bdSeq")
    assert is_control_metric("Node Control/Rebirth")
    assert is_control_metric("Device Control/Reboot")
    assert not is_control_metric("Properties/OS")
    assert not is_control_metric("bdSeqX")


# --- problems confined to one metric do not reject the message --------------------------------


def _raw_metric_payload(**fields: object) -> bytes:
    raw = sparkplug_b_pb2.Payload(seq=5, timestamp=TS_MS)
    good = raw.metrics.add()
    good.name = "good"
    good.datatype = DataType.DOUBLE
    good.double_value = 1.0
    bad = raw.metrics.add()
    bad.name = "bad"
    for name, value in fields.items():
        setattr(bad, name, value)
    return raw.SerializeToString()


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"datatype": DataType.INT32, "string_value": "x"}, "bad_value_type"),
        ({"datatype": DataType.UINT8, "int_value": 300}, "bad_value_type"),
        ({"datatype": 99, "int_value": 1}, "unsupported_datatype"),
        ({"datatype": DataType.PROPERTY_SET, "int_value": 1}, "unsupported_datatype"),
        ({"datatype": DataType.INT32_ARRAY, "bytes_value": b"\x01\x02\x03"}, "bad_value_type"),
        (
            {"datatype": DataType.BOOLEAN_ARRAY, "bytes_value": b"\x09\x00\x00\x00\x01"},
            "bad_value_type",
        ),
        ({"datatype": DataType.BOOLEAN_ARRAY, "bytes_value": b"\x01"}, "bad_value_type"),
        ({"datatype": DataType.STRING_ARRAY, "bytes_value": b"abc"}, "bad_value_type"),
        ({"datatype": DataType.STRING_ARRAY, "bytes_value": b"\xff\x00"}, "bad_value_type"),
        ({"datatype": DataType.DOUBLE, "double_value": 1.0, "timestamp": 2**63}, "bad_timestamp"),
    ],
)
def test_metric_problem_is_reported_and_the_message_kept(
    fields: dict[str, object], reason: str
) -> None:
    payload = decode_payload(_raw_metric_payload(**fields))

    good, bad = payload.metrics
    assert (good.value, good.problem) == (1.0, None)
    assert bad.value is None
    assert bad.problem is not None and bad.problem.startswith(reason)
    assert payload.seq == 5


def _length_delimited(field_number: int, data: bytes) -> bytes:
    assert len(data) < 128
    return bytes([field_number << 3 | 2, len(data)]) + data


def test_text_that_is_not_utf8_is_a_problem_not_bytes() -> None:
    # upb hands back proto2 strings that are not UTF-8 as bytes; the codec must not pass them on.
    bad_name = _length_delimited(1, b"\xff") + b"\x20\x0c" + _length_delimited(15, b"ok")
    bad_value = _length_delimited(1, b"ok") + b"\x20\x0c" + _length_delimited(15, b"\xfe")
    bad_raw_value = b"\x10\x05" + _length_delimited(15, b"\xfe")  # alias 5, no datatype
    payload = decode_payload(
        _length_delimited(2, bad_name)
        + _length_delimited(2, bad_value)
        + _length_delimited(2, bad_raw_value)
        + _length_delimited(4, b"\xff\xfe")  # uuid
    )

    first, second, third = payload.metrics
    assert (first.name, first.value) == (None, None)
    assert first.problem is not None and "name is not valid UTF-8" in first.problem
    assert (second.name, second.value) == ("ok", None)
    assert second.problem is not None and second.problem.startswith("bad_value_type")
    assert (third.alias, third.value) == (5, None)
    assert third.problem is not None and third.problem.startswith("bad_value_type")
    assert payload.uuid is None
    assert payload.problems == ("bad_value_type: uuid is not valid UTF-8",)


def test_payload_timestamp_out_of_range_is_a_payload_problem() -> None:
    raw = sparkplug_b_pb2.Payload(seq=1, timestamp=2**63)
    payload = decode_payload(raw.SerializeToString())

    assert payload.timestamp is None
    assert len(payload.problems) == 1 and payload.problems[0].startswith("bad_timestamp")


# --- errors that reject the message ------------------------------------------------------------


def test_payload_too_large() -> None:
    with pytest.raises(DecodeError) as caught:
        decode_payload(b"\x00" * 101, max_payload_bytes=100)
    assert caught.value.reason_code == DecodeReason.PAYLOAD_TOO_LARGE


@pytest.mark.parametrize("payload", [b"\xff\xff\xff", b"\x12\x05\x0a", b"\x0a"])
def test_not_a_protobuf_payload(payload: bytes) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_payload(payload)
    assert caught.value.reason_code == DecodeReason.BAD_PROTOBUF


def test_sequence_number_outside_0_to_255() -> None:
    with pytest.raises(DecodeError) as caught:
        decode_payload(sparkplug_b_pb2.Payload(seq=256).SerializeToString())
    assert caught.value.reason_code == DecodeReason.BAD_SEQUENCE


def test_empty_payload_is_a_valid_empty_message() -> None:
    payload = decode_payload(b"")
    assert (payload.seq, payload.timestamp, payload.metrics, payload.problems) == (
        None,
        None,
        (),
        (),
    )


# --- host STATE --------------------------------------------------------------------------------


def test_host_state_round_trip() -> None:
    message = decode_message("spBv1.0/STATE/mes", encode_host_state(is_online=True, timestamp=TS))
    assert message.payload is None
    assert message.host_state == HostState(True, TS)
    assert decode_host_state(b'{"online": false}') == HostState(False, None)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"ONLINE", DecodeReason.BAD_JSON),
        (b"[]", DecodeReason.BAD_PAYLOAD),
        (b"{}", DecodeReason.MISSING_FIELD),
        (b'{"online": 1}', DecodeReason.BAD_VALUE_TYPE),
        (b'{"online": true, "timestamp": "now"}', DecodeReason.BAD_TIMESTAMP),
        (b"{" + b" " * 5000 + b"}", DecodeReason.PAYLOAD_TOO_LARGE),
    ],
)
def test_bad_host_state(payload: bytes, reason: DecodeReason) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_message("spBv1.0/STATE/mes", payload)
    assert caught.value.reason_code == reason


def test_decode_message_parses_topic_and_payload() -> None:
    message = decode_message(
        "spBv1.0/g/DDATA/n/d",
        encode_data(
            timestamp=TS, seq=9, metrics=[SparkplugMetric(None, 1, DataType.BOOLEAN, True)]
        ),
    )
    assert message.topic == SparkplugTopic(MessageType.DDATA, "g", "n", "d")
    assert message.payload is not None
    assert message.payload.seq == 9
    assert message.payload.metrics[0].value is True
    assert message.payload.metrics[0].timestamp is None


# --- properties --------------------------------------------------------------------------------

_SCALAR_CASES = st.one_of(
    st.tuples(st.just(DataType.INT8), st.integers(-(2**7), 2**7 - 1)),
    st.tuples(st.just(DataType.INT16), st.integers(-(2**15), 2**15 - 1)),
    st.tuples(st.just(DataType.INT32), st.integers(-(2**31), 2**31 - 1)),
    st.tuples(st.just(DataType.INT64), st.integers(-(2**63), 2**63 - 1)),
    st.tuples(st.just(DataType.UINT32), st.integers(0, 2**32 - 1)),
    st.tuples(st.just(DataType.UINT64), st.integers(0, 2**64 - 1)),
    st.tuples(st.just(DataType.DOUBLE), st.floats(allow_nan=False)),
    st.tuples(st.just(DataType.BOOLEAN), st.booleans()),
    st.tuples(st.just(DataType.STRING), st.text(max_size=20)),
    st.tuples(
        st.just(DataType.DOUBLE_ARRAY), st.lists(st.floats(allow_nan=False), max_size=5).map(tuple)
    ),
    st.tuples(st.just(DataType.BOOLEAN_ARRAY), st.lists(st.booleans(), max_size=20).map(tuple)),
    st.tuples(
        st.just(DataType.STRING_ARRAY),
        st.lists(
            st.text(alphabet=st.characters(codec="utf-8", blacklist_characters="\x00"), max_size=5),
            max_size=4,
        ).map(tuple),
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    cases=st.lists(_SCALAR_CASES, max_size=8),
    seq=st.integers(0, 255),
    offset_ms=st.integers(0, 10**11),
)
def test_encode_decode_round_trip(
    cases: list[tuple[DataType, object]], seq: int, offset_ms: int
) -> None:
    timestamp = TS + timedelta(milliseconds=offset_ms)
    metrics = [
        SparkplugMetric(f"m{index}", index, datatype, value, timestamp)
        for index, (datatype, value) in enumerate(cases)
    ]

    payload = decode_payload(encode_payload(timestamp=timestamp, seq=seq, metrics=metrics))

    assert payload.seq == seq
    assert payload.timestamp == timestamp
    assert [(m.name, m.alias, m.datatype, m.value, m.timestamp) for m in payload.metrics] == [
        (m.name, m.alias, m.datatype, m.value, m.timestamp) for m in metrics
    ]


def _assert_well_typed(payload: SparkplugPayload) -> None:
    assert payload.seq is None or 0 <= payload.seq <= 255
    assert payload.uuid is None or type(payload.uuid) is str
    assert all(type(problem) is str for problem in payload.problems)
    for metric in payload.metrics:
        assert metric.name is None or type(metric.name) is str
        assert metric.problem is None or metric.value is None
        if metric.value_field == "string_value" and metric.problem is None and not metric.is_null:
            assert type(metric.value) is str
        if metric.properties is not None:
            assert all(type(key) is str for key in metric.properties)


@settings(max_examples=500, deadline=None)
@given(payload=st.binary(max_size=600))
def test_arbitrary_bytes_raise_only_decode_error(payload: bytes) -> None:
    try:
        decoded = decode_payload(payload)
    except DecodeError as error:
        assert isinstance(error.reason_code, DecodeReason)
    else:
        _assert_well_typed(decoded)


def _payload_like_bytes() -> st.SearchStrategy[bytes]:
    """Valid payloads with random bytes spliced in: reaches deeper than random bytes alone."""
    valid = encode_nbirth(
        timestamp=TS,
        bd_seq=1,
        metrics=[
            _metric(DataType.DATASET, SparkplugDataSet(("a",), (DataType.INT8,), ((-1,), (2,)))),
            _metric(DataType.STRING_ARRAY, ("x", "y"), name="s", alias=2),
            SparkplugMetric("p", 3, DataType.INT8, -3, TS, properties={"q": {"r": 1}}),
        ],
    )
    return st.tuples(st.integers(0, len(valid)), st.integers(0, 8), st.binary(max_size=8)).map(
        lambda cut: valid[: cut[0]] + cut[2] + valid[cut[0] + cut[1] :]
    )


@settings(max_examples=500, deadline=None)
@given(payload=_payload_like_bytes())
def test_mutated_payloads_raise_only_decode_error(payload: bytes) -> None:
    try:
        decoded = decode_payload(payload)
    except DecodeError as error:
        assert isinstance(error.reason_code, DecodeReason)
    else:
        _assert_well_typed(decoded)


_TOPIC_PARTS = st.sampled_from(
    ["spBv1.0", "STATE", "NDATA", "DDATA", "NBIRTH", "g", "n", "", "+", "#"]
)


@settings(max_examples=400, deadline=None)
@given(
    topic=st.lists(_TOPIC_PARTS, max_size=7).map("/".join) | st.text(max_size=40),
)
def test_arbitrary_topics_raise_only_decode_error(topic: str) -> None:
    try:
        parsed = parse_topic(topic)
    except DecodeError as error:
        assert error.reason_code == DecodeReason.BAD_TOPIC
    else:
        assert topic.startswith("spBv1.0/")
        assert isinstance(parsed.message_type, MessageType)
