"""Sparkplug host session state machine: births, aliases, sequence, reorder, rebirth, deaths."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.workers.mqtt.sparkplug_session_builders import (
    DEVICE,
    GROUP,
    NODE,
    OTHER_DEVICE,
    T0,
    _message,
    at,
    born_session,
    dbirth,
    ddata,
    ddeath,
    forces,
    nbirth,
    ndata,
    ndeath,
    reasons,
)
from workers.mqtt import sparkplug_b_pb2
from workers.mqtt.sparkplug.decode import decode_message, decode_payload
from workers.mqtt.sparkplug.encode import (
    encode_data,
    encode_dbirth,
    encode_host_state,
    encode_payload,
    encode_rebirth_command,
)
from workers.mqtt.sparkplug.model import (
    REBIRTH_METRIC,
    DataType,
    MessageType,
    SparkplugMetric,
)
from workers.mqtt.sparkplug.resolve import merge_outputs
from workers.mqtt.sparkplug.session import SparkplugHostSession
from workers.mqtt.sparkplug.session_model import (
    DataQualityReason,
    RebirthRequest,
    SessionOutput,
    SessionSettings,
    SparkplugReading,
    StaleMark,
    StaleReason,
)

# --- births and data ---------------------------------------------------------------------------


def test_nbirth_outputs_its_data_metrics_but_not_protocol_metrics() -> None:
    session = SparkplugHostSession()

    output = session.handle(nbirth(bd_seq=5), received_at=at(1))

    reading = SparkplugReading(
        GROUP, NODE, None, "Supply Voltage", DataType.FLOAT, T0, 24.0, False, False, None
    )
    assert output == SessionOutput(readings=(reading,), current_values=(reading,))
    status = session.node_status(GROUP, NODE)
    assert status is not None
    assert (status.is_online, status.is_in_sync, status.bd_seq, status.expected_seq) == (
        True,
        True,
        5,
        1,
    )


def test_ddata_is_resolved_through_the_dbirth_aliases() -> None:
    session = born_session()

    output = session.handle(ddata(2, 12.5, timestamp=at(-1)), received_at=at(1))

    reading = SparkplugReading(
        GROUP, NODE, DEVICE, "Force", DataType.DOUBLE, at(-1), 12.5, False, False, None
    )
    assert output == SessionOutput(readings=(reading,), current_values=(reading,))


def test_metric_timestamp_falls_back_to_the_payload_then_to_receipt() -> None:
    session = born_session()
    without_metric_ts = session.handle(ddata(2, timestamp=None), received_at=at(9))
    raw = sparkplug_b_pb2.Payload(seq=3)
    metric = raw.metrics.add()
    metric.alias = 10
    metric.datatype = DataType.DOUBLE
    metric.double_value = 2.0
    without_any_ts = session.handle(
        _message(MessageType.DDATA, raw.SerializeToString(), DEVICE), received_at=at(9)
    )

    assert without_metric_ts.readings[0].ts == T0
    assert without_any_ts.readings[0].ts == at(9)


def test_ndata_and_node_metrics() -> None:
    session = born_session()

    output = session.handle(ndata(2, 23.5), received_at=at(1))

    assert [(r.device_id, r.metric_name, r.value) for r in output.readings] == [
        (None, "Supply Voltage", 23.5)
    ]


def test_data_without_datatype_uses_the_births_datatype() -> None:
    session = born_session()
    raw = sparkplug_b_pb2.Payload(seq=2, timestamp=1_714_550_400_000)
    metric = raw.metrics.add()
    metric.alias = 11  # Count, Int32
    metric.int_value = 2**32 - 3

    output = session.handle(
        _message(MessageType.DDATA, raw.SerializeToString(), DEVICE), received_at=at(1)
    )

    assert [(r.metric_name, r.value, r.datatype) for r in output.readings] == [
        ("Count", -3, DataType.INT32)
    ]


def test_datatype_mismatch_and_bad_metric_drop_only_that_metric() -> None:
    session = born_session()
    raw = sparkplug_b_pb2.Payload(seq=2, timestamp=1_714_550_400_000)
    wrong_type = raw.metrics.add()
    wrong_type.alias = 10  # Force is a Double
    wrong_type.datatype = DataType.INT32
    wrong_type.int_value = 5
    bad_value = raw.metrics.add()
    bad_value.alias = 11
    bad_value.datatype = DataType.INT32
    bad_value.string_value = "five"
    good = raw.metrics.add()
    good.alias = 10
    good.datatype = DataType.DOUBLE
    good.double_value = 7.5

    output = session.handle(
        _message(MessageType.DDATA, raw.SerializeToString(), DEVICE), received_at=at(1)
    )

    assert forces(output) == [7.5]
    assert len(output.readings) == 1
    assert reasons(output) == [DataQualityReason.DATATYPE_MISMATCH, DataQualityReason.BAD_METRIC]
    assert output.rebirth_requests == ()


def test_quality_property_is_carried() -> None:
    session = born_session()
    metric = SparkplugMetric(None, 10, DataType.DOUBLE, 1.0, T0, properties={"Quality": 500})
    output = session.handle(
        _message(MessageType.DDATA, encode_data(timestamp=T0, seq=2, metrics=[metric]), DEVICE),
        received_at=at(1),
    )
    assert output.readings[0].quality == 500


# --- historical, transient, null ---------------------------------------------------------------


def test_historical_metrics_are_stored_but_never_current() -> None:
    session = born_session()

    output = session.handle(ddata(2, 99.0, is_historical=True), received_at=at(1))

    assert forces(output) == [99.0]
    assert output.readings[0].is_historical is True
    assert output.current_values == ()


def test_transient_metrics_are_current_but_not_stored() -> None:
    session = born_session()

    output = session.handle(ddata(2, 3.0, is_transient=True), received_at=at(1))

    assert output.readings == ()
    assert [(r.metric_name, r.value) for r in output.current_values] == [("Force", 3.0)]


def test_null_metrics_set_the_current_value_to_none_and_store_nothing() -> None:
    session = born_session()
    metric = SparkplugMetric(None, 10, DataType.DOUBLE, None, T0)

    output = session.handle(
        _message(MessageType.DDATA, encode_data(timestamp=T0, seq=2, metrics=[metric]), DEVICE),
        received_at=at(1),
    )

    assert output.readings == ()
    assert [(r.metric_name, r.value, r.is_null) for r in output.current_values] == [
        ("Force", None, True)
    ]


# --- sequence numbers --------------------------------------------------------------------------


def test_sequence_wraps_from_255_to_0() -> None:
    session = born_session()
    outputs = [
        session.handle(ddata(seq % 256, float(seq)), received_at=at(1)) for seq in range(2, 260)
    ]

    merged = merge_outputs(outputs)
    assert forces(merged) == [float(seq) for seq in range(2, 260)]
    assert merged.data_quality_events == ()
    assert merged.rebirth_requests == ()
    status = session.node_status(GROUP, NODE)
    assert status is not None and status.expected_seq == 260 % 256


def test_reorder_window_releases_messages_in_order_when_the_gap_fills() -> None:
    session = born_session()

    first = session.handle(ddata(2, 2.0), received_at=at(1.0))
    held_4 = session.handle(ddata(4, 4.0), received_at=at(1.1))
    held_5 = session.handle(ddata(5, 5.0), received_at=at(1.2))
    status_while_held = session.node_status(GROUP, NODE)
    filled = session.handle(ddata(3, 3.0), received_at=at(1.5))

    assert forces(first) == [2.0]
    assert held_4.is_empty and held_5.is_empty
    assert status_while_held is not None and status_while_held.held_seqs == (4, 5)
    assert forces(filled) == [3.0, 4.0, 5.0]
    assert filled.rebirth_requests == () and filled.data_quality_events == ()
    status = session.node_status(GROUP, NODE)
    assert status is not None and status.expected_seq == 6 and status.held_seqs == ()
    assert session.expire(now=at(60)).is_empty


def test_reorder_across_the_wrap() -> None:
    session = SparkplugHostSession()
    session.handle(nbirth(), received_at=at(0))
    session.handle(dbirth(1), received_at=at(0))
    for seq in range(2, 254):
        session.handle(ddata(seq, 0.0), received_at=at(0.5))

    outputs = [
        session.handle(ddata(seq, float(seq)), received_at=at(1)) for seq in (255, 0, 254, 1, 2)
    ]

    merged = merge_outputs(outputs)
    assert forces(merged) == [254.0, 255.0, 0.0, 1.0, 2.0]
    assert merged.rebirth_requests == () and merged.data_quality_events == ()


def test_unfilled_gap_requests_exactly_one_rebirth() -> None:
    settings = SessionSettings(reorder_window_messages=8, reorder_timeout_s=2.0)
    session = born_session(settings)
    session.handle(ddata(2, 2.0), received_at=at(1))
    held = session.handle(ddata(4, 4.0), received_at=at(1.5))  # seq 3 is lost

    early = session.expire(now=at(3.4))  # 1.9 s: still inside the window
    expired = session.expire(now=at(3.6))  # 2.1 s: the gap was not filled
    later = [session.handle(ddata(seq, 9.0), received_at=at(4 + seq)) for seq in (5, 6, 3, 7)]
    again = session.expire(now=at(20))

    assert held.is_empty and early.is_empty
    assert expired.rebirth_requests == (
        RebirthRequest(GROUP, NODE, at(3.6), DataQualityReason.SEQUENCE_GAP),
    )
    assert reasons(expired) == [
        DataQualityReason.SEQUENCE_GAP,
        DataQualityReason.MESSAGES_DISCARDED,
    ]
    later_merged = merge_outputs(later)
    assert later_merged.rebirth_requests == ()  # not one per later message
    assert later_merged.readings == () and later_merged.current_values == ()
    assert reasons(later_merged) == [DataQualityReason.OUT_OF_SYNC] * 4
    assert again.is_empty
    status = session.node_status(GROUP, NODE)
    assert status is not None
    assert (status.is_in_sync, status.is_rebirth_pending, status.held_seqs) == (False, True, ())


def test_rebirth_brings_the_node_back_in_sync() -> None:
    session = born_session(SessionSettings(reorder_timeout_s=1.0))
    session.handle(ddata(3, 3.0), received_at=at(1))  # seq 2 lost
    session.expire(now=at(5))

    birth = session.handle(nbirth(bd_seq=1), received_at=at(6))
    device = session.handle(dbirth(1), received_at=at(6))
    data = session.handle(ddata(2, 8.0), received_at=at(7))

    assert [r.metric_name for r in birth.readings] == ["Supply Voltage"]
    assert [r.metric_name for r in device.readings] == ["Force", "Count"]
    assert forces(data) == [8.0]
    assert data.data_quality_events == () and data.rebirth_requests == ()
    status = session.node_status(GROUP, NODE)
    assert status is not None and status.is_in_sync and not status.is_rebirth_pending


def test_timed_out_gap_is_detected_by_the_next_message_without_expire() -> None:
    session = born_session(SessionSettings(reorder_timeout_s=2.0))
    session.handle(ddata(3, 3.0), received_at=at(1))  # seq 2 lost

    late_fill = session.handle(ddata(2, 2.0), received_at=at(3.5))

    assert late_fill.readings == ()
    assert len(late_fill.rebirth_requests) == 1
    assert reasons(late_fill) == [
        DataQualityReason.SEQUENCE_GAP,
        DataQualityReason.MESSAGES_DISCARDED,
        DataQualityReason.OUT_OF_SYNC,
    ]


def test_reorder_window_overflow_is_a_gap_at_once() -> None:
    session = born_session(SessionSettings(reorder_window_messages=2, reorder_timeout_s=60))
    held = [session.handle(ddata(seq), received_at=at(1)) for seq in (3, 4)]

    overflow = session.handle(ddata(5), received_at=at(1))

    assert all(output.is_empty for output in held)
    assert len(overflow.rebirth_requests) == 1
    assert reasons(overflow) == [
        DataQualityReason.SEQUENCE_GAP,
        DataQualityReason.MESSAGES_DISCARDED,
    ]
    assert "3 message(s) discarded" in overflow.data_quality_events[1].message


def test_no_reorder_window_means_any_gap_requests_a_rebirth() -> None:
    session = born_session(SessionSettings(reorder_window_messages=0))

    output = session.handle(ddata(3), received_at=at(1))

    assert len(output.rebirth_requests) == 1
    assert output.readings == ()


def test_duplicate_or_late_message_is_dropped_without_rebirth() -> None:
    session = born_session()
    session.handle(ddata(2, 2.0), received_at=at(1))

    duplicate = session.handle(ddata(2, 2.0), received_at=at(1.1))
    session.handle(ddata(4, 4.0), received_at=at(1.2))
    held_twice = session.handle(ddata(4, 4.0), received_at=at(1.3))

    assert duplicate.readings == () and duplicate.rebirth_requests == ()
    assert reasons(duplicate) == [DataQualityReason.DUPLICATE_SEQUENCE]
    assert reasons(held_twice) == [DataQualityReason.DUPLICATE_SEQUENCE]
    assert held_twice.rebirth_requests == ()


def test_data_without_seq_loses_sync() -> None:
    session = born_session()
    metric = SparkplugMetric(None, 10, DataType.DOUBLE, 1.0, T0)
    message = _message(
        MessageType.DDATA, encode_payload(timestamp=T0, seq=None, metrics=[metric]), DEVICE
    )

    output = session.handle(message, received_at=at(1))

    assert output.readings == ()
    assert reasons(output) == [DataQualityReason.MISSING_SEQUENCE]
    assert len(output.rebirth_requests) == 1
    status = session.node_status(GROUP, NODE)
    assert status is not None and not status.is_in_sync


def test_unanswered_rebirth_is_repeated_only_after_the_retry_interval() -> None:
    session = SparkplugHostSession(SessionSettings(rebirth_retry_s=30))
    requests = [
        request
        for second in range(0, 65, 5)
        for request in session.handle(ndata(second % 256), received_at=at(second)).rebirth_requests
    ]

    assert [request.requested_at for request in requests] == [at(0), at(30), at(60)]


def test_rebirth_is_never_repeated_when_retry_is_disabled() -> None:
    session = SparkplugHostSession(SessionSettings(rebirth_retry_s=None))
    requests = [
        request
        for second in range(0, 600, 7)
        for request in session.handle(ndata(second % 256), received_at=at(second)).rebirth_requests
    ]
    assert len(requests) == 1


def test_rebirth_request_is_an_ncmd_with_rebirth_true() -> None:
    request = RebirthRequest(GROUP, NODE, at(5), DataQualityReason.SEQUENCE_GAP)

    payload = decode_payload(request.payload())

    assert request.topic == f"spBv1.0/{GROUP}/NCMD/{NODE}"
    assert payload.timestamp == at(5)
    assert payload.seq is None
    assert [(m.name, m.value) for m in payload.metrics] == [(REBIRTH_METRIC, True)]
    assert request.payload() == encode_rebirth_command(timestamp=at(5))


# --- data before birth and unknown aliases -----------------------------------------------------


def test_data_before_birth_produces_nothing_and_one_rebirth() -> None:
    session = SparkplugHostSession()

    outputs = [session.handle(ddata(seq), received_at=at(seq)) for seq in range(5)]

    merged = merge_outputs(outputs)
    assert merged.readings == () and merged.current_values == ()
    assert reasons(merged) == [DataQualityReason.DATA_BEFORE_BIRTH] * 5
    assert merged.rebirth_requests == (
        RebirthRequest(GROUP, NODE, at(0), DataQualityReason.DATA_BEFORE_BIRTH),
    )


def test_unknown_alias_drops_the_whole_message_and_requests_one_rebirth() -> None:
    session = born_session()
    metrics = [
        SparkplugMetric(None, 10, DataType.DOUBLE, 1.0, T0),  # known
        SparkplugMetric(None, 99, DataType.DOUBLE, 2.0, T0),  # unknown
    ]
    first = session.handle(
        _message(MessageType.DDATA, encode_data(timestamp=T0, seq=2, metrics=metrics), DEVICE),
        received_at=at(1),
    )
    second = session.handle(ddata(3, alias=98), received_at=at(2))

    assert first.readings == () and first.current_values == ()
    assert reasons(first) == [DataQualityReason.UNKNOWN_ALIAS]
    assert "alias 99" in first.data_quality_events[0].message
    assert len(first.rebirth_requests) == 1
    assert reasons(second) == [DataQualityReason.UNKNOWN_ALIAS]
    assert second.rebirth_requests == ()


def test_alias_of_another_device_is_unknown() -> None:
    session = born_session()
    session.handle(dbirth(2, OTHER_DEVICE, first_alias=20), received_at=at(0))

    output = session.handle(ddata(3, device_id=OTHER_DEVICE, alias=10), received_at=at(1))

    assert output.readings == ()
    assert reasons(output) == [DataQualityReason.UNKNOWN_ALIAS]


def test_unknown_metric_name() -> None:
    session = born_session()
    metric = SparkplugMetric("Torque", None, DataType.DOUBLE, 1.0, T0)
    output = session.handle(
        _message(MessageType.DDATA, encode_data(timestamp=T0, seq=2, metrics=[metric]), DEVICE),
        received_at=at(1),
    )
    known = SparkplugMetric("Force", None, DataType.DOUBLE, 4.0, T0)
    by_name = session.handle(
        _message(MessageType.DDATA, encode_data(timestamp=T0, seq=3, metrics=[known]), DEVICE),
        received_at=at(1),
    )

    assert reasons(output) == [DataQualityReason.UNKNOWN_METRIC]
    assert len(output.rebirth_requests) == 1
    assert forces(by_name) == [4.0]


def test_device_data_before_its_dbirth() -> None:
    session = born_session()

    output = session.handle(ddata(2, device_id=OTHER_DEVICE), received_at=at(1))

    assert output.readings == ()
    assert reasons(output) == [DataQualityReason.DEVICE_DATA_BEFORE_BIRTH]
    assert len(output.rebirth_requests) == 1
    status = session.node_status(GROUP, NODE)
    assert status is not None and status.is_in_sync  # other devices keep flowing
    assert forces(session.handle(ddata(3, 6.0), received_at=at(2))) == [6.0]


def test_birth_metric_without_datatype_is_not_registered() -> None:
    raw = sparkplug_b_pb2.Payload(seq=1, timestamp=1_714_550_400_000)
    metric = raw.metrics.add()
    metric.name = "Mystery"
    metric.alias = 30
    metric.double_value = 1.0
    session = SparkplugHostSession()
    session.handle(nbirth(), received_at=at(0))

    birth = session.handle(
        _message(MessageType.DBIRTH, raw.SerializeToString(), DEVICE), received_at=at(0)
    )
    data = session.handle(ddata(2, alias=30), received_at=at(1))

    assert birth.readings == ()
    assert reasons(birth) == [DataQualityReason.BAD_BIRTH_METRIC]
    assert reasons(data) == [DataQualityReason.UNKNOWN_ALIAS]


def test_duplicate_alias_in_a_birth_is_reported() -> None:
    metrics = [
        SparkplugMetric("A", 7, DataType.DOUBLE, 1.0, T0),
        SparkplugMetric("B", 7, DataType.DOUBLE, 2.0, T0),
    ]
    session = SparkplugHostSession()
    session.handle(nbirth(), received_at=at(0))

    output = session.handle(
        _message(MessageType.DBIRTH, encode_dbirth(timestamp=T0, seq=1, metrics=metrics), DEVICE),
        received_at=at(0),
    )

    assert reasons(output) == [DataQualityReason.DUPLICATE_ALIAS]
    assert [r.metric_name for r in output.readings] == ["A", "B"]


# --- deaths ------------------------------------------------------------------------------------


def test_ndeath_with_matching_bdseq_marks_node_and_devices_stale_at_receipt() -> None:
    session = born_session()
    session.handle(dbirth(2, OTHER_DEVICE, first_alias=20), received_at=at(0))

    death = session.handle(ndeath(bd_seq=1), received_at=at(42))
    after = session.handle(ddata(3), received_at=at(43))

    assert death.stale_marks == (
        StaleMark(GROUP, NODE, None, ("Supply Voltage",), at(42), StaleReason.NODE_DEATH),
        StaleMark(GROUP, NODE, OTHER_DEVICE, ("Force", "Count"), at(42), StaleReason.NODE_DEATH),
        StaleMark(GROUP, NODE, DEVICE, ("Force", "Count"), at(42), StaleReason.NODE_DEATH),
    )
    assert death.readings == () and death.data_quality_events == ()
    assert after.readings == ()
    assert reasons(after) == [DataQualityReason.DATA_BEFORE_BIRTH]
    assert len(after.rebirth_requests) == 1
    status = session.node_status(GROUP, NODE)
    assert status is not None and not status.is_online and status.device_ids == ()


def test_ndeath_with_another_bdseq_is_an_old_will_and_ignored() -> None:
    session = born_session()

    death = session.handle(ndeath(bd_seq=0), received_at=at(5))
    data = session.handle(ddata(2, 5.0), received_at=at(6))

    assert death.stale_marks == ()
    assert reasons(death) == [DataQualityReason.STALE_DEATH_CERTIFICATE]
    assert death.rebirth_requests == ()
    assert forces(data) == [5.0]
    status = session.node_status(GROUP, NODE)
    assert status is not None and status.is_online


def test_ndeath_before_any_birth() -> None:
    session = SparkplugHostSession()
    output = session.handle(ndeath(), received_at=at(1))
    assert output.stale_marks == ()
    assert reasons(output) == [DataQualityReason.DEATH_BEFORE_BIRTH]


def test_birth_without_bdseq_matches_a_death_without_bdseq() -> None:
    session = SparkplugHostSession()
    birth = session.handle(
        _message(MessageType.NBIRTH, encode_payload(timestamp=T0, seq=0, metrics=[])),
        received_at=at(0),
    )
    death = session.handle(
        _message(MessageType.NDEATH, encode_payload(timestamp=None, seq=None, metrics=[])),
        received_at=at(1),
    )

    assert reasons(birth) == [DataQualityReason.BIRTH_WITHOUT_BDSEQ]
    assert [mark.reason for mark in death.stale_marks] == [StaleReason.NODE_DEATH]


def test_ddeath_marks_only_that_device_stale() -> None:
    session = born_session()
    session.handle(dbirth(2, OTHER_DEVICE, first_alias=20), received_at=at(0))

    death = session.handle(ddeath(3, timestamp=at(10)), received_at=at(11))
    dead_device = session.handle(ddata(4), received_at=at(12))
    other_device = session.handle(
        ddata(5, 7.0, device_id=OTHER_DEVICE, alias=20), received_at=at(12)
    )

    assert death.stale_marks == (
        StaleMark(GROUP, NODE, DEVICE, ("Force", "Count"), at(10), StaleReason.DEVICE_DEATH),
    )
    assert reasons(dead_device) == [DataQualityReason.DEVICE_DATA_BEFORE_BIRTH]
    assert forces(other_device) == [7.0]


def test_ddeath_for_an_unborn_device_is_reported() -> None:
    session = born_session()
    output = session.handle(ddeath(2, OTHER_DEVICE), received_at=at(1))
    assert output.stale_marks == ()
    assert reasons(output) == [DataQualityReason.DEATH_BEFORE_BIRTH]


def test_new_nbirth_while_online_marks_the_old_devices_stale_and_drops_held() -> None:
    session = born_session()
    session.handle(ddata(3), received_at=at(1))  # held, waiting for seq 2

    output = session.handle(nbirth(bd_seq=2), received_at=at(2))
    # The old devices are marked once it is clear which ones are not born again: at the
    # node's first data (or when the reorder timeout passes without any).
    assert output.stale_marks == ()
    data = session.handle(ndata(1), received_at=at(3))

    assert data.stale_marks == (
        StaleMark(GROUP, NODE, DEVICE, ("Force", "Count"), at(2), StaleReason.NODE_REBIRTH),
    )
    assert reasons(output) == [DataQualityReason.MESSAGES_DISCARDED]
    status = session.node_status(GROUP, NODE)
    assert status is not None
    assert (status.bd_seq, status.expected_seq, status.held_seqs, status.device_ids) == (
        2,
        2,  # the birth's 0, then the NDATA's 1
        (),
        (),
    )


def test_nbirth_with_a_nonzero_seq_is_reported_and_followed() -> None:
    session = SparkplugHostSession()

    birth = session.handle(nbirth(seq=7), received_at=at(0))
    data = session.handle(ndata(8), received_at=at(1))

    assert reasons(birth) == [DataQualityReason.BIRTH_SEQUENCE_NOT_ZERO]
    assert [r.value for r in data.readings] == [24.5]


# --- misc --------------------------------------------------------------------------------------


def test_host_and_command_messages_are_ignored() -> None:
    session = born_session()
    state = decode_message("spBv1.0/STATE/mes", encode_host_state(is_online=True, timestamp=T0))
    command = _message(MessageType.NCMD, encode_rebirth_command(timestamp=T0))

    assert session.handle(state, received_at=at(1)).is_empty
    assert session.handle(command, received_at=at(1)).is_empty
    assert session.node_keys() == ((GROUP, NODE),)


def test_times_must_be_aware() -> None:
    session = SparkplugHostSession()
    with pytest.raises(ValueError, match="timezone-aware"):
        session.handle(nbirth(), received_at=datetime(2024, 5, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        session.expire(now=datetime(2024, 5, 1))


@pytest.mark.parametrize(
    "settings",
    [
        {"reorder_window_messages": -1},
        {"reorder_window_messages": 128},
        {"reorder_timeout_s": -1.0},
        {"rebirth_retry_s": 0.0},
    ],
)
def test_bad_settings(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SessionSettings(**settings)  # type: ignore[arg-type]


def test_node_status_of_an_unknown_node() -> None:
    assert SparkplugHostSession().node_status(GROUP, NODE) is None


def test_a_rebirth_never_marks_a_device_that_is_born_again() -> None:
    """Whatever order the ingest workers apply a rebirth's marks and its DBIRTH values in, the
    reborn device stays fresh: no mark names it. The device that is not born again is marked
    stale at the NBIRTH's receipt, at the node's first data or after the reorder timeout."""
    for finish in ("data", "timeout", "death", "next birth"):
        session = born_session()
        session.handle(dbirth(2, OTHER_DEVICE, first_alias=20), received_at=at(0))
        birth = session.handle(nbirth(bd_seq=2), received_at=at(5))
        reborn = session.handle(dbirth(1), received_at=at(5))
        assert birth.stale_marks == reborn.stale_marks == ()
        if finish == "data":
            output = session.handle(ddata(2), received_at=at(6))
        elif finish == "timeout":
            assert session.expire(now=at(6)).stale_marks == ()  # within the reorder timeout
            output = session.expire(now=at(8))
        elif finish == "death":
            output = session.handle(ndeath(bd_seq=2), received_at=at(6))
        else:
            output = session.handle(nbirth(bd_seq=3), received_at=at(6))
        other = [mark for mark in output.stale_marks if mark.device_id == OTHER_DEVICE]
        names = ("Force", "Count")
        assert other == [
            StaleMark(GROUP, NODE, OTHER_DEVICE, names, at(5), StaleReason.NODE_REBIRTH)
        ], finish
        rebirth_marks = [m for m in output.stale_marks if m.reason is StaleReason.NODE_REBIRTH]
        assert all(mark.device_id != DEVICE for mark in rebirth_marks), finish
        later = session.expire(now=at(60)).stale_marks
        if finish == "next birth":  # the newest session has not brought DEVICE back
            assert [(mark.device_id, mark.stale_at) for mark in later] == [(DEVICE, at(6))]
        else:
            assert later == ()  # marked once
