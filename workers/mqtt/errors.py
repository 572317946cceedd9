"""The one exception type raised by the MQTT codecs (UNS JSON and Sparkplug B).

Pure module: stdlib only. The bridge catches ``DecodeError`` and dead-letters the message with
``reason_code`` (a stable, machine-readable string) and ``message`` (for people).
"""

from __future__ import annotations

from enum import StrEnum


class DecodeReason(StrEnum):
    """Stable reason codes for messages that cannot be decoded. Stored in dead letters."""

    PAYLOAD_TOO_LARGE = "payload_too_large"
    BAD_TOPIC = "bad_topic"
    BAD_JSON = "bad_json"
    BAD_PAYLOAD = "bad_payload"
    MISSING_FIELD = "missing_field"
    BAD_TIMESTAMP = "bad_timestamp"
    BAD_VALUE_TYPE = "bad_value_type"
    BAD_PROTOBUF = "bad_protobuf"
    BAD_SEQUENCE = "bad_sequence"
    UNSUPPORTED_DATATYPE = "unsupported_datatype"


class DecodeError(ValueError):
    """A message could not be decoded. ``reason_code`` is one of ``DecodeReason``."""

    def __init__(self, reason_code: DecodeReason, message: str) -> None:
        super().__init__(f"{reason_code.value}: {message}")
        self.reason_code = reason_code
        self.message = message

    def __reduce__(self) -> tuple[type[DecodeError], tuple[DecodeReason, str]]:
        # Keeps the exception picklable (Celery results, multiprocessing).
        return (DecodeError, (self.reason_code, self.message))
