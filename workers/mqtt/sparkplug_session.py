"""Sparkplug B host-application session: a pure state machine (no I/O, time passed in).

``SparkplugHostSession.handle(message, received_at=...)`` takes one decoded message and returns
a ``SessionOutput`` of decisions: readings to store, current-value updates, stale marks, rebirth
requests and data-quality events. ``expire(now=...)`` closes reorder windows that timed out. The
bridge does the I/O: it stores readings, publishes each ``RebirthRequest`` as an NCMD
(``request.topic`` / ``request.payload()``), and dead-letters or logs data-quality events.

Per edge node (``group_id``, ``edge_node_id``):

* NBIRTH starts a session: it resets the node's metrics, its devices and the expected sequence
  number (birth seq + 1; the spec requires the birth seq to be 0), records the bdSeq, and its
  metric values are output. Devices of a previous session are marked stale (they will rebirth).
* DBIRTH registers a device's metrics (name, alias, datatype); NDATA/DDATA are resolved through
  aliases (or names) into readings. Aliases are scoped to the node or to the device.
* Sequence numbers (0..255, 255 → 0) are checked on DBIRTH/NDATA/DDATA/DDEATH. A message ahead
  of the expected number is held in a reorder window (``reorder_window_messages``,
  ``reorder_timeout_s``) and released in order once the gap fills. A gap that is not filled in
  time, or that overflows the window, discards the held messages, marks the node out of sync
  and requests ONE rebirth; data from an out-of-sync node is dropped (with a data-quality event)
  until its next NBIRTH. A repeat request is sent only if the node keeps talking for
  ``rebirth_retry_s`` without rebirthing (a lost NCMD); None disables repeats.
* Data before a birth, for an unborn device, or with an unknown alias/name produces nothing (no
  guessed mapping): the message yields a data-quality event and the node one rebirth request.
* NDEATH with the bdSeq of the current NBIRTH marks the node's and its devices' metrics stale at
  the host's receipt time (the will's own timestamp is from connect time). An NDEATH with another
  bdSeq is an older session's will: ignored, reported as a data-quality event.
* DDEATH marks that device's metrics stale (at the payload timestamp, else receipt time).
* ``is_historical`` metrics are output as readings flagged historical and never as current values;
  ``is_transient`` metrics update current values but are not output for storage; ``is_null``
  metrics update the current value to None and are not stored. bdSeq and ``Node Control/...`` /
  ``Device Control/...`` metrics drive the protocol and are not output.

After a restart the session is empty: the first data of each node gets a rebirth request, which
rebuilds the state (the standard Sparkplug host start-up). Not thread-safe: one session per
bridge consumer thread.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from workers.mqtt.errors import DecodeError
from workers.mqtt.sparkplug import (
    BD_SEQ_METRIC,
    DEFAULT_MAX_PAYLOAD_BYTES,
    MessageType,
    SparkplugMessage,
    SparkplugMetric,
    SparkplugPayload,
    build_topic,
    decode_payload,
    encode_rebirth_command,
    interpret_metric_value,
    is_control_metric,
)

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


def definition_of(
    by_alias: Mapping[int, _MetricDefinition],
    by_name: Mapping[str, _MetricDefinition],
    alias: int | None,
    name: str | None,
) -> _MetricDefinition | None:
    """A data metric's definition from its birth: by alias when it has one, else by name."""
    if alias is not None:
        return by_alias.get(alias)
    return by_name.get(name) if name else None


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


# --- internal state ----------------------------------------------------------------------------


@dataclass(slots=True)
class _MetricDefinition:
    name: str
    datatype: int
    is_control: bool


@dataclass(slots=True)
class _Scope:
    """The metrics of a node or of one device."""

    by_name: dict[str, _MetricDefinition] = field(default_factory=dict)
    by_alias: dict[int, _MetricDefinition] = field(default_factory=dict)
    table: MetricTable | None = None  # built on demand, dropped when a birth changes the scope

    def metric_table(self) -> MetricTable:
        if self.table is None:
            alias_of = {id(definition): alias for alias, definition in self.by_alias.items()}
            self.table = MetricTable(
                next(_table_ids),
                tuple(
                    (
                        alias_of.get(id(definition)),
                        definition.name,
                        definition.datatype,
                        definition.is_control,
                    )
                    for definition in self.by_name.values()
                ),
            )
        return self.table

    def data_metric_names(self) -> tuple[str, ...]:
        return tuple(name for name, definition in self.by_name.items() if not definition.is_control)


@dataclass(slots=True)
class _NodeState:
    is_online: bool = False
    is_in_sync: bool = False
    bd_seq: int | None = None
    expected_seq: int | None = None
    node_scope: _Scope = field(default_factory=_Scope)
    devices: dict[str, _Scope] = field(default_factory=dict)
    held: dict[int, tuple[SparkplugMessage, datetime]] = field(default_factory=dict)
    held_since: datetime | None = None
    rebirth_requested_at: datetime | None = None


class _Collector:
    __slots__ = ("current_values", "deferred", "events", "readings", "rebirths", "stale_marks")

    def __init__(self) -> None:
        self.readings: list[SparkplugReading] = []
        self.current_values: list[SparkplugReading] = []
        self.stale_marks: list[StaleMark] = []
        self.rebirths: list[RebirthRequest] = []
        self.events: list[DataQualityEvent] = []
        self.deferred: list[DeferredData] = []

    def freeze(self) -> SessionOutput:
        return SessionOutput(
            tuple(self.readings),
            tuple(self.current_values),
            tuple(self.stale_marks),
            tuple(self.rebirths),
            tuple(self.events),
            tuple(self.deferred),
        )


_EMPTY_OUTPUT: Final = SessionOutput()
_IGNORED_TYPES: Final = frozenset({MessageType.STATE, MessageType.NCMD, MessageType.DCMD})


def _check_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def _integer_value(metric: SparkplugMetric | None) -> int | None:
    if metric is None or metric.problem is not None:
        return None
    value = metric.value
    return value if type(value) is int else None


class SparkplugHostSession:
    """Host-side Sparkplug B session state for every edge node seen. See the module docstring."""

    def __init__(self, settings: SessionSettings | None = None) -> None:
        self.settings = settings or SessionSettings()
        self._nodes: dict[tuple[str, str], _NodeState] = {}

    # --- public API ----------------------------------------------------------------------------

    def handle(self, message: SparkplugMessage, *, received_at: datetime) -> SessionOutput:
        """Process one decoded message received at ``received_at`` (aware, the host's clock)."""
        _check_aware(received_at, "received_at")
        topic = message.topic
        message_type = topic.message_type
        if message_type in _IGNORED_TYPES or message.payload is None:
            return _EMPTY_OUTPUT
        group_id = topic.group_id
        edge_node_id = topic.edge_node_id
        if group_id is None or edge_node_id is None:
            return _EMPTY_OUTPUT
        key = (group_id, edge_node_id)
        node = self._nodes.get(key)
        if node is None:
            node = self._nodes[key] = _NodeState()
        out = _Collector()
        if message_type is not MessageType.NBIRTH:  # a birth discards held messages anyway
            self._expire_node(key, node, received_at, out)
        if message_type is MessageType.NBIRTH:
            self._on_node_birth(key, node, message.payload, received_at, out)
        elif message_type is MessageType.NDEATH:
            self._on_node_death(key, node, message.payload, received_at, out)
        else:
            self._on_sequenced(key, node, message, received_at, out)
        return out.freeze()

    def expire(self, *, now: datetime) -> SessionOutput:
        """Close reorder windows older than ``reorder_timeout_s``. Call it periodically."""
        _check_aware(now, "now")
        out = _Collector()
        for key, node in self._nodes.items():
            self._expire_node(key, node, now, out)
        return out.freeze() if out.rebirths or out.events else _EMPTY_OUTPUT

    def node_status(self, group_id: str, edge_node_id: str) -> NodeStatus | None:
        node = self._nodes.get((group_id, edge_node_id))
        if node is None:
            return None
        return NodeStatus(
            group_id,
            edge_node_id,
            node.is_online,
            node.is_in_sync,
            node.bd_seq,
            node.expected_seq,
            tuple(sorted(node.held)),
            tuple(sorted(node.devices)),
            node.rebirth_requested_at is not None,
        )

    def node_keys(self) -> tuple[tuple[str, str], ...]:
        return tuple(self._nodes)

    # --- births and deaths ---------------------------------------------------------------------

    def _on_node_birth(
        self,
        key: tuple[str, str],
        node: _NodeState,
        payload: SparkplugPayload,
        received_at: datetime,
        out: _Collector,
    ) -> None:
        seq = payload.seq
        if node.held:
            self._discard_held(key, node, received_at, out, "a new NBIRTH started a new session")
        if node.is_online:
            self._mark_previous_session_stale(key, node, payload, received_at, out)
        bd_seq = _integer_value(payload.metric_named(BD_SEQ_METRIC))
        if bd_seq is None:
            self._event(
                out,
                key,
                None,
                DataQualityReason.BIRTH_WITHOUT_BDSEQ,
                "NBIRTH has no integer bdSeq metric; its NDEATH cannot be matched",
                received_at,
                seq,
            )
        if seq is None:
            self._event(
                out,
                key,
                None,
                DataQualityReason.MISSING_SEQUENCE,
                "NBIRTH has no seq; assuming 0 as the specification requires",
                received_at,
                None,
            )
            seq = 0
        elif seq != 0:
            self._event(
                out,
                key,
                None,
                DataQualityReason.BIRTH_SEQUENCE_NOT_ZERO,
                f"NBIRTH seq is {seq}, the specification requires 0; continuing from it",
                received_at,
                seq,
            )
        node.node_scope = _Scope()
        node.devices = {}
        node.bd_seq = bd_seq
        node.is_online = True
        node.is_in_sync = True
        node.expected_seq = (seq + 1) % SEQUENCE_MODULUS
        node.rebirth_requested_at = None
        self._register_and_output(key, None, node.node_scope, payload, received_at, out, seq)

    def _mark_previous_session_stale(
        self,
        key: tuple[str, str],
        node: _NodeState,
        payload: SparkplugPayload,
        received_at: datetime,
        out: _Collector,
    ) -> None:
        group_id, edge_node_id = key
        reborn_names = {metric.name for metric in payload.metrics}
        dropped = tuple(
            name for name in node.node_scope.data_metric_names() if name not in reborn_names
        )
        if dropped:
            out.stale_marks.append(
                StaleMark(
                    group_id, edge_node_id, None, dropped, received_at, StaleReason.NODE_REBIRTH
                )
            )
        for device_id, scope in sorted(node.devices.items()):
            out.stale_marks.append(
                StaleMark(
                    group_id,
                    edge_node_id,
                    device_id,
                    scope.data_metric_names(),
                    received_at,
                    StaleReason.NODE_REBIRTH,
                )
            )

    def _on_node_death(
        self,
        key: tuple[str, str],
        node: _NodeState,
        payload: SparkplugPayload,
        received_at: datetime,
        out: _Collector,
    ) -> None:
        group_id, edge_node_id = key
        bd_seq = _integer_value(payload.metric_named(BD_SEQ_METRIC))
        if not node.is_online:
            self._event(
                out,
                key,
                None,
                DataQualityReason.DEATH_BEFORE_BIRTH,
                f"NDEATH (bdSeq {bd_seq}) for a node that is not online; ignored",
                received_at,
            )
            return
        if bd_seq != node.bd_seq:
            self._event(
                out,
                key,
                None,
                DataQualityReason.STALE_DEATH_CERTIFICATE,
                f"NDEATH bdSeq {bd_seq} does not match the current NBIRTH bdSeq {node.bd_seq}: "
                "the will of an older session; ignored",
                received_at,
            )
            return
        if node.held:
            self._discard_held(key, node, received_at, out, "the node died")
        out.stale_marks.append(
            StaleMark(
                group_id,
                edge_node_id,
                None,
                node.node_scope.data_metric_names(),
                received_at,
                StaleReason.NODE_DEATH,
            )
        )
        for device_id, scope in sorted(node.devices.items()):
            out.stale_marks.append(
                StaleMark(
                    group_id,
                    edge_node_id,
                    device_id,
                    scope.data_metric_names(),
                    received_at,
                    StaleReason.NODE_DEATH,
                )
            )
        node.is_online = False
        node.is_in_sync = False
        node.expected_seq = None
        node.devices = {}
        node.rebirth_requested_at = None

    # --- sequencing ----------------------------------------------------------------------------

    def _on_sequenced(
        self,
        key: tuple[str, str],
        node: _NodeState,
        message: SparkplugMessage,
        received_at: datetime,
        out: _Collector,
    ) -> None:
        payload = message.payload
        assert payload is not None
        seq = payload.seq
        device_id = message.topic.device_id
        message_type = message.topic.message_type
        if not node.is_online:
            self._event(
                out,
                key,
                device_id,
                DataQualityReason.DATA_BEFORE_BIRTH,
                f"{message_type} before the node's NBIRTH; dropped",
                received_at,
                seq,
            )
            self._request_rebirth(key, node, received_at, out, DataQualityReason.DATA_BEFORE_BIRTH)
            return
        if not node.is_in_sync:
            self._event(
                out,
                key,
                device_id,
                DataQualityReason.OUT_OF_SYNC,
                f"{message_type} from a node out of sync, waiting for its rebirth; dropped",
                received_at,
                seq,
            )
            self._request_rebirth(key, node, received_at, out, DataQualityReason.OUT_OF_SYNC)
            return
        if seq is None:
            self._event(
                out,
                key,
                device_id,
                DataQualityReason.MISSING_SEQUENCE,
                f"{message_type} without seq; the stream cannot be checked",
                received_at,
            )
            self._lose_sync(key, node, received_at, out, DataQualityReason.MISSING_SEQUENCE)
            return
        expected = node.expected_seq
        assert expected is not None
        distance = (seq - expected) % SEQUENCE_MODULUS
        if distance == 0:
            self._apply(key, node, message, received_at, out)
            node.expected_seq = (seq + 1) % SEQUENCE_MODULUS
            self._release_held(key, node, out)
            return
        if distance >= SEQUENCE_MODULUS // 2:
            self._event(
                out,
                key,
                device_id,
                DataQualityReason.DUPLICATE_SEQUENCE,
                f"{message_type} seq {seq} is behind the expected {expected} "
                "(duplicate or late); dropped",
                received_at,
                seq,
            )
            return
        if seq in node.held:
            self._event(
                out,
                key,
                device_id,
                DataQualityReason.DUPLICATE_SEQUENCE,
                f"{message_type} seq {seq} is already held; dropped",
                received_at,
                seq,
            )
            return
        if len(node.held) >= self.settings.reorder_window_messages:
            self._event(
                out,
                key,
                device_id,
                DataQualityReason.SEQUENCE_GAP,
                f"expected seq {expected}, got {seq}; the reorder window "
                f"({self.settings.reorder_window_messages} messages) cannot hold it",
                received_at,
                seq,
            )
            self._lose_sync(key, node, received_at, out, DataQualityReason.SEQUENCE_GAP, 1)
            return
        node.held[seq] = (message, received_at)
        if node.held_since is None:
            node.held_since = received_at

    def _release_held(self, key: tuple[str, str], node: _NodeState, out: _Collector) -> None:
        held = node.held
        if not held:
            return
        while node.is_in_sync and node.expected_seq in held:
            seq = node.expected_seq
            message, arrived_at = held.pop(seq)
            self._apply(key, node, message, arrived_at, out)
            node.expected_seq = (seq + 1) % SEQUENCE_MODULUS
        node.held_since = min((arrived for _, arrived in held.values()), default=None)

    def _expire_node(
        self, key: tuple[str, str], node: _NodeState, now: datetime, out: _Collector
    ) -> None:
        held_since = node.held_since
        if held_since is None:
            return
        if (now - held_since).total_seconds() <= self.settings.reorder_timeout_s:
            return
        self._event(
            out,
            key,
            None,
            DataQualityReason.SEQUENCE_GAP,
            f"seq {node.expected_seq} did not arrive within {self.settings.reorder_timeout_s} s "
            f"(held: {sorted(node.held)})",
            now,
            node.expected_seq,
        )
        self._lose_sync(key, node, now, out, DataQualityReason.SEQUENCE_GAP)

    def _lose_sync(
        self,
        key: tuple[str, str],
        node: _NodeState,
        now: datetime,
        out: _Collector,
        reason: DataQualityReason,
        extra_discarded: int = 0,
    ) -> None:
        self._discard_held(key, node, now, out, "the node lost sequence", extra_discarded)
        node.is_in_sync = False
        self._request_rebirth(key, node, now, out, reason)

    def _discard_held(
        self,
        key: tuple[str, str],
        node: _NodeState,
        now: datetime,
        out: _Collector,
        why: str,
        extra_discarded: int = 0,
    ) -> None:
        count = len(node.held) + extra_discarded
        if count:
            self._event(
                out,
                key,
                None,
                DataQualityReason.MESSAGES_DISCARDED,
                f"{count} message(s) discarded because {why} (held seqs: {sorted(node.held)})",
                now,
            )
        node.held.clear()
        node.held_since = None

    def _request_rebirth(
        self,
        key: tuple[str, str],
        node: _NodeState,
        now: datetime,
        out: _Collector,
        reason: DataQualityReason,
    ) -> None:
        requested_at = node.rebirth_requested_at
        if requested_at is not None:
            retry_s = self.settings.rebirth_retry_s
            if retry_s is None or (now - requested_at).total_seconds() < retry_s:
                return
        node.rebirth_requested_at = now
        out.rebirths.append(RebirthRequest(key[0], key[1], now, reason))

    # --- applying in-order messages ------------------------------------------------------------

    def _apply(
        self,
        key: tuple[str, str],
        node: _NodeState,
        message: SparkplugMessage,
        received_at: datetime,
        out: _Collector,
    ) -> None:
        payload = message.payload
        assert payload is not None
        message_type = message.topic.message_type
        device_id = message.topic.device_id
        if message_type is MessageType.NDATA:
            self._resolve_data(key, node, None, node.node_scope, payload, received_at, out)
        elif message_type is MessageType.DDATA:
            assert device_id is not None
            scope = node.devices.get(device_id)
            if scope is None:
                self._event(
                    out,
                    key,
                    device_id,
                    DataQualityReason.DEVICE_DATA_BEFORE_BIRTH,
                    f"DDATA for device {device_id!r} before its DBIRTH; dropped",
                    received_at,
                    payload.seq,
                )
                self._request_rebirth(
                    key, node, received_at, out, DataQualityReason.DEVICE_DATA_BEFORE_BIRTH
                )
                return
            self._resolve_data(key, node, device_id, scope, payload, received_at, out)
        elif message_type is MessageType.DBIRTH:
            assert device_id is not None
            scope = node.devices[device_id] = _Scope()
            self._register_and_output(key, device_id, scope, payload, received_at, out, payload.seq)
        elif message_type is MessageType.DDEATH:
            assert device_id is not None
            scope = node.devices.pop(device_id, None)
            if scope is None:
                self._event(
                    out,
                    key,
                    device_id,
                    DataQualityReason.DEATH_BEFORE_BIRTH,
                    f"DDEATH for device {device_id!r} that is not born; ignored",
                    received_at,
                    payload.seq,
                )
                return
            out.stale_marks.append(
                StaleMark(
                    key[0],
                    key[1],
                    device_id,
                    scope.data_metric_names(),
                    payload.timestamp or received_at,
                    StaleReason.DEVICE_DEATH,
                )
            )

    def _register_and_output(
        self,
        key: tuple[str, str],
        device_id: str | None,
        scope: _Scope,
        payload: SparkplugPayload,
        received_at: datetime,
        out: _Collector,
        seq: int | None,
    ) -> None:
        """A birth: register each metric's name/alias/datatype, then output its value."""
        scope.table = None
        self._payload_problems(key, device_id, payload, received_at, out)
        default_ts = payload.timestamp or received_at
        for metric in payload.metrics:
            name = metric.name
            datatype = metric.datatype
            if not name or datatype is None:
                self._event(
                    out,
                    key,
                    device_id,
                    DataQualityReason.BAD_BIRTH_METRIC,
                    f"birth metric (name {name!r}, alias {metric.alias}) lacks a name or a "
                    "datatype; not registered",
                    received_at,
                    seq,
                )
                continue
            definition = _MetricDefinition(name, datatype, is_control_metric(name))
            scope.by_name[name] = definition
            alias = metric.alias
            if alias is not None:
                previous = scope.by_alias.get(alias)
                if previous is not None and previous.name != name:
                    self._event(
                        out,
                        key,
                        device_id,
                        DataQualityReason.DUPLICATE_ALIAS,
                        f"alias {alias} is given to {previous.name!r} and {name!r}; {name!r} wins",
                        received_at,
                        seq,
                    )
                scope.by_alias[alias] = definition
            self._output(key, device_id, definition, metric, default_ts, received_at, out, seq)

    def _resolve_data(
        self,
        key: tuple[str, str],
        node: _NodeState,
        device_id: str | None,
        scope: _Scope,
        payload: SparkplugPayload,
        received_at: datetime,
        out: _Collector,
    ) -> None:
        by_alias = scope.by_alias
        by_name = scope.by_name
        if payload.raw is not None:  # deferred: check that every metric is known, hand it on
            for alias, name in payload.metric_keys:
                if definition_of(by_alias, by_name, alias, name) is None:
                    self._unknown_metric(
                        key, node, device_id, alias, name, payload, received_at, out
                    )
                    return
            self._payload_problems(key, device_id, payload, received_at, out)
            out.deferred.append(
                DeferredData(
                    key[0],
                    key[1],
                    device_id,
                    payload.raw,
                    payload.timestamp or received_at,
                    received_at,
                    payload.seq,
                    scope.metric_table(),
                    len(payload.metric_keys),
                )
            )
            return
        resolved: list[tuple[SparkplugMetric, _MetricDefinition]] = []
        for metric in payload.metrics:
            alias = metric.alias
            definition = definition_of(by_alias, by_name, alias, metric.name)
            if definition is None:
                self._unknown_metric(
                    key, node, device_id, alias, metric.name, payload, received_at, out
                )
                return
            resolved.append((metric, definition))
        self._payload_problems(key, device_id, payload, received_at, out)
        default_ts = payload.timestamp or received_at
        seq = payload.seq
        for metric, definition in resolved:
            self._output(key, device_id, definition, metric, default_ts, received_at, out, seq)

    def _unknown_metric(
        self,
        key: tuple[str, str],
        node: _NodeState,
        device_id: str | None,
        alias: int | None,
        name: str | None,
        payload: SparkplugPayload,
        received_at: datetime,
        out: _Collector,
    ) -> None:
        reason = (
            DataQualityReason.UNKNOWN_ALIAS
            if alias is not None
            else DataQualityReason.UNKNOWN_METRIC
        )
        where = f"device {device_id!r}" if device_id else "the node"
        self._event(
            out,
            key,
            device_id,
            reason,
            f"metric (alias {alias}, name {name!r}) is not in the birth of {where}; message "
            "dropped",
            received_at,
            payload.seq,
        )
        self._request_rebirth(key, node, received_at, out, reason)

    @staticmethod
    def _output(
        key: tuple[str, str],
        device_id: str | None,
        definition: _MetricDefinition,
        metric: SparkplugMetric,
        default_ts: datetime,
        received_at: datetime,
        out: _Collector,
        seq: int | None,
    ) -> None:
        if definition.is_control:
            return
        if metric.problem is not None:
            SparkplugHostSession._event(
                out,
                key,
                device_id,
                DataQualityReason.BAD_METRIC,
                f"{definition.name}: {metric.problem}",
                received_at,
                seq,
            )
            return
        datatype = definition.datatype
        value = metric.value
        if metric.datatype is None:
            if not metric.is_null:
                try:
                    value = interpret_metric_value(metric, datatype)
                except DecodeError as error:
                    SparkplugHostSession._event(
                        out,
                        key,
                        device_id,
                        DataQualityReason.BAD_METRIC,
                        f"{definition.name}: {error}",
                        received_at,
                        seq,
                    )
                    return
        elif metric.datatype != datatype:
            SparkplugHostSession._event(
                out,
                key,
                device_id,
                DataQualityReason.DATATYPE_MISMATCH,
                f"{definition.name}: datatype {metric.datatype} differs from the birth's "
                f"{datatype}; value dropped",
                received_at,
                seq,
            )
            return
        is_null = metric.is_null
        if value is None and not is_null:
            return  # no value carried (e.g. a definition-only birth metric)
        properties = metric.properties
        quality = None
        if properties is not None:
            raw_quality = properties.get(QUALITY_PROPERTY)
            if type(raw_quality) is int:
                quality = raw_quality
        reading = SparkplugReading(
            key[0],
            key[1],
            device_id,
            definition.name,
            datatype,
            metric.timestamp or default_ts,
            None if is_null else value,
            metric.is_historical,
            is_null,
            quality,
        )
        if not is_null and not metric.is_transient:
            out.readings.append(reading)
        if not metric.is_historical:
            out.current_values.append(reading)

    def _payload_problems(
        self,
        key: tuple[str, str],
        device_id: str | None,
        payload: SparkplugPayload,
        received_at: datetime,
        out: _Collector,
    ) -> None:
        for problem in payload.problems:
            self._event(
                out,
                key,
                device_id,
                DataQualityReason.PAYLOAD_PROBLEM,
                problem,
                received_at,
                payload.seq,
            )

    @staticmethod
    def _event(
        out: _Collector,
        key: tuple[str, str],
        device_id: str | None,
        reason: DataQualityReason,
        message: str,
        detected_at: datetime,
        seq: int | None = None,
    ) -> None:
        out.events.append(
            DataQualityEvent(key[0], key[1], device_id, reason, message, detected_at, seq)
        )


_table_ids = itertools.count(1)


def metric_table_index(
    rows: Iterable[Sequence[Any]],
) -> tuple[dict[int, _MetricDefinition], dict[str, _MetricDefinition]]:
    """``MetricTable.rows`` → (by alias, by name), for ``data_resolve``."""
    by_alias: dict[int, _MetricDefinition] = {}
    by_name: dict[str, _MetricDefinition] = {}
    for alias, name, datatype, is_control in rows:
        definition = _MetricDefinition(name, datatype, bool(is_control))
        by_name[name] = definition
        if alias is not None:
            by_alias[alias] = definition
    return by_alias, by_name


def data_resolve(
    *,
    group_id: str,
    edge_node_id: str,
    device_id: str | None,
    raw: bytes,
    default_ts: datetime,
    received_at: datetime,
    seq: int | None,
    index: tuple[dict[int, _MetricDefinition], dict[str, _MetricDefinition]],
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
) -> SessionOutput:
    """Decode a ``DeferredData`` message and resolve its metrics against its table's ``index``
    exactly as the session resolves a data message: readings, current values and data-quality
    events (payload-level problems were reported by the session already)."""
    out = _Collector()
    key = (group_id, edge_node_id)
    try:
        payload = decode_payload(raw, max_payload_bytes=max_payload_bytes)
    except DecodeError as error:  # it decoded in the host: only a changed limit gets here
        SparkplugHostSession._event(
            out, key, device_id, DataQualityReason.BAD_METRIC, str(error), received_at, seq
        )
        return out.freeze()
    by_alias, by_name = index
    for metric in payload.metrics:
        alias = metric.alias
        definition = definition_of(by_alias, by_name, alias, metric.name)
        if definition is None:  # the session checked every key: not expected
            SparkplugHostSession._event(
                out,
                key,
                device_id,
                DataQualityReason.UNKNOWN_ALIAS
                if alias is not None
                else DataQualityReason.UNKNOWN_METRIC,
                f"metric (alias {alias}, name {metric.name!r}) is not in its birth; dropped",
                received_at,
                seq,
            )
            continue
        SparkplugHostSession._output(
            key, device_id, definition, metric, default_ts, received_at, out, seq
        )
    return out.freeze()


def merge_outputs(outputs: Iterable[SessionOutput]) -> SessionOutput:
    """Concatenate several outputs in order (e.g. a batch of messages handled in a row)."""
    collector = _Collector()
    for output in outputs:
        collector.readings.extend(output.readings)
        collector.current_values.extend(output.current_values)
        collector.stale_marks.extend(output.stale_marks)
        collector.rebirths.extend(output.rebirth_requests)
        collector.events.extend(output.data_quality_events)
        collector.deferred.extend(output.deferred)
    return collector.freeze()
