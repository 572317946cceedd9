"""The Sparkplug B host application of the bridge (Eclipse Sparkplug 3.0).

Its own MQTT client with a clean session (Clean Start, session expiry 0, as the specification
requires of a host). The Will is the retained ``spBv1.0/STATE/<host_id>`` message
``{"online": false, "timestamp": T}``; once its subscriptions are acknowledged, the host
publishes the retained ``{"online": true, "timestamp": T}`` with the same T (a new T for every
connection). It re-publishes that when it sees an "offline" STATE on its own topic while
connected, and publishes "offline" itself before a clean shutdown.

One thread owns the ``SparkplugHostSession`` (not thread-safe): it decodes each message
(``workers.mqtt.sparkplug.decode``), feeds the session, publishes the rebirth NCMDs the session
asks for at once, calls ``expire`` four times a second, and hands the session's decisions — readings
(historical ones flagged), current values, stale marks, data-quality events, undecodable
messages — to Celery in batches (``workers.tasks.ingest_sparkplug_batch``). Mapping nodes and
devices to equipment happens in the worker, which owns the database.

After a restart the session is empty: the first data of every node gets a rebirth request,
and the births rebuild the state. Messages between a crash and the rebirth are lost unless
the edge node stores and forwards them as historical metrics (Sparkplug's own remedy).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import repeat
from typing import Any

from google.protobuf.message import DecodeError as ProtobufDecodeError
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from mes_site.metrics import (
    BRIDGE_CONNECTED,
    BRIDGE_MESSAGES_RECEIVED,
    SPARKPLUG_BIRTHS,
    SPARKPLUG_REBIRTH_REQUESTS,
)
from workers.bridge.mqtt import client_create
from workers.mqtt import sparkplug_b_pb2
from workers.mqtt.address import BrokerAddress
from workers.mqtt.errors import DecodeError
from workers.mqtt.sparkplug.decode import DIRECT_VALUE_FIELDS, decode_host_state, decode_message
from workers.mqtt.sparkplug.encode import encode_host_state
from workers.mqtt.sparkplug.model import MAX_TIMESTAMP_MS, NAMESPACE, MessageType
from workers.mqtt.sparkplug.resolve import data_resolve, definition_of, metric_table_index
from workers.mqtt.sparkplug.session import SparkplugHostSession
from workers.mqtt.sparkplug.session_model import (
    DataQualityReason,
    SessionOutput,
    SessionSettings,
    SparkplugReading,
    StaleMark,
)
from workers.mqtt.sparkplug.topics import host_state_topic

logger = logging.getLogger(__name__)

UNSUPPORTED_VALUE = "unsupported_value"
_STORABLE = (bool, int, float, str)

PublishSparkplug = Callable[..., None]  # (batch_id, published_at_ms, **parts)


@dataclass(frozen=True)
class SparkplugHostSettings:
    address: BrokerAddress
    host_id: str
    client_id: str | None = None  # default: "<host_id>-sparkplug-host"
    # The groups this host owns: it subscribes to them only, ingests nothing and requests no
    # rebirth outside them. Empty: no group (the host keeps only its STATE).
    group_ids: tuple[str, ...] = ()
    keepalive_s: int = 30
    batch_max_messages: int = 2000
    batch_max_readings: int = 50000
    batch_max_wait_s: float = 0.1
    max_payload_bytes: int = 1024 * 1024
    excerpt_bytes: int = 512
    expire_interval_s: float = 0.25
    publish_retry_max_s: float = 10.0
    session: SessionSettings = field(default_factory=SessionSettings)
    # Data messages: the host checks sequence and metric keys, the workers decode the metrics
    # (in parallel processes). False: everything is decoded here, in the host's one thread.
    defer_data_decoding: bool = True

    def __post_init__(self) -> None:
        for group in self.group_ids:
            if not group or group == "STATE" or any(character in group for character in "/+#"):
                raise ValueError(
                    f"Sparkplug group id {group!r} must be non-empty, not STATE, and free of / + #"
                )

    def subscriptions(self) -> list[str]:
        """Its groups and its own STATE topic — never ``spBv1.0/#``: on a shared broker other
        hosts' groups and STATE are not this host's business."""
        return [f"{NAMESPACE}/{group}/#" for group in self.group_ids] + [
            host_state_topic(self.host_id)
        ]


def reading_chunks(readings: Iterable[SparkplugReading]) -> list[list[Any]]:
    """Readings → chunks ``[group, node, device, names, datatypes, ts_ms, values, qualities,
    historical]``, one per run of readings of the same (group, node, device)."""
    chunks: list[list[Any]] = []
    group = node = device = None
    started = False
    milliseconds: dict[datetime, int] = {}  # the metrics of a message share their timestamp
    for reading in readings:
        if (
            not started
            or reading.device_id != device
            or reading.edge_node_id != node
            or reading.group_id != group
        ):
            started = True
            group, node, device = reading.group_id, reading.edge_node_id, reading.device_id
            names: list[str] = []
            datatypes: list[int] = []
            stamps: list[int] = []
            values: list[Any] = []
            qualities: list[int | None] = []
            historical: list[bool] = []
            chunks.append(
                [group, node, device, names, datatypes, stamps, values, qualities, historical]
            )
        ts = reading.ts
        ms = milliseconds.get(ts)
        if ms is None:
            ms = milliseconds[ts] = round(ts.timestamp() * 1000)
        names.append(reading.metric_name)
        datatypes.append(reading.datatype)
        stamps.append(ms)
        values.append(reading.value)
        qualities.append(reading.quality)
        historical.append(reading.is_historical)
    return chunks


def readings_storable(
    readings: Sequence[SparkplugReading],
) -> tuple[Sequence[SparkplugReading], list[list[Any]]]:
    """(readings whose value the store takes, quality-event rows for the others)."""
    storable = _STORABLE
    if all(type(reading.value) in storable for reading in readings):
        return readings, []
    kept = []
    unsupported = []
    for reading in readings:
        if type(reading.value) in storable:
            kept.append(reading)
        else:
            unsupported.append(
                [
                    reading.group_id,
                    reading.edge_node_id,
                    reading.device_id,
                    UNSUPPORTED_VALUE,
                    f"{reading.metric_name}: a {type(reading.value).__name__} "
                    f"value (datatype {reading.datatype}) cannot be stored",
                ]
            )
    return kept, unsupported


def current_values_storable(readings: Iterable[SparkplugReading]) -> list[SparkplugReading]:
    """The live values the current-value cache takes (None: a null value)."""
    return [
        reading for reading in readings if reading.value is None or type(reading.value) in _STORABLE
    ]


def deferred_resolve(
    deferred: Sequence[Sequence[Any]],
    tables: Sequence[Sequence[Any]],
    readings: Sequence[Sequence[Any]],
    current_values: Sequence[Sequence[Any]],
    quality_events: Sequence[Sequence[Any]],
) -> tuple[list[Sequence[Any]], list[Sequence[Any]], list[Sequence[Any]]]:
    """Decode the deferred data messages into reading and current-value chunks and
    data-quality events, appended to the batch's own.

    A plain metric — no problem, its birth's datatype, not null, not transient, no
    properties, a storable value, not a control metric — goes straight into the chunk columns;
    any other message is resolved by ``data_resolve`` (the session's code). Both give the
    same rows (``tests/workers/mqtt/test_sparkplug_session.py``)."""
    readings, current_values = list(readings), list(current_values)
    quality_events = list(quality_events)
    indexes = {int(table_id): metric_table_index(rows) for table_id, rows in tables}
    # Only the latest live value of each metric matters, as in the host's own batches:
    # (group, node, device) → name → (datatype, ts_ms, value, quality).
    latest: dict[tuple[str, str, str | None], dict[str, tuple[int, int, Any, int | None]]] = {}
    for group_id, edge_node_id, device_id, raw, default_ms, received_ms, seq, table_id in deferred:
        index = indexes.get(int(table_id))
        if index is None:  # the bridge sends every table it refers to
            quality_events.append(
                [
                    group_id,
                    edge_node_id,
                    device_id,
                    DataQualityReason.BAD_METRIC.value,
                    f"metric table {table_id} missing",
                ]
            )
            continue
        columns = _plain_columns(raw, index, default_ms)
        if columns is None:  # something out of the ordinary: the session's own code
            output = data_resolve(
                group_id=group_id,
                edge_node_id=edge_node_id,
                device_id=device_id,
                raw=bytes(raw),
                default_ts=datetime.fromtimestamp(default_ms / 1000, UTC),
                received_at=datetime.fromtimestamp(received_ms / 1000, UTC),
                seq=seq,
                index=index,
            )
            kept, unsupported = readings_storable(output.readings)
            readings.extend(reading_chunks(kept))
            quality_events.extend(unsupported)
            scope_latest = latest.setdefault((group_id, edge_node_id, device_id), {})
            for reading in current_values_storable(output.current_values):
                scope_latest[reading.metric_name] = (
                    reading.datatype,
                    round(reading.ts.timestamp() * 1000),
                    reading.value,
                    reading.quality,
                )
            quality_events.extend(
                [
                    event.group_id,
                    event.edge_node_id,
                    event.device_id,
                    event.reason_code.value,
                    event.message[:500],
                ]
                for event in output.data_quality_events
            )
            continue
        names, datatypes, stamps, values, historical = columns
        if not names:
            continue
        readings.append(
            [
                group_id,
                edge_node_id,
                device_id,
                names,
                datatypes,
                stamps,
                values,
                [None] * len(names),
                historical,
            ]
        )
        scope_latest = latest.get((group_id, edge_node_id, device_id))
        if scope_latest is None:
            scope_latest = latest[(group_id, edge_node_id, device_id)] = {}
        if not any(historical):  # the usual case: one C-level update for the message
            scope_latest.update(
                zip(names, zip(datatypes, stamps, values, repeat(None), strict=False), strict=True)
            )
        else:
            for name, datatype, ms, value, is_historical in zip(
                names, datatypes, stamps, values, historical, strict=True
            ):
                if not is_historical:
                    scope_latest[name] = (datatype, ms, value, None)
    for (group_id, edge_node_id, device_id), scope_latest in latest.items():
        if not scope_latest:
            continue
        names = list(scope_latest)
        rows = list(scope_latest.values())
        current_values.append(
            [
                group_id,
                edge_node_id,
                device_id,
                names,
                [row[0] for row in rows],
                [row[1] for row in rows],
                [row[2] for row in rows],
                [row[3] for row in rows],
                [False] * len(rows),
            ]
        )
    return readings, current_values, quality_events


def _plain_columns(
    raw: bytes, index: tuple[dict, dict], default_ms: int
) -> tuple[list[str], list[int], list[int], list[Any], list[bool]] | None:
    """Names, datatypes, ts_ms, values and historical flags of a deferred message straight
    from the protobuf, if every metric is plain (see ``deferred_resolve``) and its value needs
    no interpretation (Double, Float, Boolean); else None."""
    message = sparkplug_b_pb2.Payload()
    try:
        message.ParseFromString(bytes(raw))
    except (ProtobufDecodeError, RecursionError, ValueError):
        return None
    by_alias, by_name = index
    direct = DIRECT_VALUE_FIELDS
    names: list[str] = []
    datatypes: list[int] = []
    stamps: list[int] = []
    values: list[Any] = []
    historical: list[bool] = []
    for metric in message.metrics:
        datatype = metric.datatype
        value_field = metric.WhichOneof("value")
        if (
            value_field is None
            or direct.get(datatype) != value_field
            or metric.is_null
            or metric.is_transient
            or metric.HasField("properties")
        ):
            return None
        if metric.HasField("alias"):  # the usual case: the name is not even read
            definition = by_alias.get(metric.alias)
        else:
            name = metric.name
            definition = definition_of(by_alias, by_name, None, name) if type(name) is str else None
        if definition is None or definition.datatype != datatype or definition.is_control:
            return None
        raw_ms = metric.timestamp
        if raw_ms > MAX_TIMESTAMP_MS:
            return None  # the session's code reports it
        names.append(definition.name)
        datatypes.append(datatype)
        stamps.append(raw_ms or default_ms)
        values.append(getattr(metric, value_field))
        historical.append(metric.is_historical)
    return names, datatypes, stamps, values, historical


class _Pending:
    def __init__(self) -> None:
        self.readings: list[SparkplugReading] = []
        # Only the latest live value of each metric matters for the current-value cache.
        self.current: dict[tuple[str, str, str | None, str], SparkplugReading] = {}
        # [group, node, device, {name: None}, stale_at_ms], in arrival order; by scope too,
        # so that a later value of a marked metric can take it out of the mark.
        self.stale_marks: list[list[Any]] = []
        self._marks_by_scope: dict[tuple[str, str, str | None], list[list[Any]]] = {}
        self.quality_events: list[list[Any]] = []
        self.dead_letters: list[list[Any]] = []
        # [group, node, device, payload, default_ts_ms, received_at_ms, seq, table_id]
        self.deferred: list[list[Any]] = []
        self.deferred_metrics = 0
        self.tables: dict[int, list[list[Any]]] = {}  # table_id → metric definition rows
        self.message_count = 0
        self.first_at: float | None = None

    def stale_mark_add(self, mark: StaleMark) -> None:
        scope = (mark.group_id, mark.edge_node_id, mark.device_id)
        entry = [*scope, dict.fromkeys(mark.metric_names), round(mark.stale_at.timestamp() * 1000)]
        self.stale_marks.append(entry)
        self._marks_by_scope.setdefault(scope, []).append(entry)

    def current_value_add(self, reading: SparkplugReading) -> None:
        """The latest value of each metric (its first arrival keeps its place: the worker
        takes the newest by timestamp, whatever the order). The worker applies a batch's
        values before its stale marks, so a value that arrived *after* a mark of its metric
        (a birth after a rebirth's or a death's mark) takes the metric out of that mark: the
        mark is older news than the value, whatever the two timestamps say."""
        scope = (reading.group_id, reading.edge_node_id, reading.device_id)
        name = reading.metric_name
        self.current[(*scope, name)] = reading
        if self._marks_by_scope:
            for entry in self._marks_by_scope.get(scope, ()):
                entry[3].pop(name, None)

    def stale_marks_wire(self) -> list[list[Any]]:
        """The marks as they travel: ``[group, node, device, names, stale_at_ms]``, the ones
        that later values emptied left out."""
        return [
            [group_id, edge_node_id, device_id, list(names), stale_at_ms]
            for group_id, edge_node_id, device_id, names, stale_at_ms in self.stale_marks
            if names
        ]

    def is_empty(self) -> bool:
        return not (
            self.readings
            or self.current
            or self.stale_marks
            or self.quality_events
            or self.dead_letters
            or self.deferred
        )


class SparkplugHost:
    def __init__(
        self,
        settings: SparkplugHostSettings,
        publish: PublishSparkplug,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self._publish = publish
        self._clock = clock
        self.session = SparkplugHostSession(settings.session)
        self._inbox: deque[tuple[str, bytes, datetime]] = deque()
        self._pending = _Pending()
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._aborted = False
        self.connected = threading.Event()
        self.online_published = threading.Event()
        self.rebirths_requested = 0
        self.ignored = 0  # messages outside the host's groups (none arrive on its subscriptions)
        self._group_ids = frozenset(settings.group_ids)
        self.batches = 0
        self.received = 0
        self._state_topic = host_state_topic(settings.host_id)
        self._state_timestamp = clock()
        self._client_id = settings.client_id or f"{settings.host_id}-sparkplug-host"
        self._client = client_create(settings.address, client_id=self._client_id)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_publish = self._on_publish
        self._online_mid: int | None = None
        self._client.on_message = self._on_message
        self._worker = threading.Thread(target=self._run, name="sparkplug-host", daemon=True)

    # --- lifecycle -----------------------------------------------------------------------------

    def _set_will(self) -> None:
        self._client.will_set(
            self._state_topic,
            encode_host_state(is_online=False, timestamp=self._state_timestamp),
            qos=1,
            retain=True,
        )

    def start(self) -> None:
        self._set_will()
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 0
        self._client.connect_async(
            self.settings.address.host,
            self.settings.address.port,
            keepalive=self.settings.keepalive_s,
            clean_start=True,
            properties=properties,
        )
        self._client.loop_start()
        self._worker.start()
        logger.info(
            "Sparkplug host %r connecting to %s, subscriptions %s",
            self.settings.host_id,
            self.settings.address,
            ", ".join(self.settings.subscriptions()),
        )

    def stop(self, *, timeout_s: float = 30.0) -> bool:
        """Hand on what was received, publish STATE offline, disconnect."""
        self._stopping.set()
        drained = self._stopped.wait(timeout_s)
        if self.connected.is_set():
            info = self._client.publish(
                self._state_topic,
                encode_host_state(is_online=False, timestamp=self._state_timestamp),
                qos=1,
                retain=True,
            )
            try:
                info.wait_for_publish(timeout=5)
            except (RuntimeError, ValueError):
                logger.warning("could not publish the offline STATE before disconnecting")
        self._client.disconnect()
        self._client.loop_stop()
        logger.info(
            "Sparkplug host stopped: %d messages, %d batches, %d rebirth requests",
            self.received,
            self.batches,
            self.rebirths_requested,
        )
        return drained

    def abort(self) -> None:
        """Drop the connection without a DISCONNECT (tests: the broker then sends the Will)."""
        self._aborted = True
        self._stopping.set()
        self._client.loop_stop()
        sock = self._client.socket()
        if sock is not None:
            sock.close()

    # --- paho callbacks (network thread) -------------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            logger.error("Sparkplug host: connect refused: %s", reason_code)
            return
        self.connected.set()
        BRIDGE_CONNECTED.labels(client="sparkplug", client_id=self._client_id).set(1)
        client.subscribe([(topic, 1) for topic in self.settings.subscriptions()])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        failures = [code for code in reason_codes if code.is_failure]
        if failures:
            logger.error("Sparkplug host: subscription refused: %s", failures)
            return
        # Online only once the subscriptions are in place: nothing an edge node publishes
        # after seeing this STATE can be missed.
        info = client.publish(
            self._state_topic,
            encode_host_state(is_online=True, timestamp=self._state_timestamp),
            qos=1,
            retain=True,
        )
        self._online_mid = info.mid

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        if mid == self._online_mid:
            self.online_published.set()
            logger.info("Sparkplug host %r online", self.settings.host_id)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        self.online_published.clear()
        BRIDGE_CONNECTED.labels(client="sparkplug", client_id=self._client_id).set(0)
        # The next connection announces itself with a new timestamp, in its Will too.
        self._state_timestamp = self._clock()
        self._set_will()
        if not self._stopping.is_set():
            logger.warning("Sparkplug host disconnected: %s; reconnecting", reason_code)

    def _on_message(self, client, userdata, message) -> None:
        self._inbox.append((message.topic, message.payload, self._clock()))

    # --- the session thread --------------------------------------------------------------------

    def _run(self) -> None:
        next_expire = time.monotonic() + self.settings.expire_interval_s
        try:
            while True:
                worked = self._drain()
                now = time.monotonic()
                if now >= next_expire:
                    self._absorb(self.session.expire(now=self._clock()))
                    next_expire = now + self.settings.expire_interval_s
                if self._batch_due(now):
                    self._flush()
                if self._stopping.is_set() and not self._inbox:
                    if not self._pending.is_empty():
                        self._flush()
                    return
                if not worked:
                    time.sleep(0.002)
        except Exception:
            logger.exception("Sparkplug host thread failed")
            raise
        finally:
            self._stopped.set()

    def _batch_due(self, now: float) -> bool:
        pending = self._pending
        if pending.is_empty():
            return False
        settings = self.settings
        return (
            pending.message_count >= settings.batch_max_messages
            or len(pending.readings) + pending.deferred_metrics >= settings.batch_max_readings
            or (
                pending.first_at is not None and now - pending.first_at >= settings.batch_max_wait_s
            )
        )

    def _drain(self) -> bool:
        inbox = self._inbox
        handled = 0
        limit = self.settings.batch_max_messages
        while inbox and handled < limit:
            topic, payload, received_at = inbox.popleft()
            handled += 1
            self.received += 1
            self._handle(topic, payload, received_at)
            if self._batch_due(time.monotonic()):
                self._flush()
        if handled:
            BRIDGE_MESSAGES_RECEIVED.labels(client="sparkplug").inc(handled)
        return handled > 0

    def _handle(self, topic: str, payload: bytes, received_at: datetime) -> None:
        pending = self._pending
        if topic == self._state_topic:
            self._own_state(payload)
            return
        if not self._owns(topic):  # another host's STATE, another owner's group
            self.ignored += 1
            return
        try:
            message = decode_message(
                topic,
                payload,
                max_payload_bytes=self.settings.max_payload_bytes,
                defer_data_metrics=self.settings.defer_data_decoding,
            )
        except DecodeError as error:
            pending.dead_letters.append(
                [
                    topic,
                    error.reason_code.value,
                    error.message[:500],
                    payload[: self.settings.excerpt_bytes],
                    len(payload),
                ]
            )
            self._touch()
            return
        pending.message_count += 1
        message_type = message.topic.message_type
        if message_type is MessageType.NBIRTH or message_type is MessageType.DBIRTH:
            SPARKPLUG_BIRTHS.labels(message_type=message_type.value).inc()
        self._absorb(self.session.handle(message, received_at=received_at))
        self._touch()

    def _owns(self, topic: str) -> bool:
        """Whether ``topic`` is in one of the host's groups (``spBv1.0/{group}/…``)."""
        parts = topic.split("/", 2)
        return len(parts) == 3 and parts[0] == NAMESPACE and parts[1] in self._group_ids

    def _own_state(self, payload: bytes) -> None:
        try:
            state = decode_host_state(payload)
        except DecodeError:
            return
        if not state.is_online and self.connected.is_set() and not self._stopping.is_set():
            logger.warning("saw an offline STATE for this host while online; re-publishing")
            self._client.publish(
                self._state_topic,
                encode_host_state(is_online=True, timestamp=self._state_timestamp),
                qos=1,
                retain=True,
            )

    def _touch(self) -> None:
        if self._pending.first_at is None:
            self._pending.first_at = time.monotonic()

    def _absorb(self, output: SessionOutput) -> None:
        if output.is_empty:
            return
        pending = self._pending
        for request in output.rebirth_requests:
            if request.group_id not in self._group_ids:  # never command another owner's node
                continue
            self._client.publish(request.topic, request.payload(), qos=0)
            self.rebirths_requested += 1
            SPARKPLUG_REBIRTH_REQUESTS.labels(reason=request.reason.value).inc()
            logger.info(
                "rebirth requested from %s/%s (%s)",
                request.group_id,
                request.edge_node_id,
                request.reason,
            )
        readings = output.readings
        if readings:
            storable, unsupported = readings_storable(readings)
            pending.readings.extend(storable)
            pending.quality_events.extend(unsupported)
        # A message's marks concern what came before it (a rebirth's marks never name the
        # metrics of that birth): take them first, then its values.
        for mark in output.stale_marks:
            pending.stale_mark_add(mark)
        storable = _STORABLE
        for reading in output.current_values:
            value = reading.value
            if value is None or type(value) in storable:
                pending.current_value_add(reading)
        for record in output.deferred:
            table = record.table
            if table.table_id not in pending.tables:
                pending.tables[table.table_id] = [list(row) for row in table.rows]
            pending.deferred.append(record.wire())
            pending.deferred_metrics += record.metric_count
        for event in output.data_quality_events:
            pending.quality_events.append(
                [
                    event.group_id,
                    event.edge_node_id,
                    event.device_id,
                    event.reason_code.value,
                    event.message[:500],
                ]
            )
        self._touch()

    def _flush(self) -> None:
        pending = self._pending
        self._pending = _Pending()
        batch_id = str(uuid.uuid4())
        parts = {
            "readings": reading_chunks(pending.readings),
            "current_values": reading_chunks(pending.current.values()),
            "stale_marks": pending.stale_marks_wire(),
            "quality_events": pending.quality_events,
            "dead_letters": pending.dead_letters,
            "message_count": pending.message_count,
        }
        if pending.deferred:
            parts["deferred"] = pending.deferred
            parts["tables"] = [[table_id, rows] for table_id, rows in pending.tables.items()]
        delay_s = 0.2
        while not self._aborted:
            try:
                self._publish(batch_id, int(time.time() * 1000), **parts)
                self.batches += 1
                return
            except Exception:
                logger.exception(
                    "handing Sparkplug batch %s to Celery failed; retrying in %.1f s",
                    batch_id,
                    delay_s,
                )
                time.sleep(delay_s)
                delay_s = min(delay_s * 2, self.settings.publish_retry_max_s)
