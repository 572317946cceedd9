"""Unified Namespace (UNS) JSON codec: topic and payload parsing, pure and Django-free.

Contract (docs: DESIGN.md §5), below an optional root prefix of zero or more levels:

``{enterprise}/{site}/{area}/{line}/{cell}/{equipment}/{signal}``
    one reading: ``{"ts": <RFC 3339 string | epoch ms number>, "value": <number|bool|string>,
    "unit": "<optional>"}``; an optional ``"quality"`` (0..255, OPC UA / Sparkplug: 192 good,
    64 uncertain, 0 bad; absent: good) — a reading that is not good may have ``"value": null``
``{enterprise}/{site}/{area}/{line}/{cell}/{equipment}``
    a batch: ``{"ts": ..., "values": {"<signal>": <value>, ...}, "units": {"<signal>": "<unit>"}}``
    (``units`` optional)
``.../{equipment}/_features``
    vibration window features: ``{"ts": ..., "features": {"<name>": <number>, ...}}``; decoded as a
    batch of float readings whose signal names are the feature names
``.../{station}/_measurement``
    a quality measurement (SPC): ``{"ts": ..., "characteristic": "<code>", "value": <number>,
    "unit": "<optional>", "lot": "<optional code>", "serial": "<optional>", "size": <optional
    number, units inspected of an attribute count>}``; decoded as an event of kind
    ``measurement`` whose data holds those fields
``.../{equipment}/_event``
    an equipment event: ``{"ts": ..., "type": "<kind>", ...}``. Known kinds are validated:
    ``state`` needs ``state`` (non-empty string) and takes an optional ``reason`` (string code or
    null); ``count`` takes ``good``, ``scrap`` and ``rework`` (integers >= 0, at least one present,
    absent ones are 0). Other kinds pass through with their fields (JSON values) untouched.

Rules: the payload size is checked before parsing; JSON must be strict (no NaN/Infinity); extra
payload fields are ignored; numbers must be finite; timestamps are RFC 3339 with an offset or
epoch milliseconds, between 2000-01-01 and 2100-01-01 UTC (catches seconds sent as milliseconds),
and are returned as aware UTC datetimes. Topic segments must be non-empty and free of MQTT
wildcards; signal names starting with ``_`` are reserved. Any violation raises ``DecodeError``
with a stable reason code; nothing else escapes ``UnsDecoder.decode``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final, NamedTuple

from workers.mqtt.errors import DecodeError, DecodeReason

DEFAULT_MAX_PAYLOAD_BYTES: Final = 256 * 1024
EQUIPMENT_LEVELS: Final = ("enterprise", "site", "area", "line", "cell", "equipment")
EVENT_SEGMENT: Final = "_event"
FEATURES_SEGMENT: Final = "_features"
MEASUREMENT_SEGMENT: Final = "_measurement"
MEASUREMENT_EVENT_KIND: Final = "measurement"
# Feature readings are stored as Signals named "vibration_<feature name>" (the demo plant
# and the maintenance health service use these names).
FEATURE_SIGNAL_PREFIX: Final = "vibration_"
MIN_TIMESTAMP_MS: Final = 946_684_800_000  # 2000-01-01T00:00:00Z
MAX_TIMESTAMP_MS: Final = 4_102_444_800_000  # 2100-01-01T00:00:00Z
QUALITY_GOOD: Final = 192  # as workers.choices.QUALITY_GOOD (OPC UA / Sparkplug)

Scalar = bool | int | float | str


class TopicKind(StrEnum):
    READING = "reading"
    BATCH = "batch"
    FEATURES = "features"
    EVENT = "event"
    MEASUREMENT = "measurement"


class EventKind(StrEnum):
    """Event kinds whose fields the codec validates. Other kinds pass through."""

    STATE = "state"
    COUNT = "count"


@dataclass(frozen=True, slots=True)
class UnsTopic:
    equipment_path: str  # "enterprise/site/area/line/cell/equipment", without the root
    kind: TopicKind
    signal: str | None  # only for TopicKind.READING


class DecodedReading(NamedTuple):
    """One reading. A named tuple: a batch message yields one per value, and a tuple is built
    several times faster than a frozen dataclass."""

    equipment_path: str
    signal: str
    ts: datetime  # aware, UTC
    value: Scalar | None  # None only for a reading whose quality is not good
    unit: str | None
    quality: int = QUALITY_GOOD


@dataclass(frozen=True, slots=True)
class DecodedEvent:
    equipment_path: str
    kind: str
    ts: datetime  # aware, UTC
    # state: {"state": str, "reason": str | None}; count: {"good": int, "scrap": int,
    # "rework": int}; other kinds: every payload field except "ts" and "type".
    data: Mapping[str, Any]


DecodedMessage = tuple[DecodedReading, ...] | DecodedEvent

_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})",
    re.ASCII,
)
_BAD_SEGMENT_CHARACTERS = re.compile(r"[+#\x00]")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


_JSON_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_JSON_WHITESPACE: Final = " \t\n\r"
_COUNT_FIELDS: Final = ("good", "scrap", "rework")


def parse_timestamp(raw: object) -> datetime:
    """``ts`` field → aware UTC datetime. Epoch milliseconds (int or float) or RFC 3339."""
    if type(raw) is int or type(raw) is float:
        if not (MIN_TIMESTAMP_MS <= raw < MAX_TIMESTAMP_MS):  # also false for NaN
            raise DecodeError(
                DecodeReason.BAD_TIMESTAMP,
                f"epoch milliseconds {raw!r} outside 2000-01-01..2100-01-01 "
                "(seconds sent instead of milliseconds?)",
            )
        return datetime.fromtimestamp(raw / 1000, UTC)
    if type(raw) is str:
        if _RFC3339.fullmatch(raw) is None:
            raise DecodeError(
                DecodeReason.BAD_TIMESTAMP,
                f"{raw[:64]!r} is not RFC 3339 with an offset (e.g. 2024-05-01T08:00:00.250Z)",
            )
        try:
            parsed = datetime.fromisoformat(raw[:-1] + "Z" if raw[-1] == "z" else raw)
            parsed = parsed.astimezone(UTC)
        except (ValueError, OverflowError) as error:
            raise DecodeError(DecodeReason.BAD_TIMESTAMP, f"{raw!r}: {error}") from None
        if not (MIN_TIMESTAMP_MS <= parsed.timestamp() * 1000 < MAX_TIMESTAMP_MS):
            raise DecodeError(DecodeReason.BAD_TIMESTAMP, f"{raw!r} outside 2000-01-01..2100-01-01")
        return parsed
    raise DecodeError(
        DecodeReason.BAD_TIMESTAMP,
        f"ts must be an RFC 3339 string or epoch milliseconds, not {type(raw).__name__}",
    )


def _check_value(value: object, field: str) -> Scalar:
    kind = type(value)
    if kind is float:
        if not math.isfinite(value):  # type: ignore[arg-type]
            raise DecodeError(DecodeReason.BAD_VALUE_TYPE, f"{field} is not finite")
        return value  # type: ignore[return-value]
    if kind is int or kind is bool or kind is str:
        return value  # type: ignore[return-value]
    raise DecodeError(
        DecodeReason.BAD_VALUE_TYPE,
        f"{field} must be a number, boolean or string, not {_json_type_name(value)}",
    )


def _json_type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


# Names already found valid: a plant sends the same few thousand names over and over.
_VALID_NAMES: set[str] = set()
_VALID_NAMES_MAX = 100_000


def _check_name(name: str, what: str) -> None:
    if name in _VALID_NAMES:
        return
    if not name or "/" in name or name[0] == "_" or _BAD_SEGMENT_CHARACTERS.search(name):
        raise DecodeError(
            DecodeReason.BAD_PAYLOAD,
            f"{what} {name[:64]!r} must be non-empty, must not contain '/', '+', '#' "
            "and must not start with '_'",
        )
    if len(_VALID_NAMES) >= _VALID_NAMES_MAX:
        _VALID_NAMES.clear()
    _VALID_NAMES.add(name)


class UnsDecoder:
    """Decodes UNS messages below ``root`` (e.g. ``""`` or ``"acme/v1"``). Thread-safe."""

    __slots__ = ("_max_payload_bytes", "_root", "_root_levels")

    def __init__(
        self, *, root: str = "", max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    ) -> None:
        root = root.strip("/")
        if root and any(
            not part or _BAD_SEGMENT_CHARACTERS.search(part) for part in root.split("/")
        ):
            raise ValueError(f"root prefix {root!r} has an empty level or an MQTT wildcard")
        if max_payload_bytes < 1:
            raise ValueError("max_payload_bytes must be positive")
        self._root = root + "/" if root else ""
        self._root_levels = root.count("/") + 1 if root else 0
        self._max_payload_bytes = max_payload_bytes

    @property
    def root(self) -> str:
        return self._root.rstrip("/")

    @property
    def subscriptions(self) -> tuple[str, ...]:
        """MQTT topic filters that cover the whole contract below the root."""
        base = self._root + "+/+/+/+/+/+"
        return (base, base + "/+")

    def parse_topic(self, topic: str) -> UnsTopic:
        equipment_path, kind, signal = self._split_topic(topic)
        return UnsTopic(equipment_path, kind, signal)

    def _split_topic(self, topic: str) -> tuple[str, TopicKind, str | None]:
        root = self._root
        if root and not topic.startswith(root):
            raise DecodeError(DecodeReason.BAD_TOPIC, f"{topic[:200]!r} is not below {root!r}")
        rest = topic[len(root) :] if root else topic
        if (
            not rest
            or "+" in rest
            or "#" in rest
            or "\x00" in rest
            or "//" in rest
            or rest[0] == "/"
            or rest[-1] == "/"
        ):
            raise DecodeError(
                DecodeReason.BAD_TOPIC, f"{topic[:200]!r} has an empty level or an MQTT wildcard"
            )
        parts = rest.split("/")
        level_count = len(parts)
        if level_count == 6:
            equipment_path = rest
        elif level_count == 7:
            equipment_path = rest[: -len(parts[6]) - 1]
        else:
            raise DecodeError(
                DecodeReason.BAD_TOPIC,
                f"{topic[:200]!r} must be {root}enterprise/site/area/line/cell/equipment"
                "[/signal|/_event|/_features]",
            )
        if equipment_path[0] in "_$" or "/_" in equipment_path or "/$" in equipment_path:
            raise DecodeError(
                DecodeReason.BAD_TOPIC,
                f"{topic[:200]!r}: equipment levels must not start with '_' or '$'",
            )
        if level_count == 6:
            return equipment_path, TopicKind.BATCH, None
        last = parts[6]
        if last[0] == "_":
            if last == EVENT_SEGMENT:
                return equipment_path, TopicKind.EVENT, None
            if last == FEATURES_SEGMENT:
                return equipment_path, TopicKind.FEATURES, None
            if last == MEASUREMENT_SEGMENT:
                return equipment_path, TopicKind.MEASUREMENT, None
            raise DecodeError(
                DecodeReason.BAD_TOPIC,
                f"{topic[:200]!r}: '{last}' is reserved (known: _event, _features, _measurement)",
            )
        return equipment_path, TopicKind.READING, last

    def load_json(self, payload: bytes) -> dict[str, Any]:
        """Size check, strict UTF-8 JSON, top level must be an object."""
        if len(payload) > self._max_payload_bytes:
            raise DecodeError(
                DecodeReason.PAYLOAD_TOO_LARGE,
                f"{len(payload)} bytes exceeds the limit of {self._max_payload_bytes} bytes",
            )
        try:
            text = payload.decode("utf-8")
            try:
                # Fast path (no leading whitespace): one scan instead of json.loads' two.
                document, end = _JSON_DECODER.raw_decode(text)
            except json.JSONDecodeError:
                document = _JSON_DECODER.decode(text)  # leading whitespace, or the real error
            else:
                if end != len(text) and text[end:].strip(_JSON_WHITESPACE):
                    raise json.JSONDecodeError("Extra data", text, end)
        except (ValueError, RecursionError) as error:  # JSONDecodeError, UnicodeDecodeError
            raise DecodeError(DecodeReason.BAD_JSON, str(error)[:200]) from None
        if type(document) is not dict:
            raise DecodeError(
                DecodeReason.BAD_PAYLOAD,
                f"payload must be a JSON object, not {_json_type_name(document)}",
            )
        return document

    def decode(self, topic: str, payload: bytes) -> DecodedMessage:
        """Decode one MQTT message. Raises only ``DecodeError``."""
        equipment_path, kind, signal = self._split_topic(topic)
        document = self.load_json(payload)
        try:
            raw_ts = document["ts"]
        except KeyError:
            raise DecodeError(DecodeReason.MISSING_FIELD, "ts is missing") from None
        ts = parse_timestamp(raw_ts)
        if kind is TopicKind.READING:
            return (self._reading(equipment_path, signal or "", ts, document),)
        if kind is TopicKind.BATCH:
            return self._batch(equipment_path, ts, document)
        if kind is TopicKind.FEATURES:
            return self._features(equipment_path, ts, document)
        if kind is TopicKind.MEASUREMENT:
            return _measurement(equipment_path, ts, document)
        return self._event(equipment_path, ts, document)

    @staticmethod
    def _reading(
        equipment_path: str, signal: str, ts: datetime, document: dict[str, Any]
    ) -> DecodedReading:
        try:
            value = document["value"]
        except KeyError:
            raise DecodeError(DecodeReason.MISSING_FIELD, "value is missing") from None
        quality = document.get("quality")
        if quality is None:  # the common case: good
            quality = QUALITY_GOOD
            value = _check_value(value, "value")
        else:
            if type(quality) is not int or not 0 <= quality <= 255:
                raise DecodeError(DecodeReason.BAD_PAYLOAD, "quality must be an integer 0..255")
            if value is not None or quality == QUALITY_GOOD:
                value = _check_value(value, "value")
        unit = document.get("unit")
        if unit is not None and type(unit) is not str:
            raise DecodeError(DecodeReason.BAD_PAYLOAD, "unit must be a string")
        return DecodedReading(equipment_path, signal, ts, value, unit, quality)

    @staticmethod
    def _batch(
        equipment_path: str, ts: datetime, document: dict[str, Any]
    ) -> tuple[DecodedReading, ...]:
        values = _object_field(document, "values")
        units = document.get("units")
        if units is None:
            units = {}
        elif type(units) is not dict:
            raise DecodeError(DecodeReason.BAD_PAYLOAD, "units must be an object")
        readings: list[DecodedReading] = []
        append = readings.append
        valid_names = _VALID_NAMES
        isfinite = math.isfinite
        for signal, value in values.items():
            if signal not in valid_names:
                _check_name(signal, "signal")
            unit = units.get(signal) if units else None
            if unit is not None and type(unit) is not str:
                raise DecodeError(DecodeReason.BAD_PAYLOAD, f"unit of {signal!r} must be a string")
            if type(value) is not float or not isfinite(value):
                value = _check_value(value, f"values.{signal}")
            append(DecodedReading(equipment_path, signal, ts, value, unit))
        return tuple(readings)

    @staticmethod
    def _features(
        equipment_path: str, ts: datetime, document: dict[str, Any]
    ) -> tuple[DecodedReading, ...]:
        features = _object_field(document, "features")
        readings = []
        for name, value in features.items():
            _check_name(name, "feature")
            kind = type(value)
            if kind is int:
                value = float(value)
            elif kind is not float or not math.isfinite(value):
                raise DecodeError(
                    DecodeReason.BAD_VALUE_TYPE,
                    f"features.{name} must be a finite number, not {_json_type_name(value)}",
                )
            readings.append(
                DecodedReading(equipment_path, FEATURE_SIGNAL_PREFIX + name, ts, value, None)
            )
        return tuple(readings)

    @staticmethod
    def _event(equipment_path: str, ts: datetime, document: dict[str, Any]) -> DecodedEvent:
        try:
            kind = document["type"]
        except KeyError:
            raise DecodeError(DecodeReason.MISSING_FIELD, "type is missing") from None
        if type(kind) is not str or not kind:
            raise DecodeError(DecodeReason.BAD_PAYLOAD, "type must be a non-empty string")
        data: dict[str, Any]
        if kind == EventKind.STATE:
            try:
                state = document["state"]
            except KeyError:
                raise DecodeError(DecodeReason.MISSING_FIELD, "state is missing") from None
            if type(state) is not str or not state:
                raise DecodeError(DecodeReason.BAD_VALUE_TYPE, "state must be a non-empty string")
            reason = document.get("reason")
            if reason is not None and (type(reason) is not str or not reason):
                raise DecodeError(
                    DecodeReason.BAD_VALUE_TYPE, "reason must be a non-empty string or null"
                )
            data = {"state": state, "reason": reason}
        elif kind == EventKind.COUNT:
            data = {}
            for field in _COUNT_FIELDS:
                count = document.get(field, 0)
                if type(count) is not int or count < 0:
                    raise DecodeError(
                        DecodeReason.BAD_VALUE_TYPE, f"{field} must be an integer >= 0"
                    )
                data[field] = count
            if not any(field in document for field in _COUNT_FIELDS):
                raise DecodeError(
                    DecodeReason.MISSING_FIELD, "a count event needs good, scrap or rework"
                )
        else:
            data = {key: value for key, value in document.items() if key not in ("ts", "type")}
        return DecodedEvent(equipment_path, kind, ts, MappingProxyType(data))


def _measurement(equipment_path: str, ts: datetime, document: dict[str, Any]) -> DecodedEvent:
    """A quality measurement: a characteristic code and a finite number, optional unit, lot,
    serial (strings) and size (a positive number)."""
    characteristic = document.get("characteristic")
    if characteristic is None:
        raise DecodeError(DecodeReason.MISSING_FIELD, "characteristic is missing")
    if type(characteristic) is not str or not characteristic:
        raise DecodeError(DecodeReason.BAD_VALUE_TYPE, "characteristic must be a non-empty string")
    if "value" not in document:
        raise DecodeError(DecodeReason.MISSING_FIELD, "value is missing")
    value = document["value"]
    if type(value) not in (int, float) or not math.isfinite(value):
        raise DecodeError(
            DecodeReason.BAD_VALUE_TYPE,
            f"value must be a finite number, not {_json_type_name(value)}",
        )
    data: dict[str, Any] = {"characteristic": characteristic, "value": float(value)}
    for field in ("unit", "lot", "serial"):
        text = document.get(field)
        if text is not None and (type(text) is not str or not text):
            raise DecodeError(DecodeReason.BAD_VALUE_TYPE, f"{field} must be a non-empty string")
        data[field] = text
    size = document.get("size")
    if size is not None and (type(size) not in (int, float) or not 0 < size < math.inf):
        raise DecodeError(DecodeReason.BAD_VALUE_TYPE, "size must be a positive number")
    data["size"] = None if size is None else float(size)
    return DecodedEvent(equipment_path, MEASUREMENT_EVENT_KIND, ts, MappingProxyType(data))


def _object_field(document: dict[str, Any], field: str) -> dict[str, Any]:
    try:
        value = document[field]
    except KeyError:
        raise DecodeError(DecodeReason.MISSING_FIELD, f"{field} is missing") from None
    if type(value) is not dict:
        raise DecodeError(
            DecodeReason.BAD_PAYLOAD, f"{field} must be an object, not {_json_type_name(value)}"
        )
    if not value:
        raise DecodeError(DecodeReason.BAD_PAYLOAD, f"{field} must not be empty")
    return value


# --- encoding (simulator, edge agent, tests) ---------------------------------------------------


def timestamp_ms(ts: datetime) -> int:
    """Aware datetime → epoch milliseconds (the compact ``ts`` form)."""
    if ts.tzinfo is None:
        raise ValueError("ts must be timezone-aware")
    return round(ts.timestamp() * 1000)


def build_topic(root: str, equipment_path: str, leaf: str | None = None) -> str:
    """``root/equipment_path[/leaf]``; leaf is a signal, ``_event``, ``_features`` or
    ``_measurement``."""
    parts = [part for part in (root.strip("/"), equipment_path.strip("/"), leaf) if part]
    return "/".join(parts)


def _dumps(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), allow_nan=False).encode()


def encode_reading(
    ts: datetime, value: Scalar | None, unit: str | None = None, *, quality: int = QUALITY_GOOD
) -> bytes:
    document: dict[str, Any] = {"ts": timestamp_ms(ts), "value": value}
    if unit is not None:
        document["unit"] = unit
    if quality != QUALITY_GOOD:
        document["quality"] = quality
    return _dumps(document)


def encode_batch(
    ts: datetime, values: Mapping[str, Scalar], units: Mapping[str, str] | None = None
) -> bytes:
    document: dict[str, Any] = {"ts": timestamp_ms(ts), "values": dict(values)}
    if units:
        document["units"] = dict(units)
    return _dumps(document)


def encode_features(ts: datetime, features: Mapping[str, float]) -> bytes:
    return _dumps({"ts": timestamp_ms(ts), "features": dict(features)})


def encode_event(ts: datetime, kind: str, fields: Mapping[str, Any]) -> bytes:
    return _dumps({**fields, "ts": timestamp_ms(ts), "type": kind})


def encode_measurement(
    ts: datetime, characteristic: str, value: float, **optional: str | float | None
) -> bytes:
    """A ``_measurement`` payload; ``optional``: unit, lot, serial, size."""
    fields = {key: item for key, item in optional.items() if item is not None}
    return _dumps(
        {"ts": timestamp_ms(ts), "characteristic": characteristic, "value": value, **fields}
    )
