"""Sparkplug B codec (Eclipse Sparkplug 3.0): topics, payload decode/encode. Pure, Django-free.

Topics: ``spBv1.0/{group_id}/{NBIRTH|NDEATH|NDATA|NCMD}/{edge_node_id}``,
``spBv1.0/{group_id}/{DBIRTH|DDEATH|DDATA|DCMD}/{edge_node_id}/{device_id}`` and the host
application's ``spBv1.0/STATE/{host_id}`` (JSON ``{"online": bool, "timestamp": ms}``).

Payloads are the protobuf ``Payload`` of ``sparkplug_b.proto`` (generated ``sparkplug_b_pb2``).
Decoding raises ``DecodeError`` only when the message as a whole is unusable (bad topic, payload
too large, not a protobuf ``Payload``, sequence number out of 0..255). A problem confined to one
metric (a value that does not match its datatype, an unsupported datatype, an impossible
timestamp) does not reject the message — its sequence number still matters to the host session —
it is reported in ``SparkplugMetric.problem`` and the session turns it into a data-quality event.

Values: signed integers are stored on the wire as two's complement in ``int_value`` (uint32) or
``long_value`` (uint64) and are returned as Python ints with their sign; ``DateTime`` values are
returned as epoch milliseconds (int); arrays as tuples; ``DataSet`` and ``Template`` as frozen
dataclasses. Data messages may omit the datatype: the value is then returned as carried on the
wire and ``interpret_metric_value`` converts it once the birth's datatype is known.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from types import MappingProxyType
from typing import Any, Final

from google.protobuf.message import DecodeError as ProtobufDecodeError

from workers.mqtt import sparkplug_b_pb2
from workers.mqtt.errors import DecodeError, DecodeReason

NAMESPACE: Final = "spBv1.0"
DEFAULT_MAX_PAYLOAD_BYTES: Final = 1024 * 1024
BD_SEQ_METRIC: Final = "bdSeq"
REBIRTH_METRIC: Final = "Node Control/Rebirth"
CONTROL_METRIC_PREFIXES: Final = ("Node Control/", "Device Control/")
MAX_SEQUENCE: Final = 255
MAX_TIMESTAMP_MS: Final = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


class MessageType(StrEnum):
    NBIRTH = "NBIRTH"
    NDEATH = "NDEATH"
    NDATA = "NDATA"
    NCMD = "NCMD"
    DBIRTH = "DBIRTH"
    DDEATH = "DDEATH"
    DDATA = "DDATA"
    DCMD = "DCMD"
    STATE = "STATE"


NODE_MESSAGE_TYPES: Final = frozenset(
    {MessageType.NBIRTH, MessageType.NDEATH, MessageType.NDATA, MessageType.NCMD}
)
DEVICE_MESSAGE_TYPES: Final = frozenset(
    {MessageType.DBIRTH, MessageType.DDEATH, MessageType.DDATA, MessageType.DCMD}
)
_MESSAGE_TYPES_BY_NAME: Final = {member.value: member for member in MessageType}


class DataType(IntEnum):
    """Sparkplug data types (``DataType`` enum of sparkplug_b.proto)."""

    UNKNOWN = 0
    INT8 = 1
    INT16 = 2
    INT32 = 3
    INT64 = 4
    UINT8 = 5
    UINT16 = 6
    UINT32 = 7
    UINT64 = 8
    FLOAT = 9
    DOUBLE = 10
    BOOLEAN = 11
    STRING = 12
    DATETIME = 13
    TEXT = 14
    UUID = 15
    DATASET = 16
    BYTES = 17
    FILE = 18
    TEMPLATE = 19
    PROPERTY_SET = 20
    PROPERTY_SET_LIST = 21
    INT8_ARRAY = 22
    INT16_ARRAY = 23
    INT32_ARRAY = 24
    INT64_ARRAY = 25
    UINT8_ARRAY = 26
    UINT16_ARRAY = 27
    UINT32_ARRAY = 28
    UINT64_ARRAY = 29
    FLOAT_ARRAY = 30
    DOUBLE_ARRAY = 31
    BOOLEAN_ARRAY = 32
    STRING_ARRAY = 33
    DATETIME_ARRAY = 34


# --- value model -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SparkplugDataSet:
    columns: tuple[str, ...]
    types: tuple[int, ...]
    rows: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True, slots=True)
class TemplateParameter:
    name: str
    datatype: int
    value: Any


@dataclass(frozen=True, slots=True)
class SparkplugTemplate:
    version: str | None
    template_ref: str | None
    is_definition: bool
    metrics: tuple[SparkplugMetric, ...]
    parameters: tuple[TemplateParameter, ...] = ()


@dataclass(slots=True)  # not frozen: built once per metric, and frozen costs ~1 µs each
class SparkplugMetric:
    """One metric. ``timestamp`` None: take the payload's. ``datatype`` None: not sent (data
    messages may rely on the birth). ``value`` None with ``is_null`` False: no value carried.
    Read-only by convention."""

    name: str | None
    alias: int | None
    datatype: int | None
    value: Any
    timestamp: datetime | None = None
    is_historical: bool = False
    is_transient: bool = False
    is_null: bool = False
    properties: Mapping[str, Any] | None = None
    # The protobuf oneof that carried the value (decode only; not part of equality).
    value_field: str | None = field(default=None, compare=False)
    problem: str | None = None  # "<reason_code>: <message>" when this metric is unusable


@dataclass(frozen=True, slots=True)
class SparkplugPayload:
    timestamp: datetime | None
    seq: int | None
    metrics: tuple[SparkplugMetric, ...]
    uuid: str | None = None
    body: bytes | None = None
    problems: tuple[str, ...] = ()  # payload-level problems that did not reject the message
    # Deferred decoding (data messages, ``decode_payload(defer_metrics=True)``): ``metrics`` is
    # empty, ``raw`` holds the payload and ``metric_keys`` each metric's (alias, name) — what
    # the host needs to resolve and order it; the metrics are decoded later, elsewhere.
    raw: bytes | None = None
    metric_keys: tuple[tuple[int | None, str | None], ...] = ()

    def metric_named(self, name: str) -> SparkplugMetric | None:
        for metric in self.metrics:
            if metric.name == name:
                return metric
        return None


@dataclass(frozen=True, slots=True)
class SparkplugTopic:
    message_type: MessageType
    group_id: str | None  # None only for STATE
    edge_node_id: str | None  # None only for STATE
    device_id: str | None = None  # device message types only
    host_id: str | None = None  # STATE only


@dataclass(frozen=True, slots=True)
class HostState:
    is_online: bool
    timestamp: datetime | None


@dataclass(frozen=True, slots=True)
class SparkplugMessage:
    topic: SparkplugTopic
    payload: SparkplugPayload | None  # None for STATE
    host_state: HostState | None = None  # STATE only


# --- topics ------------------------------------------------------------------------------------


def _check_identifier(identifier: str, what: str, topic: str) -> None:
    if not identifier or "+" in identifier or "#" in identifier or "\x00" in identifier:
        raise DecodeError(
            DecodeReason.BAD_TOPIC,
            f"{topic[:200]!r}: {what} must be non-empty and free of '+', '#'",
        )


def parse_topic(topic: str) -> SparkplugTopic:
    parts = topic.split("/")
    if parts[0] != NAMESPACE:
        raise DecodeError(DecodeReason.BAD_TOPIC, f"{topic[:200]!r} is not below {NAMESPACE}/")
    level_count = len(parts)
    if level_count == 3 and parts[1] == "STATE":
        _check_identifier(parts[2], "host id", topic)
        return SparkplugTopic(MessageType.STATE, None, None, None, parts[2])
    if level_count not in (4, 5):
        raise DecodeError(
            DecodeReason.BAD_TOPIC,
            f"{topic[:200]!r} must be {NAMESPACE}/group/TYPE/edge_node[/device] "
            f"or {NAMESPACE}/STATE/host",
        )
    message_type = _MESSAGE_TYPES_BY_NAME.get(parts[2])
    if message_type is None or message_type is MessageType.STATE:
        raise DecodeError(
            DecodeReason.BAD_TOPIC, f"{topic[:200]!r}: unknown message type {parts[2][:32]!r}"
        )
    _check_identifier(parts[1], "group id", topic)
    _check_identifier(parts[3], "edge node id", topic)
    if message_type in DEVICE_MESSAGE_TYPES:
        if level_count != 5:
            raise DecodeError(
                DecodeReason.BAD_TOPIC, f"{topic[:200]!r}: {message_type} needs a device id"
            )
        _check_identifier(parts[4], "device id", topic)
        return SparkplugTopic(message_type, parts[1], parts[3], parts[4])
    if level_count != 4:
        raise DecodeError(
            DecodeReason.BAD_TOPIC, f"{topic[:200]!r}: {message_type} takes no device id"
        )
    return SparkplugTopic(message_type, parts[1], parts[3])


def build_topic(
    group_id: str, message_type: MessageType, edge_node_id: str, device_id: str | None = None
) -> str:
    if message_type is MessageType.STATE:
        raise ValueError("use host_state_topic() for STATE")
    if (message_type in DEVICE_MESSAGE_TYPES) != (device_id is not None):
        raise ValueError(f"{message_type} {'needs' if device_id is None else 'takes no'} device")
    for identifier in (group_id, edge_node_id, device_id or "x"):
        if not identifier or any(character in identifier for character in "/+#"):
            raise ValueError(f"Sparkplug id {identifier!r} must be non-empty without / + #")
    topic = f"{NAMESPACE}/{group_id}/{message_type.value}/{edge_node_id}"
    return f"{topic}/{device_id}" if device_id is not None else topic


def host_state_topic(host_id: str) -> str:
    if not host_id or any(character in host_id for character in "/+#"):
        raise ValueError(f"host id {host_id!r} must be non-empty without / + #")
    return f"{NAMESPACE}/STATE/{host_id}"


# --- value interpretation ----------------------------------------------------------------------

_SIGNED_BITS: Final = {DataType.INT8: 8, DataType.INT16: 16, DataType.INT32: 32, DataType.INT64: 64}
_UNSIGNED_BITS: Final = {
    DataType.UINT8: 8,
    DataType.UINT16: 16,
    DataType.UINT32: 32,
    DataType.UINT64: 64,
    DataType.DATETIME: 64,
}
_INTEGER_FIELDS: Final = frozenset({"int_value", "long_value"})
_FLOAT_FIELDS: Final = frozenset({"float_value", "double_value"})
_FIELDS_BY_TYPE: Final[dict[int, frozenset[str]]] = {
    **dict.fromkeys(_SIGNED_BITS, _INTEGER_FIELDS),
    **dict.fromkeys(_UNSIGNED_BITS, _INTEGER_FIELDS),
    DataType.FLOAT: _FLOAT_FIELDS,
    DataType.DOUBLE: _FLOAT_FIELDS,
    DataType.BOOLEAN: frozenset({"boolean_value"}),
    DataType.STRING: frozenset({"string_value"}),
    DataType.TEXT: frozenset({"string_value"}),
    DataType.UUID: frozenset({"string_value"}),
    DataType.BYTES: frozenset({"bytes_value"}),
    DataType.FILE: frozenset({"bytes_value"}),
    DataType.DATASET: frozenset({"dataset_value"}),
    DataType.TEMPLATE: frozenset({"template_value"}),
}
_ARRAY_FORMATS: Final = {
    DataType.INT8_ARRAY: "b",
    DataType.INT16_ARRAY: "h",
    DataType.INT32_ARRAY: "i",
    DataType.INT64_ARRAY: "q",
    DataType.UINT8_ARRAY: "B",
    DataType.UINT16_ARRAY: "H",
    DataType.UINT32_ARRAY: "I",
    DataType.UINT64_ARRAY: "Q",
    DataType.FLOAT_ARRAY: "f",
    DataType.DOUBLE_ARRAY: "d",
    DataType.DATETIME_ARRAY: "q",
}
for _array_type in (*_ARRAY_FORMATS, DataType.BOOLEAN_ARRAY, DataType.STRING_ARRAY):
    _FIELDS_BY_TYPE[_array_type] = frozenset({"bytes_value"})
_MAX_DATATYPE: Final = max(DataType)


def _to_signed(raw: int, bits: int) -> int:
    raw &= (1 << bits) - 1
    return raw - (1 << bits) if raw >> (bits - 1) else raw


def _decode_array(datatype: int, data: bytes) -> tuple[Any, ...]:
    if datatype == DataType.BOOLEAN_ARRAY:
        if len(data) < 4:
            raise DecodeError(DecodeReason.BAD_VALUE_TYPE, "BooleanArray shorter than its count")
        (count,) = struct.unpack_from("<I", data)
        if (count + 7) // 8 != len(data) - 4:
            raise DecodeError(
                DecodeReason.BAD_VALUE_TYPE,
                f"BooleanArray of {count} values needs {(count + 7) // 8} bytes of bits",
            )
        return tuple(bool(data[4 + index // 8] & (0x80 >> (index % 8))) for index in range(count))
    if datatype == DataType.STRING_ARRAY:
        if not data:
            return ()
        if data[-1] != 0:
            raise DecodeError(DecodeReason.BAD_VALUE_TYPE, "StringArray not NUL-terminated")
        try:
            return tuple(data[:-1].decode("utf-8").split("\x00"))
        except UnicodeDecodeError:
            raise DecodeError(DecodeReason.BAD_VALUE_TYPE, "StringArray not UTF-8") from None
    code = _ARRAY_FORMATS[DataType(datatype)]
    size = struct.calcsize(code)
    if len(data) % size:
        raise DecodeError(
            DecodeReason.BAD_VALUE_TYPE,
            f"{DataType(datatype).name} of {len(data)} bytes is not a multiple of {size}",
        )
    return struct.unpack(f"<{len(data) // size}{code}", data)


def interpret_value(value_field: str | None, raw: Any, datatype: int) -> Any:
    """Raw protobuf oneof value → Python value of ``datatype``. Raises ``DecodeError``."""
    if value_field is None:
        return None
    if datatype > _MAX_DATATYPE or datatype < 1:
        raise DecodeError(DecodeReason.UNSUPPORTED_DATATYPE, f"datatype {datatype} not supported")
    allowed = _FIELDS_BY_TYPE.get(datatype)
    if allowed is None:
        raise DecodeError(
            DecodeReason.UNSUPPORTED_DATATYPE,
            f"{DataType(datatype).name} is not a metric value type",
        )
    if value_field not in allowed:
        raise DecodeError(
            DecodeReason.BAD_VALUE_TYPE,
            f"{DataType(datatype).name} value carried in {value_field}",
        )
    if value_field in _INTEGER_FIELDS:
        bits = _SIGNED_BITS.get(datatype)  # type: ignore[call-overload]
        if bits is not None:
            return _to_signed(raw, bits)
        bits = _UNSIGNED_BITS[datatype]  # type: ignore[index]
        if raw >> bits:
            raise DecodeError(
                DecodeReason.BAD_VALUE_TYPE, f"{raw} out of range for {DataType(datatype).name}"
            )
        return raw
    if value_field == "bytes_value" and datatype >= DataType.INT8_ARRAY:
        return _decode_array(datatype, raw)
    if value_field == "string_value":
        return _text(raw, "string value")
    return raw


def _text(raw: Any, what: str) -> str:
    """proto2 strings that are not UTF-8 come back from upb as bytes: reject them here."""
    if type(raw) is str:
        return raw
    raise DecodeError(DecodeReason.BAD_VALUE_TYPE, f"{what} is not valid UTF-8")


def interpret_metric_value(metric: SparkplugMetric, datatype: int) -> Any:
    """The value of a metric decoded without datatype, interpreted with the birth's datatype."""
    if metric.datatype is not None or metric.is_null:
        return metric.value
    return interpret_value(metric.value_field, metric.value, datatype)


# --- decoding ----------------------------------------------------------------------------------


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
    if which in _INTEGER_FIELDS and value.type in _SIGNED_BITS:
        return _to_signed(raw, _SIGNED_BITS[value.type])
    if which == "string_value":
        return _text(raw, "property value")
    return raw


def _decode_property_set(property_set: Any) -> Mapping[str, Any]:
    keys = [_text(key, "property key") for key in property_set.keys]
    values = property_set.values
    if len(keys) != len(values):
        raise DecodeError(DecodeReason.BAD_VALUE_TYPE, "PropertySet keys and values differ")
    return MappingProxyType(
        {key: _decode_property_value(value) for key, value in zip(keys, values, strict=True)}
    )


def _decode_dataset(dataset: Any) -> SparkplugDataSet:
    columns = tuple(_text(column, "DataSet column") for column in dataset.columns)
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
        name = _text(parameter.name, "template parameter name")
        parameters.append(TemplateParameter(name, parameter.type, value))
    return SparkplugTemplate(
        _text(template.version, "template version") if template.HasField("version") else None,
        _text(template.template_ref, "template_ref") if template.HasField("template_ref") else None,
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
                    value = _text(raw, "string value")
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
        uuid = _text(message.uuid, "uuid") if message.HasField("uuid") else None
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


# --- encoding (simulator, edge agent, tests, the host's rebirth command) -----------------------


def datetime_to_ms(timestamp: datetime) -> int:
    if timestamp.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return round(timestamp.timestamp() * 1000)


def _encode_array(datatype: DataType, values: Sequence[Any]) -> bytes:
    if datatype == DataType.BOOLEAN_ARRAY:
        packed = bytearray(struct.pack("<I", len(values)))
        packed.extend(bytes((len(values) + 7) // 8))
        for index, flag in enumerate(values):
            if flag:
                packed[4 + index // 8] |= 0x80 >> (index % 8)
        return bytes(packed)
    if datatype == DataType.STRING_ARRAY:
        if any("\x00" in text for text in values):
            raise ValueError("StringArray items must not contain NUL")
        try:
            return b"".join(text.encode() + b"\x00" for text in values)
        except UnicodeEncodeError as error:  # a lone surrogate
            raise ValueError(f"StringArray item is not valid Unicode: {error}") from None
    code = _ARRAY_FORMATS[datatype]
    try:
        return struct.pack(f"<{len(values)}{code}", *values)
    except struct.error as error:
        raise ValueError(f"{datatype.name}: {error}") from None


def _set_scalar(target: Any, datatype: DataType, value: Any, *, is_dataset: bool = False) -> None:
    """Set the oneof value of a Metric / DataSetValue / Parameter for ``datatype``."""
    if datatype in _SIGNED_BITS:
        bits = _SIGNED_BITS[datatype]
        if type(value) is not int or not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
            raise ValueError(f"{value!r} is not an {datatype.name}")
        if bits == 64:
            target.long_value = value & 0xFFFF_FFFF_FFFF_FFFF
        else:
            target.int_value = value & 0xFFFF_FFFF
    elif datatype in _UNSIGNED_BITS:
        if datatype == DataType.DATETIME and isinstance(value, datetime):
            value = datetime_to_ms(value)
        bits = _UNSIGNED_BITS[datatype]
        if type(value) is not int or not 0 <= value < (1 << bits):
            raise ValueError(f"{value!r} is not a {datatype.name}")
        if bits == 64:
            target.long_value = value
        else:
            target.int_value = value
    elif datatype == DataType.FLOAT:
        target.float_value = float(value)
    elif datatype == DataType.DOUBLE:
        target.double_value = float(value)
    elif datatype == DataType.BOOLEAN:
        if type(value) is not bool:
            raise ValueError(f"{value!r} is not a Boolean")
        target.boolean_value = value
    elif datatype in (DataType.STRING, DataType.TEXT, DataType.UUID):
        if type(value) is not str:
            raise ValueError(f"{value!r} is not a {datatype.name}")
        target.string_value = value
    elif is_dataset:
        raise ValueError(f"{datatype.name} cannot be a DataSet cell")
    elif datatype in (DataType.BYTES, DataType.FILE):
        target.bytes_value = bytes(value)
    elif datatype in _ARRAY_FORMATS or datatype in (DataType.BOOLEAN_ARRAY, DataType.STRING_ARRAY):
        target.bytes_value = _encode_array(datatype, value)
    else:
        raise ValueError(f"cannot encode a {datatype.name} value here")


def _fill_metric(target: Any, metric: SparkplugMetric) -> None:
    if metric.name is not None:
        target.name = metric.name
    if metric.alias is not None:
        target.alias = metric.alias
    if metric.timestamp is not None:
        target.timestamp = datetime_to_ms(metric.timestamp)
    if metric.datatype is None:
        raise ValueError(f"metric {metric.name or metric.alias}: datatype is required to encode")
    datatype = DataType(metric.datatype)
    target.datatype = datatype
    if metric.is_historical:
        target.is_historical = True
    if metric.is_transient:
        target.is_transient = True
    if metric.properties:
        _fill_property_set(target.properties, metric.properties)
    if metric.is_null or metric.value is None:
        target.is_null = True
        return
    if datatype == DataType.DATASET:
        _fill_dataset(target.dataset_value, metric.value)
    elif datatype == DataType.TEMPLATE:
        _fill_template(target.template_value, metric.value)
    else:
        _set_scalar(target, datatype, metric.value)


def _fill_property_set(target: Any, properties: Mapping[str, Any]) -> None:
    for key, value in properties.items():
        target.keys.append(key)
        item = target.values.add()
        if value is None:
            item.type = DataType.STRING
            item.is_null = True
        elif type(value) is bool:
            item.type = DataType.BOOLEAN
            item.boolean_value = value
        elif type(value) is int and -(1 << 31) <= value < (1 << 31):
            item.type = DataType.INT32  # e.g. the "Quality" property, which must be Int32
            item.int_value = value & 0xFFFF_FFFF
        elif type(value) is int:
            item.type = DataType.INT64
            item.long_value = value & 0xFFFF_FFFF_FFFF_FFFF
        elif type(value) is float:
            item.type = DataType.DOUBLE
            item.double_value = value
        elif type(value) is str:
            item.type = DataType.STRING
            item.string_value = value
        elif isinstance(value, Mapping):
            item.type = DataType.PROPERTY_SET
            _fill_property_set(item.propertyset_value, value)
        else:
            raise ValueError(f"property {key!r}: cannot encode {type(value).__name__}")


def _fill_dataset(target: Any, dataset: SparkplugDataSet) -> None:
    if len(dataset.columns) != len(dataset.types):
        raise ValueError("DataSet columns and types differ")
    target.num_of_columns = len(dataset.columns)
    target.columns.extend(dataset.columns)
    target.types.extend(dataset.types)
    for row in dataset.rows:
        if len(row) != len(dataset.types):
            raise ValueError("DataSet row width differs from its columns")
        row_message = target.rows.add()
        for cell, datatype in zip(row, dataset.types, strict=True):
            _set_scalar(row_message.elements.add(), DataType(datatype), cell, is_dataset=True)


def _fill_template(target: Any, template: SparkplugTemplate) -> None:
    if template.version is not None:
        target.version = template.version
    if template.template_ref is not None:
        target.template_ref = template.template_ref
    target.is_definition = template.is_definition
    for metric in template.metrics:
        _fill_metric(target.metrics.add(), metric)
    for parameter in template.parameters:
        item = target.parameters.add()
        item.name = parameter.name
        item.type = parameter.datatype
        if parameter.value is not None:
            _set_scalar(item, DataType(parameter.datatype), parameter.value, is_dataset=True)


def encode_payload(
    *,
    timestamp: datetime | None,
    seq: int | None,
    metrics: Sequence[SparkplugMetric],
) -> bytes:
    """Build a Sparkplug B payload. Metrics need a datatype; ``value=None`` encodes is_null."""
    if seq is not None and not 0 <= seq <= MAX_SEQUENCE:
        raise ValueError(f"seq {seq} outside 0..255")
    message = sparkplug_b_pb2.Payload()
    if timestamp is not None:
        message.timestamp = datetime_to_ms(timestamp)
    if seq is not None:
        message.seq = seq
    for metric in metrics:
        _fill_metric(message.metrics.add(), metric)
    return message.SerializeToString()


def bd_seq_metric(bd_seq: int, timestamp: datetime | None = None) -> SparkplugMetric:
    if not 0 <= bd_seq <= MAX_SEQUENCE:
        raise ValueError(f"bdSeq {bd_seq} outside 0..255")
    return SparkplugMetric(BD_SEQ_METRIC, None, DataType.UINT64, bd_seq, timestamp)


def encode_nbirth(
    *,
    timestamp: datetime,
    bd_seq: int,
    metrics: Sequence[SparkplugMetric],
    seq: int = 0,
) -> bytes:
    """NBIRTH: bdSeq and ``Node Control/Rebirth`` (false) first, then ``metrics``."""
    control = (
        bd_seq_metric(bd_seq, timestamp),
        SparkplugMetric(REBIRTH_METRIC, None, DataType.BOOLEAN, False, timestamp),
    )
    return encode_payload(timestamp=timestamp, seq=seq, metrics=(*control, *metrics))


def encode_dbirth(*, timestamp: datetime, seq: int, metrics: Sequence[SparkplugMetric]) -> bytes:
    return encode_payload(timestamp=timestamp, seq=seq, metrics=metrics)


def encode_data(*, timestamp: datetime, seq: int, metrics: Sequence[SparkplugMetric]) -> bytes:
    """NDATA or DDATA. Metrics may carry only an alias (name=None) after the birth."""
    return encode_payload(timestamp=timestamp, seq=seq, metrics=metrics)


def encode_ndeath(*, bd_seq: int, timestamp: datetime | None = None) -> bytes:
    """NDEATH (the MQTT will): only the bdSeq metric, no sequence number."""
    return encode_payload(timestamp=timestamp, seq=None, metrics=(bd_seq_metric(bd_seq),))


def encode_ddeath(*, timestamp: datetime, seq: int) -> bytes:
    return encode_payload(timestamp=timestamp, seq=seq, metrics=())


def encode_rebirth_command(*, timestamp: datetime) -> bytes:
    """NCMD payload asking an edge node to rebirth: ``Node Control/Rebirth`` = true."""
    return encode_payload(
        timestamp=timestamp,
        seq=None,
        metrics=(SparkplugMetric(REBIRTH_METRIC, None, DataType.BOOLEAN, True, timestamp),),
    )


def encode_host_state(*, is_online: bool, timestamp: datetime) -> bytes:
    """Sparkplug 3.0 host STATE payload (publish retained, QoS 1, on host_state_topic())."""
    return json.dumps(
        {"online": is_online, "timestamp": datetime_to_ms(timestamp)}, separators=(",", ":")
    ).encode()


def is_control_metric(name: str) -> bool:
    """bdSeq, ``Node Control/...`` and ``Device Control/...`` drive the protocol; not data."""
    return name == BD_SEQ_METRIC or name.startswith(CONTROL_METRIC_PREFIXES)


__all__ = [
    "BD_SEQ_METRIC",
    "DEVICE_MESSAGE_TYPES",
    "NAMESPACE",
    "NODE_MESSAGE_TYPES",
    "REBIRTH_METRIC",
    "DataType",
    "HostState",
    "MessageType",
    "SparkplugDataSet",
    "SparkplugMessage",
    "SparkplugMetric",
    "SparkplugPayload",
    "SparkplugTemplate",
    "SparkplugTopic",
    "TemplateParameter",
    "build_topic",
    "decode_host_state",
    "decode_message",
    "decode_payload",
    "encode_data",
    "encode_dbirth",
    "encode_ddeath",
    "encode_host_state",
    "encode_nbirth",
    "encode_ndeath",
    "encode_payload",
    "encode_rebirth_command",
    "host_state_topic",
    "interpret_metric_value",
    "interpret_value",
    "is_control_metric",
    "parse_topic",
]
