"""Choices and reason codes of the telemetry ingest."""

from django.db import models


class IngestSource(models.TextChoices):
    UNS = "uns", "Unified Namespace (JSON)"
    SPARKPLUG = "sparkplug", "Sparkplug B"


class IngestReason(models.TextChoices):
    """Reasons the ingest adds to the codecs' ``DecodeReason`` and the Sparkplug session's
    ``DataQualityReason`` (dead letters store any of the three as ``reason_code``)."""

    UNKNOWN_EQUIPMENT = "unknown_equipment", "No equipment at this UNS path"
    UNKNOWN_SIGNAL = "unknown_signal", "The equipment has no such signal"
    WRONG_TYPE = "wrong_type", "Value type differs from the signal's data type"
    OUT_OF_RANGE = "out_of_range", "Value outside the signal's plausible range"
    UNIT_MISMATCH = "unit_mismatch", "Unit differs from the signal's unit"
    VALUE_TOO_LONG = "value_too_long", "Text value longer than allowed"
    BAD_TEXT = "bad_text", "Text value with NUL characters"
    TOO_OLD = "too_old", "Timestamp older than the retention period"
    TS_IN_FUTURE = "ts_in_future", "Timestamp too far in the future"
    EVENT_REJECTED = "event_rejected", "The production services rejected the event"
    EVENT_SERVICE_UNAVAILABLE = "event_service_unavailable", "Event service not available"
    SPARKPLUG_UNMAPPED_NODE = "sparkplug_unmapped_node", "Sparkplug node not mapped"
    SPARKPLUG_UNMAPPED_DEVICE = "sparkplug_unmapped_device", "Sparkplug device not mapped"
    UNSUPPORTED_VALUE = "unsupported_value", "Value type the store cannot hold"


# Quality of a reading: the OPC UA / Sparkplug convention (192 good, 0 bad, 500 stale).
QUALITY_GOOD = 192
# Uncertain, sensor not accurate (OPC DA 0x50): a reading of a sensor found suspect (kept).
QUALITY_UNCERTAIN_SENSOR = 80
