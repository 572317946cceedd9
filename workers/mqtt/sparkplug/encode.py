"""Sparkplug B encoding (simulator, edge agent, tests, the host's rebirth command and STATE):
the message model into protobuf ``Payload`` bytes, and the births, deaths, data and commands
built on it."""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from workers.mqtt import sparkplug_b_pb2
from workers.mqtt.sparkplug.model import (
    BD_SEQ_METRIC,
    MAX_SEQUENCE,
    REBIRTH_METRIC,
    DataType,
    SparkplugDataSet,
    SparkplugMetric,
    SparkplugTemplate,
)
from workers.mqtt.sparkplug.values import ARRAY_FORMATS, SIGNED_BITS, UNSIGNED_BITS


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
    code = ARRAY_FORMATS[datatype]
    try:
        return struct.pack(f"<{len(values)}{code}", *values)
    except struct.error as error:
        raise ValueError(f"{datatype.name}: {error}") from None


def _set_scalar(target: Any, datatype: DataType, value: Any, *, is_dataset: bool = False) -> None:
    """Set the oneof value of a Metric / DataSetValue / Parameter for ``datatype``."""
    if datatype in SIGNED_BITS:
        bits = SIGNED_BITS[datatype]
        if type(value) is not int or not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
            raise ValueError(f"{value!r} is not an {datatype.name}")
        if bits == 64:
            target.long_value = value & 0xFFFF_FFFF_FFFF_FFFF
        else:
            target.int_value = value & 0xFFFF_FFFF
    elif datatype in UNSIGNED_BITS:
        if datatype == DataType.DATETIME and isinstance(value, datetime):
            value = datetime_to_ms(value)
        bits = UNSIGNED_BITS[datatype]
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
    elif datatype in ARRAY_FORMATS or datatype in (DataType.BOOLEAN_ARRAY, DataType.STRING_ARRAY):
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
