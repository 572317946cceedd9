"""Sparkplug host session: properties over shuffled and replayed messages, and the deferred
decoding path giving exactly what decoding in the host gives."""

from __future__ import annotations

import random
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.workers.mqtt.sparkplug_session_builders import (
    DEVICE,
    GROUP,
    NODE,
    T0,
    at,
    born_session,
    dbirth,
    ddata,
    ddeath,
    forces,
    nbirth,
    ndeath,
    reasons,
)
from workers.mqtt.sparkplug.decode import decode_message
from workers.mqtt.sparkplug.encode import (
    encode_data,
    encode_dbirth,
    encode_nbirth,
)
from workers.mqtt.sparkplug.model import (
    DataType,
    MessageType,
    SparkplugMetric,
)
from workers.mqtt.sparkplug.resolve import merge_outputs
from workers.mqtt.sparkplug.session import SparkplugHostSession
from workers.mqtt.sparkplug.session_model import (
    DataQualityReason,
    SessionOutput,
    SessionSettings,
    StaleReason,
)
from workers.mqtt.sparkplug.topics import build_topic

# --- properties --------------------------------------------------------------------------------


@st.composite
def _shuffled_within_window(draw: st.DrawFn) -> list[int]:
    """Seqs 2..N+1 with each message displaced by less than the reorder window."""
    count = draw(st.integers(min_value=1, max_value=300))
    window = 8
    keys = [index + draw(st.floats(min_value=0, max_value=window - 1)) for index in range(count)]
    order = sorted(range(count), key=lambda index: keys[index])
    return [index + 2 for index in order]


@settings(max_examples=150, deadline=None)
@given(arrival=_shuffled_within_window())
def test_messages_reordered_within_the_window_come_out_once_in_order(arrival: list[int]) -> None:
    session = born_session(SessionSettings(reorder_window_messages=16, reorder_timeout_s=5.0))

    outputs = [
        session.handle(ddata(seq % 256, float(seq)), received_at=at(1 + index * 0.001))
        for index, seq in enumerate(arrival)
    ]

    merged = merge_outputs(outputs)
    assert forces(merged) == [float(seq) for seq in sorted(arrival)]
    assert merged.rebirth_requests == ()
    assert merged.data_quality_events == ()


_EVENTS = st.lists(
    st.one_of(
        st.tuples(st.just("nbirth"), st.integers(0, 3)),
        st.tuples(st.just("ndeath"), st.integers(0, 3)),
        st.tuples(st.just("dbirth"), st.integers(0, 255)),
        st.tuples(st.just("ddata"), st.integers(0, 255)),
        st.tuples(st.just("ddeath"), st.integers(0, 255)),
        st.tuples(st.just("expire"), st.integers(0, 0)),
    ),
    max_size=40,
)


def _replay(
    session: SparkplugHostSession, events: Sequence[tuple[str, int]]
) -> list[SessionOutput]:
    outputs = []
    for index, (kind, number) in enumerate(events):
        moment = at(index)
        if kind == "nbirth":
            message = nbirth(bd_seq=number)
        elif kind == "ndeath":
            message = ndeath(bd_seq=number)
        elif kind == "dbirth":
            message = dbirth(number)
        elif kind == "ddata":
            message = ddata(number, float(index))
        elif kind == "ddeath":
            message = ddeath(number)
        else:
            outputs.append(session.expire(now=moment))
            continue
        outputs.append(session.handle(message, received_at=moment))
    return outputs


@settings(max_examples=300, deadline=None)
@given(events=_EVENTS)
def test_at_most_one_rebirth_request_between_births(events: list[tuple[str, int]]) -> None:
    session = SparkplugHostSession(SessionSettings(reorder_timeout_s=1.5, rebirth_retry_s=None))

    outputs = _replay(session, events)

    requests_since_birth = 0
    for (kind, _), output in zip(events, outputs, strict=True):
        if kind == "nbirth":
            requests_since_birth = 0
        requests_since_birth += len(output.rebirth_requests)
        assert requests_since_birth <= 1
        if any(mark.reason is StaleReason.NODE_DEATH for mark in output.stale_marks):
            requests_since_birth = 0  # the node is offline: its next data asks again
        for reading in output.readings:
            assert reading.metric_name in {"Force", "Count", "Supply Voltage"}
        assert all(not reading.is_historical for reading in output.current_values)


def test_shuffled_replay_is_deterministic() -> None:
    generator = random.Random(7)
    events = [
        (generator.choice(["ddata", "ddata", "ddata", "expire"]), seq % 256)
        for seq in range(2, 200)
    ]
    events = [("nbirth", 1), ("dbirth", 1), *events]
    generator.shuffle(events[2:])

    first = _replay(SparkplugHostSession(), events)
    second = _replay(SparkplugHostSession(), events)

    assert first == second


def test_a_birth_after_an_expired_window_does_not_ask_for_another_rebirth() -> None:
    session = born_session(SessionSettings(reorder_timeout_s=1.0))
    session.handle(ddata(3), received_at=at(1))  # held, waiting for seq 2; never expired

    output = session.handle(nbirth(bd_seq=2), received_at=at(30))

    assert output.rebirth_requests == ()
    assert reasons(output) == [DataQualityReason.MESSAGES_DISCARDED]


# --- deferred decoding: the host checks, a worker decodes ---------------------------------------


def _raw_messages() -> list[tuple[str, bytes, str | None]]:
    """(topic, payload) of a scripted session: births, plain data, historical, transient, a
    quality property, a datatype mismatch, a metric by name, a reordered pair, an unknown
    alias (rebirth), node data."""

    def data(seq: int, metrics: list[SparkplugMetric], device: str | None = DEVICE):
        kind = MessageType.DDATA if device else MessageType.NDATA
        topic = build_topic(GROUP, kind, NODE, device)
        return topic, encode_data(timestamp=at(seq), seq=seq, metrics=metrics)

    force = DataType.DOUBLE
    return [
        (build_topic(GROUP, MessageType.NBIRTH, NODE), nbirth_payload()),
        (build_topic(GROUP, MessageType.DBIRTH, NODE, DEVICE), dbirth_payload(1)),
        data(
            2,
            [
                SparkplugMetric(None, 10, force, 1.5, at(2)),
                SparkplugMetric(None, 11, DataType.INT32, 7, at(2)),
            ],
        ),
        data(3, [SparkplugMetric(None, 10, force, 1.0, at(1), is_historical=True)]),
        data(4, [SparkplugMetric(None, 10, force, 2.5, None, is_transient=True)]),
        data(5, [SparkplugMetric(None, 10, force, 3.5, at(5), properties={"Quality": 500})]),
        data(6, [SparkplugMetric(None, 10, DataType.INT32, 4, at(6))]),  # datatype mismatch
        data(7, [SparkplugMetric("Force", None, force, 5.5, at(7))]),  # by name
        data(9, [SparkplugMetric(None, 10, force, 9.5, at(9))]),  # ahead: held
        data(8, [SparkplugMetric(None, 10, force, 8.5, at(8))]),  # fills the gap
        data(10, [SparkplugMetric(None, 1, DataType.FLOAT, 23.5, at(10))], None),
        data(11, [SparkplugMetric(None, 99, force, 1.0, at(11))]),  # unknown alias
    ]


def nbirth_payload() -> bytes:
    metrics = [SparkplugMetric("Supply Voltage", 1, DataType.FLOAT, 24.0, T0)]
    return encode_nbirth(timestamp=T0, bd_seq=1, metrics=metrics, seq=0)


def dbirth_payload(seq: int) -> bytes:
    metrics = [
        SparkplugMetric("Force", 10, DataType.DOUBLE, 0.0, T0),
        SparkplugMetric("Count", 11, DataType.INT32, 0, T0),
    ]
    return encode_dbirth(timestamp=T0, seq=seq, metrics=metrics)


def _resolve(record) -> SessionOutput:
    """A deferred data message decoded as the ingest worker does."""
    from workers.mqtt.sparkplug.resolve import data_resolve, metric_table_index

    return data_resolve(
        group_id=record.group_id,
        edge_node_id=record.edge_node_id,
        device_id=record.device_id,
        raw=record.raw,
        default_ts=record.default_ts,
        received_at=record.received_at,
        seq=record.seq,
        index=metric_table_index(record.table.rows),
    )


def _run(*, defer: bool) -> tuple[list, list, list, list, int]:

    session = SparkplugHostSession()
    outputs = []
    deferred = 0
    for index, (topic, payload) in enumerate(_raw_messages()):
        message = decode_message(topic, payload, defer_data_metrics=defer)
        output = session.handle(message, received_at=at(100 + index))
        outputs.append(output)
        for record in output.deferred:
            deferred += 1
            outputs.append(_resolve(record))
    readings = [reading for output in outputs for reading in output.readings]
    current = [reading for output in outputs for reading in output.current_values]
    events = sorted(
        (event.reason_code, event.message, event.seq)
        for output in outputs
        for event in output.data_quality_events
    )
    rebirths = [request for output in outputs for request in output.rebirth_requests]
    return readings, current, events, rebirths, deferred


def test_deferred_decoding_gives_exactly_what_decoding_in_the_host_gives():
    in_host = _run(defer=False)
    in_workers = _run(defer=True)
    assert in_host[4] == 0
    assert in_workers[4] == 9  # every data message in sequence whose metrics are all known
    assert in_workers[:4] == in_host[:4]
    readings, current, events, rebirths, _ = in_workers
    assert [reading.value for reading in readings] == [
        24.0,
        0.0,
        0,
        1.5,
        7,
        1.0,
        3.5,
        5.5,
        8.5,
        9.5,
        23.5,
    ]  # births, data in sequence order (9 waited for 8), no transient, no mismatch, no alias 99
    assert {reason for reason, _message, _seq in events} >= {
        DataQualityReason.DATATYPE_MISMATCH,
        DataQualityReason.UNKNOWN_ALIAS,
    }
    assert len(rebirths) == 1
    assert any(reading.quality == 500 for reading in readings)
    assert any(reading.is_historical for reading in readings)
    assert not any(reading.value == 2.5 for reading in readings)  # transient: not stored
    assert any(reading.value == 2.5 for reading in current)  # but a current value


def test_the_workers_fast_path_gives_the_rows_of_the_sessions_own_code():
    from workers.bridge.sparkplug import (
        current_values_storable,
        deferred_resolve,
        reading_chunks,
        readings_storable,
    )

    session = SparkplugHostSession()
    records = []
    for index, (topic, payload) in enumerate(_raw_messages()):
        message = decode_message(topic, payload, defer_data_metrics=True)
        records.extend(session.handle(message, received_at=at(100 + index)).deferred)
    assert [record.metric_count for record in records] == [2, 1, 1, 1, 1, 1, 1, 1, 1]
    wire = [record.wire() for record in records]
    tables = {record.table.table_id: [list(row) for row in record.table.rows] for record in records}
    readings, current, events = deferred_resolve(wire, list(tables.items()), [], [], [])

    expected_readings, expected_current, expected_events = [], {}, []
    for record in records:
        output = _resolve(record)
        kept, unsupported = readings_storable(output.readings)
        expected_readings.extend(reading_chunks(kept))
        expected_events.extend(unsupported)
        for reading in current_values_storable(output.current_values):
            key = (reading.device_id, reading.metric_name)
            expected_current[key] = (reading.value, reading.quality)
        expected_events.extend(
            [e.group_id, e.edge_node_id, e.device_id, e.reason_code.value, e.message]
            for e in output.data_quality_events
        )

    def rows(chunks):
        return [(chunk[2], *row) for chunk in chunks for row in zip(*chunk[3:], strict=True)]

    assert len(rows(readings)) == 8  # 2 + 1 historical + 4 plain + the Quality one (session)
    assert rows(readings) == rows(expected_readings)
    assert {
        (device, name): (value, quality)
        for device, name, _type, _ms, value, quality, _historical in rows(current)
    } == expected_current
    assert events == expected_events
