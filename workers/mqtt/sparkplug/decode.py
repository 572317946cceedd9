"""Sparkplug B decoding: a received message (topic and protobuf ``Payload``) into the message
model, and the host STATE payload.

Decoding raises ``DecodeError`` only when the message as a whole is unusable (bad topic, payload
too large, not a protobuf ``Payload``, sequence number out of 0..255). A problem confined to one
metric (a value that does not match its datatype, an unsupported datatype, an impossible
timestamp) does not reject the message — its sequence number still matters to the host session —
it is reported in ``SparkplugMetric.problem`` and the session turns it into a data-quality event.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final

from google.protobuf.message import DecodeError as ProtobufDecodeError

from workers.mqtt import sparkplug_b_pb2
from workers.mqtt.errors import DecodeError, DecodeReason
from workers.mqtt.sparkplug.model import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    MAX_SEQUENCE,
    MAX_TIMESTAMP_MS,
    DataType,
    HostState,
    MessageType,
    SparkplugDataSet,
    SparkplugMessage,
    SparkplugMetric,
    SparkplugPayload,
    SparkplugTemplate,
    TemplateParameter,
)
from workers.mqtt.sparkplug.topics import parse_topic
from workers.mqtt.sparkplug.values import (
    INTEGER_FIELDS,
    SIGNED_BITS,
    checked_text,
    interpret_value,
    to_signed,
)


def ms_to_datetime(milliseconds: int) -> datetime:
    if not 0 <= milliseconds <= MAX_TIMESTAMP_MS:
        raise DecodeError(DecodeReason.BAD_TIMESTAMP, f"timestamp {milliseconds} ms out of range")
    return datetime.fromtimestamp(milliseconds / 1000, UTC)


def _decode_property_value(value: Any) -> Any:
    if value.is_null:
        return None
    which = value.WhichOneof("value")
    if which is None or which == "extension_value":
        return None
    raw = getattr(value, which)
    if which == "propertyset_value":
        return _decode_property_set(raw)
    if which == "propertysets_value":
        return tuple(_decode_property_set(item) for item in raw.propertyset)
    if which in INTEGER_FIELDS and value.type in SIGNED_BITS:
        return to_signed(raw, SIGNED_BITS[value.type])
    if which == "string_value":
        return checked_text(raw, "property value")
    return raw


def _decode_property_set(property_set: Any) -> Mapping[str, Any]:
    keys = [checked_text(key, "property key") for key in property_set.keys]
    values = property_set.values
    if len(keys) != len(values):
        raise DecodeError(DecodeReason.BAD_VALUE_TYPE, "PropertySet keys and values differ")
    return MappingProxyType(
        {key: _decode_property_value(value) for key, value in zip(keys, values, strict=True)}
    )


def _decode_dataset(dataset: Any) -> SparkplugDataSet:
    columns = tuple(checked_text(column, "DataSet column") for column in dataset.columns)
    types = tuple(dataset.types)
    if len(columns) != len(types):
        raise DecodeError(DecodeReason.BAD_VALUE_TYPE, "DataSet columns and types differ")
    rows = []
    for row in dataset.rows:
        elements = row.elements
        if len(elements) != len(types):
            raise DecodeError(DecodeReason.BAD_VALUE_TYPE, "DataSet row width differs")
        cells = []
        for element, datatype in zip(elements, types, strict=True):
            which = element.WhichOneof("value")
            if which == "extension_value":
                which = None
            cells.append(
                interpret_value(which, getattr(element, which) if which else None, datatype)
            )
        rows.append(tuple(cells))
    return SparkplugDataSet(columns, types, tuple(rows))


def _decode_template(template: Any) -> SparkplugTemplate:
    parameters = []
    for parameter in template.parameters:
        which = parameter.WhichOneof("value")
        if which == "extension_value":
            which = None
        raw = getattr(parameter, which) if which else None
        value = interpret_value(which, raw, parameter.type) if which else None
        name = checked_text(parameter.name, "template parameter name")
        parameters.append(TemplateParameter(name, parameter.type, value))
    has_version = template.HasField("version")
    has_ref = template.HasField("template_ref")
    return SparkplugTemplate(
        checked_text(template.version, "template version") if has_version else None,
        checked_text(template.template_ref, "template_ref") if has_ref else None,
        template.is_definition,
        tuple(_decode_metric(metric) for metric in template.metrics),
        tuple(parameters),
    )


# Datatypes whose value needs no conversion when carried in the expected field (the hot path).
# Datatypes whose value is the protobuf field as it is (no interpretation needed).
DIRECT_VALUE_FIELDS: Final = {
    DataType.DOUBLE: "double_value",
    DataType.FLOAT: "float_value",
    DataType.BOOLEAN: "boolean_value",
}


def _decode_metric(metric: Any, timestamps: dict[int, datetime] | None = None) -> SparkplugMetric:
    # The common case first: a data metric by alias, no name, with its datatype, a value in
    # that datatype's own field, no properties, not null — an edge node's 100 metrics a
    # message are nearly always these. Anything else takes the general path below.
    value_field = metric.WhichOneof("value")
    datatype = metric.datatype
    if (
        value_field is not None
        and DIRECT_VALUE_FIELDS.get(datatype) == value_field
        and not metric.name
        and not metric.is_null
        and metric.HasField("alias")
        and not metric.HasField("properties")
        and timestamps is not None
    ):
        raw_ms = metric.timestamp
        timestamp = timestamps.get(raw_ms) if raw_ms else None
        if timestamp is not None or not raw_ms:
            return SparkplugMetric(
                None,
                metric.alias,
                datatype,
                getattr(metric, value_field),
                timestamp,
                metric.is_historical,
                metric.is_transient,
                False,
                None,
                value_field,
                None,
            )
    return _decode_metric_general(metric, timestamps)


def _decode_metric_general(
    metric: Any, timestamps: dict[int, datetime] | None = None
) -> SparkplugMetric:
    name = metric.name or None
    if name is not None and type(name) is not str:
        name = None
        problem: str | None = "bad_value_type: metric name is not valid UTF-8"
    else:
        problem = None
    alias = metric.alias
    if not alias and not metric.HasField("alias"):
        alias = None
    datatype = metric.datatype or None
    value_field = metric.WhichOneof("value")
    is_null = metric.is_null
    timestamp = None
    value: Any = None
    properties = None
    try:
        raw_ms = metric.timestamp
        if raw_ms:
            # Metrics of one message usually share a timestamp: convert each distinct one once.
            if timestamps is None:
                timestamp = ms_to_datetime(raw_ms)
            else:
                timestamp = timestamps.get(raw_ms)
                if timestamp is None:
                    timestamp = timestamps[raw_ms] = ms_to_datetime(raw_ms)
        if value_field == "extension_value":
            value_field = None
        if value_field is not None and not is_null:
            raw = getattr(metric, value_field)
            if datatype is None:
                # Interpreted later with the birth's datatype; composite values need no datatype.
                if value_field == "dataset_value":
                    value = _decode_dataset(raw)
                elif value_field == "template_value":
                    value = _decode_template(raw)
                elif value_field == "string_value":
                    value = checked_text(raw, "string value")
                else:
                    value = raw
            elif DIRECT_VALUE_FIELDS.get(datatype) == value_field:
                value = raw
            elif value_field == "dataset_value" and datatype == DataType.DATASET:
                value = _decode_dataset(raw)
            elif value_field == "template_value" and datatype == DataType.TEMPLATE:
                value = _decode_template(raw)
            else:
                value = interpret_value(value_field, raw, datatype)
        if metric.HasField("properties"):
            properties = _decode_property_set(metric.properties)
    except DecodeError as error:
        problem = str(error)
        value = None
    except (UnicodeDecodeError, ValueError, OverflowError, OSError) as error:
        problem = f"{DecodeReason.BAD_VALUE_TYPE.value}: {error}"
    if problem is not None:
        value = None
    return SparkplugMetric(
        name,
        alias,
        datatype,
        value,
        timestamp,
        metric.is_historical,
        metric.is_transient,
        is_null,
        properties,
        value_field,
        problem,
    )


def decode_payload(
    payload: bytes,
    *,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    defer_metrics: bool = False,
) -> SparkplugPayload:
    """Protobuf bytes → ``SparkplugPayload``. Raises only ``DecodeError``.

    ``defer_metrics``: read only each metric's alias and name (``metric_keys``) and keep the
    payload in ``raw`` for a full decode later; falls back to the full decode when a metric
    name is not valid UTF-8."""
    if len(payload) > max_payload_bytes:
        raise DecodeError(
            DecodeReason.PAYLOAD_TOO_LARGE,
            f"{len(payload)} bytes exceeds the limit of {max_payload_bytes} bytes",
        )
    message = sparkplug_b_pb2.Payload()
    try:
        message.ParseFromString(payload)
    except (ProtobufDecodeError, RecursionError, ValueError) as error:
        raise DecodeError(
            DecodeReason.BAD_PROTOBUF, f"not a Sparkplug B payload: {error}"
        ) from None
    seq: int | None = None
    if message.HasField("seq"):
        seq = message.seq
        if seq > MAX_SEQUENCE:
            raise DecodeError(DecodeReason.BAD_SEQUENCE, f"seq {seq} outside 0..255")
    problems: list[str] = []
    timestamp = None
    if message.timestamp:
        try:
            timestamp = ms_to_datetime(message.timestamp)
        except DecodeError as error:
            problems.append(str(error))
    try:
        uuid = checked_text(message.uuid, "uuid") if message.HasField("uuid") else None
    except DecodeError as error:
        problems.append(str(error))
        uuid = None
    if defer_metrics:
        keys = _metric_keys(message.metrics)
        if keys is not None:
            return SparkplugPayload(
                timestamp,
                seq,
                (),
                uuid,
                message.body if message.HasField("body") else None,
                tuple(problems),
                payload,
                keys,
            )
    try:
        timestamps: dict[int, datetime] = {}
        metrics = tuple([_decode_metric(metric, timestamps) for metric in message.metrics])
    except RecursionError:
        raise DecodeError(DecodeReason.BAD_PROTOBUF, "templates nested too deeply") from None
    return SparkplugPayload(
        timestamp,
        seq,
        metrics,
        uuid,
        message.body if message.HasField("body") else None,
        tuple(problems),
    )


def _metric_keys(metrics: Any) -> tuple[tuple[int | None, str | None], ...] | None:
    keys = []
    for metric in metrics:
        name = metric.name or None
        if name is not None and type(name) is not str:
            return None
        keys.append((metric.alias if metric.HasField("alias") else None, name))
    return tuple(keys)


def decode_host_state(payload: bytes) -> HostState:
    """Sparkplug 3.0 STATE payload ``{"online": bool, "timestamp": ms}``."""
    if len(payload) > 4096:
        raise DecodeError(DecodeReason.PAYLOAD_TOO_LARGE, "STATE payload over 4096 bytes")
    try:
        document = json.loads(payload.decode("utf-8"))
    except (ValueError, RecursionError) as error:
        raise DecodeError(DecodeReason.BAD_JSON, str(error)[:200]) from None
    if type(document) is not dict:
        raise DecodeError(DecodeReason.BAD_PAYLOAD, "STATE payload must be a JSON object")
    if "online" not in document:
        raise DecodeError(DecodeReason.MISSING_FIELD, "online is missing")
    is_online = document["online"]
    if type(is_online) is not bool:
        raise DecodeError(DecodeReason.BAD_VALUE_TYPE, "online must be true or false")
    raw_ms = document.get("timestamp")
    if raw_ms is None:
        return HostState(is_online, None)
    if type(raw_ms) is not int:
        raise DecodeError(DecodeReason.BAD_TIMESTAMP, "timestamp must be integer milliseconds")
    return HostState(is_online, ms_to_datetime(raw_ms))


def decode_message(
    topic: str,
    payload: bytes,
    *,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    defer_data_metrics: bool = False,
) -> SparkplugMessage:
    """One MQTT message → ``SparkplugMessage``. Raises only ``DecodeError``.
    ``defer_data_metrics``: NDATA/DDATA metrics are left undecoded (see ``decode_payload``)."""
    parsed_topic = parse_topic(topic)
    if parsed_topic.message_type is MessageType.STATE:
        return SparkplugMessage(parsed_topic, None, decode_host_state(payload))
    defer = defer_data_metrics and parsed_topic.message_type in _DATA_TYPES
    return SparkplugMessage(
        parsed_topic,
        decode_payload(payload, max_payload_bytes=max_payload_bytes, defer_metrics=defer),
    )


_DATA_TYPES: Final = frozenset({MessageType.NDATA, MessageType.DDATA})
