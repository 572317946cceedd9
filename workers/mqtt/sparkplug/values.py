"""Sparkplug B values on the wire: which protobuf field carries which datatype, signed integers
as two's complement, arrays packed little-endian, and the interpretation of a raw value once
its datatype is known (a data message may leave the datatype to the birth)."""

from __future__ import annotations

import struct
from typing import Any, Final

from workers.mqtt.errors import DecodeError, DecodeReason
from workers.mqtt.sparkplug.model import DataType, SparkplugMetric

SIGNED_BITS: Final = {DataType.INT8: 8, DataType.INT16: 16, DataType.INT32: 32, DataType.INT64: 64}
UNSIGNED_BITS: Final = {
    DataType.UINT8: 8,
    DataType.UINT16: 16,
    DataType.UINT32: 32,
    DataType.UINT64: 64,
    DataType.DATETIME: 64,
}
INTEGER_FIELDS: Final = frozenset({"int_value", "long_value"})
_FLOAT_FIELDS: Final = frozenset({"float_value", "double_value"})
_FIELDS_BY_TYPE: Final[dict[int, frozenset[str]]] = {
    **dict.fromkeys(SIGNED_BITS, INTEGER_FIELDS),
    **dict.fromkeys(UNSIGNED_BITS, INTEGER_FIELDS),
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
ARRAY_FORMATS: Final = {
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
for _array_type in (*ARRAY_FORMATS, DataType.BOOLEAN_ARRAY, DataType.STRING_ARRAY):
    _FIELDS_BY_TYPE[_array_type] = frozenset({"bytes_value"})
_MAX_DATATYPE: Final = max(DataType)


def to_signed(raw: int, bits: int) -> int:
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
    code = ARRAY_FORMATS[DataType(datatype)]
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
    if value_field in INTEGER_FIELDS:
        bits = SIGNED_BITS.get(datatype)  # type: ignore[call-overload]
        if bits is not None:
            return to_signed(raw, bits)
        bits = UNSIGNED_BITS[datatype]  # type: ignore[index]
        if raw >> bits:
            raise DecodeError(
                DecodeReason.BAD_VALUE_TYPE, f"{raw} out of range for {DataType(datatype).name}"
            )
        return raw
    if value_field == "bytes_value" and datatype >= DataType.INT8_ARRAY:
        return _decode_array(datatype, raw)
    if value_field == "string_value":
        return checked_text(raw, "string value")
    return raw


def checked_text(raw: Any, what: str) -> str:
    """proto2 strings that are not UTF-8 come back from upb as bytes: reject them here."""
    if type(raw) is str:
        return raw
    raise DecodeError(DecodeReason.BAD_VALUE_TYPE, f"{what} is not valid UTF-8")


def interpret_metric_value(metric: SparkplugMetric, datatype: int) -> Any:
    """The value of a metric decoded without datatype, interpreted with the birth's datatype."""
    if metric.datatype is not None or metric.is_null:
        return metric.value
    return interpret_value(metric.value_field, metric.value, datatype)
