"""Sparkplug B host-application session: a pure state machine (no I/O, time passed in).

``SparkplugHostSession.handle(message, received_at=...)`` takes one decoded message and returns
a ``SessionOutput`` of decisions: readings to store, current-value updates, stale marks, rebirth
requests and data-quality events. ``expire(now=...)`` closes reorder windows that timed out. The
bridge does the I/O: it stores readings, publishes each ``RebirthRequest`` as an NCMD
(``request.topic`` / ``request.payload()``), and dead-letters or logs data-quality events.

Per edge node (``group_id``, ``edge_node_id``):

* NBIRTH starts a session: it resets the node's metrics, its devices and the expected sequence
  number (birth seq + 1; the spec requires the birth seq to be 0), records the bdSeq, and its
  metric values are output. An NBIRTH while the node is online (a rebirth on the same
  connection, a reconnect without NDEATH) marks the node metrics it no longer carries stale,
  and the devices of the previous session that are not born again — once that is known: at
  the node's first data, death or next birth, or after the reorder timeout — so that no mark
  ever names what the new session sent fresh.
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
* DDEATH marks that device's metrics stale (at the payload timestamp, else receipt time) —
  also a DDEATH without a seq (a spec violation, reported as a data-quality event; the
  sequence is left as it was).
* ``is_historical`` metrics are output as readings flagged historical and never as current values;
  ``is_transient`` metrics update current values but are not output for storage; ``is_null``
  metrics update the current value to None and are not stored. bdSeq and ``Node Control/...`` /
  ``Device Control/...`` metrics drive the protocol and are not output.

After a restart the session is empty: the first data of each node gets a rebirth request, which
rebuilds the state (the standard Sparkplug host start-up). Not thread-safe: one session per
bridge consumer thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from workers.mqtt.sparkplug.model import (
    BD_SEQ_METRIC,
    MessageType,
    SparkplugMessage,
    SparkplugMetric,
    SparkplugPayload,
    is_control_metric,
)
from workers.mqtt.sparkplug.resolve import (
    MetricDefinition,
    MetricScope,
    OutputCollector,
    definition_of,
    event_add,
    metric_output,
)
from workers.mqtt.sparkplug.session_model import (
    SEQUENCE_MODULUS,
    DataQualityReason,
    DeferredData,
    NodeStatus,
    RebirthRequest,
    SessionOutput,
    SessionSettings,
    StaleMark,
    StaleReason,
)


@dataclass(slots=True)
class _NodeState:
    is_online: bool = False
    is_in_sync: bool = False
    bd_seq: int | None = None
    expected_seq: int | None = None
    node_scope: MetricScope = field(default_factory=MetricScope)
    devices: dict[str, MetricScope] = field(default_factory=dict)
    held: dict[int, tuple[SparkplugMessage, datetime]] = field(default_factory=dict)
    held_since: datetime | None = None
    rebirth_requested_at: datetime | None = None
    # Devices of the previous session after a rebirth while online, not born again yet
    # (device → its data metric names), and when that NBIRTH arrived.
    unborn_devices: dict[str, tuple[str, ...]] = field(default_factory=dict)
    reborn_at: datetime | None = None


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
        out = OutputCollector()
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
        out = OutputCollector()
        timeout_s = self.settings.reorder_timeout_s
        for key, node in self._nodes.items():
            self._expire_node(key, node, now, out)
            reborn_at = node.reborn_at
            if reborn_at is not None and (now - reborn_at).total_seconds() > timeout_s:
                self._mark_unborn_devices(key, node, out)
        return out.freeze() if out.rebirths or out.events or out.stale_marks else _EMPTY_OUTPUT

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
        out: OutputCollector,
    ) -> None:
        seq = payload.seq
        if node.held:
            self._discard_held(key, node, received_at, out, "a new NBIRTH started a new session")
        self._mark_unborn_devices(key, node, out)
        if node.is_online:
            self._mark_previous_session_stale(key, node, payload, received_at, out)
        bd_seq = _integer_value(payload.metric_named(BD_SEQ_METRIC))
        if bd_seq is None:
            event_add(
                out,
                key,
                None,
                DataQualityReason.BIRTH_WITHOUT_BDSEQ,
                "NBIRTH has no integer bdSeq metric; its NDEATH cannot be matched",
                received_at,
                seq,
            )
        if seq is None:
            event_add(
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
            event_add(
                out,
                key,
                None,
                DataQualityReason.BIRTH_SEQUENCE_NOT_ZERO,
                f"NBIRTH seq is {seq}, the specification requires 0; continuing from it",
                received_at,
                seq,
            )
        node.node_scope = MetricScope()
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
        out: OutputCollector,
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
        # The devices are marked only once it is clear which of them the new session does
        # not bring back (``_mark_unborn_devices``): a mark never names a device that is born
        # again, so its fresh DBIRTH values stay fresh in whatever order the ingest workers
        # apply the marks and the values.
        node.unborn_devices = {
            device_id: scope.data_metric_names() for device_id, scope in node.devices.items()
        }
        node.reborn_at = received_at if node.unborn_devices else None

    def _mark_unborn_devices(
        self, key: tuple[str, str], node: _NodeState, out: OutputCollector
    ) -> None:
        """Mark the devices of the previous session that were not born again, stale as of
        the rebirth; called at the node's first data, death or next birth, or by ``expire``
        once the reorder timeout has passed."""
        reborn_at = node.reborn_at
        if reborn_at is None:
            return
        for device_id, names in sorted(node.unborn_devices.items()):
            out.stale_marks.append(
                StaleMark(key[0], key[1], device_id, names, reborn_at, StaleReason.NODE_REBIRTH)
            )
        node.unborn_devices = {}
        node.reborn_at = None

    def _on_node_death(
        self,
        key: tuple[str, str],
        node: _NodeState,
        payload: SparkplugPayload,
        received_at: datetime,
        out: OutputCollector,
    ) -> None:
        group_id, edge_node_id = key
        bd_seq = _integer_value(payload.metric_named(BD_SEQ_METRIC))
        if not node.is_online:
            event_add(
                out,
                key,
                None,
                DataQualityReason.DEATH_BEFORE_BIRTH,
                f"NDEATH (bdSeq {bd_seq}) for a node that is not online; ignored",
                received_at,
            )
            return
        if bd_seq != node.bd_seq:
            event_add(
                out,
                key,
                None,
                DataQualityReason.STALE_DEATH_CERTIFICATE,
                f"NDEATH bdSeq {bd_seq} does not match the current NBIRTH bdSeq {node.bd_seq}: "
                "the will of an older session; ignored",
                received_at,
            )
            return
        self._mark_unborn_devices(key, node, out)
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
        out: OutputCollector,
    ) -> None:
        payload = message.payload
        assert payload is not None
        seq = payload.seq
        device_id = message.topic.device_id
        message_type = message.topic.message_type
        if not node.is_online:
            event_add(
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
            event_add(
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
            if message_type is MessageType.DDEATH:
                # A spec violation, but the device is gone all the same: mark it stale and
                # keep the stream (the next message's seq shows whether one was skipped).
                event_add(
                    out,
                    key,
                    device_id,
                    DataQualityReason.MISSING_SEQUENCE,
                    "DDEATH without seq (the specification requires one); the device is "
                    "marked stale anyway",
                    received_at,
                )
                self._apply(key, node, message, received_at, out)
                return
            event_add(
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
            event_add(
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
            event_add(
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
            event_add(
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

    def _release_held(self, key: tuple[str, str], node: _NodeState, out: OutputCollector) -> None:
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
        self, key: tuple[str, str], node: _NodeState, now: datetime, out: OutputCollector
    ) -> None:
        held_since = node.held_since
        if held_since is None:
            return
        if (now - held_since).total_seconds() <= self.settings.reorder_timeout_s:
            return
        event_add(
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
        out: OutputCollector,
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
        out: OutputCollector,
        why: str,
        extra_discarded: int = 0,
    ) -> None:
        count = len(node.held) + extra_discarded
        if count:
            event_add(
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
        out: OutputCollector,
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
        out: OutputCollector,
    ) -> None:
        payload = message.payload
        assert payload is not None
        message_type = message.topic.message_type
        device_id = message.topic.device_id
        if node.reborn_at is not None:
            if message_type is MessageType.DBIRTH and device_id is not None:
                node.unborn_devices.pop(device_id, None)
            else:  # the births of the new session are over
                self._mark_unborn_devices(key, node, out)
        if message_type is MessageType.NDATA:
            self._resolve_data(key, node, None, node.node_scope, payload, received_at, out)
        elif message_type is MessageType.DDATA:
            assert device_id is not None
            scope = node.devices.get(device_id)
            if scope is None:
                event_add(
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
            scope = node.devices[device_id] = MetricScope()
            self._register_and_output(key, device_id, scope, payload, received_at, out, payload.seq)
        elif message_type is MessageType.DDEATH:
            assert device_id is not None
            scope = node.devices.pop(device_id, None)
            if scope is None:
                event_add(
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
        scope: MetricScope,
        payload: SparkplugPayload,
        received_at: datetime,
        out: OutputCollector,
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
                event_add(
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
            definition = MetricDefinition(name, datatype, is_control_metric(name))
            scope.by_name[name] = definition
            alias = metric.alias
            if alias is not None:
                previous = scope.by_alias.get(alias)
                if previous is not None and previous.name != name:
                    event_add(
                        out,
                        key,
                        device_id,
                        DataQualityReason.DUPLICATE_ALIAS,
                        f"alias {alias} is given to {previous.name!r} and {name!r}; {name!r} wins",
                        received_at,
                        seq,
                    )
                scope.by_alias[alias] = definition
            metric_output(key, device_id, definition, metric, default_ts, received_at, out, seq)

    def _resolve_data(
        self,
        key: tuple[str, str],
        node: _NodeState,
        device_id: str | None,
        scope: MetricScope,
        payload: SparkplugPayload,
        received_at: datetime,
        out: OutputCollector,
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
        resolved: list[tuple[SparkplugMetric, MetricDefinition]] = []
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
            metric_output(key, device_id, definition, metric, default_ts, received_at, out, seq)

    def _unknown_metric(
        self,
        key: tuple[str, str],
        node: _NodeState,
        device_id: str | None,
        alias: int | None,
        name: str | None,
        payload: SparkplugPayload,
        received_at: datetime,
        out: OutputCollector,
    ) -> None:
        reason = (
            DataQualityReason.UNKNOWN_ALIAS
            if alias is not None
            else DataQualityReason.UNKNOWN_METRIC
        )
        where = f"device {device_id!r}" if device_id else "the node"
        event_add(
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

    def _payload_problems(
        self,
        key: tuple[str, str],
        device_id: str | None,
        payload: SparkplugPayload,
        received_at: datetime,
        out: OutputCollector,
    ) -> None:
        for problem in payload.problems:
            event_add(
                out,
                key,
                device_id,
                DataQualityReason.PAYLOAD_PROBLEM,
                problem,
                received_at,
                payload.seq,
            )
