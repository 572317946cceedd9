"""The simulator's Sparkplug B edge node, checked by the MES's own host session."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from workers.mqtt.sparkplug.decode import decode_message
from workers.mqtt.sparkplug.encode import encode_data, encode_rebirth_command
from workers.mqtt.sparkplug.model import BD_SEQ_METRIC, REBIRTH_METRIC, DataType, MessageType
from workers.mqtt.sparkplug.session import SparkplugHostSession
from workers.simulator.model import OutboundMessage
from workers.simulator.sparkplug_node import (
    SPARKPLUG_QOS,
    WILL_QOS,
    DeviceSpec,
    MetricSpec,
    SparkplugEdgeNode,
)

START_MS = 1_735_718_400_000
RECEIVED = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
GROUP = "acme_plant1"
SPINDLE_7 = "acme/plant1/machining/CNC/cell7/CNC_Spindle_7"
SPINDLE_8 = "acme/plant1/machining/CNC/cell8/CNC_Spindle_8"


def _node(bd_seq: int = 3) -> SparkplugEdgeNode:
    return SparkplugEdgeNode(
        GROUP,
        "CNC",
        [
            DeviceSpec(
                "CNC_Spindle_7",
                SPINDLE_7,
                (
                    MetricSpec("power"),
                    MetricSpec("spindle_speed"),
                    MetricSpec("running", "boolean"),
                ),
            ),
            DeviceSpec(
                "CNC_Spindle_8", SPINDLE_8, (MetricSpec("power"), MetricSpec("mode", "string"))
            ),
        ],
        bd_seq=bd_seq,
    )


def _feed(session: SparkplugHostSession, messages: list[OutboundMessage]):
    outputs = []
    for message in messages:
        outputs.append(
            session.handle(decode_message(message.topic, message.payload), received_at=RECEIVED)
        )
    return outputs


def test_birth_is_nbirth_then_one_dbirth_per_device_with_aliases_and_nulls() -> None:
    node = _node()

    births = node.birth(START_MS)

    assert [message.topic for message in births] == [
        "spBv1.0/acme_plant1/NBIRTH/CNC",
        "spBv1.0/acme_plant1/DBIRTH/CNC/CNC_Spindle_7",
        "spBv1.0/acme_plant1/DBIRTH/CNC/CNC_Spindle_8",
    ]
    assert {message.qos for message in births} == {SPARKPLUG_QOS}
    nbirth = decode_message(births[0].topic, births[0].payload).payload
    assert nbirth is not None and nbirth.seq == 0
    assert [(metric.name, metric.value) for metric in nbirth.metrics] == [
        (BD_SEQ_METRIC, 3),
        (REBIRTH_METRIC, False),
    ]
    dbirth = decode_message(births[1].topic, births[1].payload).payload
    assert dbirth is not None and dbirth.seq == 1
    assert [
        (metric.name, metric.alias, metric.datatype, metric.is_null) for metric in dbirth.metrics
    ] == [
        ("power", 1, DataType.DOUBLE, True),
        ("spindle_speed", 2, DataType.DOUBLE, True),
        ("running", 3, DataType.BOOLEAN, True),
    ]
    second = decode_message(births[2].topic, births[2].payload).payload
    assert second is not None and second.seq == 2
    assert [(metric.alias, metric.datatype) for metric in second.metrics] == [
        (4, DataType.DOUBLE),
        (5, DataType.STRING),
    ]


def test_the_host_session_resolves_every_ddata_metric_without_a_quality_event() -> None:
    node = _node()
    session = SparkplugHostSession()
    messages = node.birth(START_MS)
    for second in range(1, 300):  # 600 DDATA: the seq wraps 255 → 0 twice
        for path, values in (
            (SPINDLE_7, {"power": 9000.0 + second, "spindle_speed": 1500.0, "running": True}),
            (SPINDLE_8, {"power": 8000.0, "mode": "auto"}),
        ):
            message = node.data(START_MS + second * 1000, path, values)
            assert message is not None
            messages.append(message)

    outputs = _feed(session, messages)

    assert all(not output.rebirth_requests for output in outputs)
    assert all(not output.data_quality_events for output in outputs)
    readings = [reading for output in outputs[3:] for reading in output.readings]
    assert len(readings) == 299 * 5
    first = [
        reading
        for reading in readings
        if reading.ts == datetime.fromtimestamp((START_MS + 1000) / 1000, UTC)
    ]
    assert sorted((r.device_id, r.metric_name, r.value) for r in first) == [
        ("CNC_Spindle_7", "power", 9001.0),
        ("CNC_Spindle_7", "running", True),
        ("CNC_Spindle_7", "spindle_speed", 1500.0),
        ("CNC_Spindle_8", "mode", "auto"),
        ("CNC_Spindle_8", "power", 8000.0),
    ]
    ddata = decode_message(messages[-1].topic, messages[-1].payload).payload
    assert ddata is not None
    assert all(metric.name is None for metric in ddata.metrics)  # aliases only
    assert ddata.seq == (3 + 597) % 256


def test_data_before_the_birth_is_not_sent_but_its_values_are_born() -> None:
    node = _node()

    assert node.data(START_MS, SPINDLE_7, {"power": 123.5}) is None
    births = node.birth(START_MS + 1000)

    dbirth = decode_message(births[1].topic, births[1].payload).payload
    assert dbirth is not None
    assert [(metric.name, metric.value, metric.is_null) for metric in dbirth.metrics] == [
        ("power", 123.5, False),
        ("spindle_speed", None, True),
        ("running", None, True),
    ]


def test_metrics_outside_the_birth_are_never_sent() -> None:
    node = _node()
    node.birth(START_MS)

    message = node.data(START_MS + 1000, SPINDLE_7, {"power": 1.0, "unknown": 2.0})

    assert message is not None
    payload = decode_message(message.topic, message.payload).payload
    assert payload is not None and [metric.alias for metric in payload.metrics] == [1]
    assert node.data(START_MS + 2000, SPINDLE_7, {"unknown": 2.0}) is None


def test_a_rebirth_command_re_sends_the_births_with_the_same_bdseq_and_seq_from_zero() -> None:
    node = _node()
    node.birth(START_MS)
    node.data(START_MS + 1000, SPINDLE_7, {"power": 1.0})
    command = encode_rebirth_command(timestamp=RECEIVED)

    answer = node.handle_command("spBv1.0/acme_plant1/NCMD/CNC", command, START_MS + 2000)

    assert [message.topic for message in answer] == [
        "spBv1.0/acme_plant1/NBIRTH/CNC",
        "spBv1.0/acme_plant1/DBIRTH/CNC/CNC_Spindle_7",
        "spBv1.0/acme_plant1/DBIRTH/CNC/CNC_Spindle_8",
    ]
    nbirth = decode_message(answer[0].topic, answer[0].payload).payload
    assert nbirth is not None and nbirth.seq == 0
    assert nbirth.metric_named(BD_SEQ_METRIC).value == 3  # same MQTT session


def test_commands_for_others_or_without_rebirth_are_ignored() -> None:
    node = _node()
    node.birth(START_MS)
    command = encode_rebirth_command(timestamp=RECEIVED)
    no_rebirth = encode_data(timestamp=RECEIVED, seq=0, metrics=())

    assert node.handle_command("spBv1.0/acme_plant1/NCMD/other", command, START_MS) == []
    assert node.handle_command("spBv1.0/other/NCMD/CNC", command, START_MS) == []
    assert node.handle_command("spBv1.0/acme_plant1/NCMD/CNC", no_rebirth, START_MS) == []
    assert node.handle_command("spBv1.0/acme_plant1/NCMD/CNC", b"\xff\xff", START_MS) == []


def test_the_will_and_the_death_carry_the_bdseq_and_a_lost_connection_moves_it_on() -> None:
    node = _node(bd_seq=255)
    node.birth(START_MS)

    will_topic, will_payload = node.will()
    node.connection_lost()
    next_topic, next_payload = node.will()

    assert will_topic == "spBv1.0/acme_plant1/NDEATH/CNC"
    ndeath = decode_message(will_topic, will_payload).payload
    assert ndeath is not None and ndeath.seq is None
    assert ndeath.metric_named(BD_SEQ_METRIC).value == 255
    assert decode_message(next_topic, next_payload).payload.metric_named(BD_SEQ_METRIC).value == 0
    assert not node.is_born
    assert node.data(START_MS, SPINDLE_7, {"power": 1.0}) is None
    death = node.death()
    assert death.qos == WILL_QOS and death.topic == will_topic


def test_the_host_marks_the_node_stale_on_its_death() -> None:
    node = _node()
    session = SparkplugHostSession()
    _feed(session, node.birth(START_MS))

    (output,) = _feed(session, [node.death()])

    assert {mark.device_id for mark in output.stale_marks} >= {"CNC_Spindle_7", "CNC_Spindle_8"}
    status = session.node_status(GROUP, "CNC")
    assert status is not None and not status.is_online


def test_invalid_nodes_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one device"):
        SparkplugEdgeNode(GROUP, "CNC", [])
    with pytest.raises(ValueError, match="non-empty without"):
        SparkplugEdgeNode("a/b", "CNC", [DeviceSpec("d", SPINDLE_7, ())])
    with pytest.raises(ValueError, match="bdSeq"):
        SparkplugEdgeNode(GROUP, "CNC", [DeviceSpec("d", SPINDLE_7, ())], bd_seq=256)
    with pytest.raises(ValueError, match="unsupported data_type"):
        MetricSpec("x", "bytes")
    assert MessageType.NCMD.value in _node().command_topic
