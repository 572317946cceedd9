"""The Sparkplug B host session's settings and what it decides: readings, current values,
stale marks, rebirth requests, data-quality events and data messages left for deferred
decoding (with the metric table they resolve against)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from workers.mqtt.sparkplug.encode import encode_rebirth_command
from workers.mqtt.sparkplug.model import MessageType
from workers.mqtt.sparkplug.topics import build_topic

SEQUENCE_MODULUS: Final = 256
QUALITY_PROPERTY: Final = "Quality"


@dataclass(frozen=True, slots=True)
class SessionSettings:
    reorder_window_messages: int = 16  # messages held while waiting for a missing one; 0 = none
    reorder_timeout_s: float = 2.0  # how long the oldest held message may wait
    rebirth_retry_s: float | None = 30.0  # repeat an unanswered rebirth request after this

    def __post_init__(self) -> None:
        if not 0 <= self.reorder_window_messages < SEQUENCE_MODULUS // 2:
            raise ValueError("reorder_window_messages must be in 0..127")
        if self.reorder_timeout_s < 0:
            raise ValueError("reorder_timeout_s must be >= 0")
        if self.rebirth_retry_s is not None and self.rebirth_retry_s <= 0:
            raise ValueError("rebirth_retry_s must be positive or None")


class DataQualityReason(StrEnum):
    DATA_BEFORE_BIRTH = "data_before_birth"
    DEVICE_DATA_BEFORE_BIRTH = "device_data_before_birth"
    UNKNOWN_ALIAS = "unknown_alias"
    UNKNOWN_METRIC = "unknown_metric"
    SEQUENCE_GAP = "sequence_gap"
    DUPLICATE_SEQUENCE = "duplicate_sequence"
    MISSING_SEQUENCE = "missing_sequence"
    OUT_OF_SYNC = "out_of_sync"
    MESSAGES_DISCARDED = "messages_discarded"
    STALE_DEATH_CERTIFICATE = "stale_death_certificate"
    DEATH_BEFORE_BIRTH = "death_before_birth"
    BIRTH_WITHOUT_BDSEQ = "birth_without_bdseq"
    BIRTH_SEQUENCE_NOT_ZERO = "birth_sequence_not_zero"
    BAD_BIRTH_METRIC = "bad_birth_metric"
    DUPLICATE_ALIAS = "duplicate_alias"
    DATATYPE_MISMATCH = "datatype_mismatch"
    BAD_METRIC = "bad_metric"
    PAYLOAD_PROBLEM = "payload_problem"


class StaleReason(StrEnum):
    NODE_DEATH = "node_death"
    DEVICE_DEATH = "device_death"
    NODE_REBIRTH = "node_rebirth"  # devices and node metrics not carried into a new session


@dataclass(slots=True)  # not frozen: built once per metric, and frozen costs ~1 µs each
class SparkplugReading:
    """A resolved metric value. ``device_id`` None: a node-level metric. Read-only by
    convention."""

    group_id: str
    edge_node_id: str
    device_id: str | None
    metric_name: str
    datatype: int
    ts: datetime
    value: Any  # None only when is_null
    is_historical: bool
    is_null: bool
    quality: int | None  # Sparkplug "Quality" property: 0 bad, 192 good, 500 stale; None = good


@dataclass(frozen=True, slots=True)
class StaleMark:
    group_id: str
    edge_node_id: str
    device_id: str | None  # None: the node's own metrics
    metric_names: tuple[str, ...]
    stale_at: datetime
    reason: StaleReason


@dataclass(frozen=True, slots=True)
class RebirthRequest:
    group_id: str
    edge_node_id: str
    requested_at: datetime
    reason: DataQualityReason

    @property
    def topic(self) -> str:
        return build_topic(self.group_id, MessageType.NCMD, self.edge_node_id)

    def payload(self) -> bytes:
        return encode_rebirth_command(timestamp=self.requested_at)


@dataclass(frozen=True, slots=True)
class DataQualityEvent:
    group_id: str
    edge_node_id: str
    device_id: str | None
    reason_code: DataQualityReason
    message: str
    detected_at: datetime
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class MetricTable:
    """A scope's metric definitions as of one birth: ``(alias or None, name, datatype,
    is_control)`` rows. ``table_id`` is unique within the process."""

    table_id: int
    rows: tuple[tuple[int | None, str, int, bool], ...]


@dataclass(frozen=True, slots=True)
class DeferredData:
    """A data message the session accepted (in sequence, every metric known to ``table``)
    whose metrics are still undecoded: ``data_resolve`` turns it into readings later."""

    group_id: str
    edge_node_id: str
    device_id: str | None
    raw: bytes
    default_ts: datetime
    received_at: datetime
    seq: int | None
    table: MetricTable
    metric_count: int

    def wire(self) -> list[Any]:
        """As it travels to the ingest task: ``[group, node, device, payload, default_ts_ms,
        received_at_ms, seq, table_id]`` (the table goes once per batch, by id)."""
        return [
            self.group_id,
            self.edge_node_id,
            self.device_id,
            self.raw,
            round(self.default_ts.timestamp() * 1000),
            round(self.received_at.timestamp() * 1000),
            self.seq,
            self.table.table_id,
        ]


@dataclass(frozen=True, slots=True)
class SessionOutput:
    readings: tuple[SparkplugReading, ...] = ()  # to store (historical ones flagged)
    current_values: tuple[SparkplugReading, ...] = ()  # to apply as current values, in order
    stale_marks: tuple[StaleMark, ...] = ()
    rebirth_requests: tuple[RebirthRequest, ...] = ()
    data_quality_events: tuple[DataQualityEvent, ...] = ()
    deferred: tuple[DeferredData, ...] = ()  # data messages of deferred decoding, in order

    @property
    def is_empty(self) -> bool:
        return not (
            self.readings
            or self.current_values
            or self.stale_marks
            or self.rebirth_requests
            or self.data_quality_events
            or self.deferred
        )


@dataclass(frozen=True, slots=True)
class NodeStatus:
    group_id: str
    edge_node_id: str
    is_online: bool
    is_in_sync: bool
    bd_seq: int | None
    expected_seq: int | None
    held_seqs: tuple[int, ...]
    device_ids: tuple[str, ...]
    is_rebirth_pending: bool
