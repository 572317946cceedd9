"""Writes of the workers app: the ingest of one batch (UNS or Sparkplug), dead letters and
their replay, signal creation from an unknown topic, and the follow-up work of a batch.

One batch is one call and one transaction: decode (pure codecs), validate each reading against
its Signal's contract, store the valid readings in bulk (idempotent), route equipment events
to the production services, record every rejected message as a dead letter, and write the
batch to the ledger (a redelivered batch is skipped whole). Current values, alerts and health
refreshes are handed on after the commit, never inline.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from mes_site.errors import ValidationFailed
from production.choices import SignalDataType
from production.models import Equipment, Signal
from workers import store
from workers.choices import QUALITY_GOOD, IngestReason, IngestSource
from workers.hooks import station_events_received, vibration_features_stored
from workers.models import DeadLetter, DeadLetterPayload, IngestBatch
from workers.mqtt.errors import DecodeError, DecodeReason
from workers.mqtt.uns import DecodedEvent, DecodedReading, UnsDecoder
from workers.selectors import (
    TYPE_BOOLEAN,
    TYPE_NUMBER,
    Contracts,
    SignalContract,
    SparkplugTarget,
    contracts_get,
    contracts_version_key,
)

logger = logging.getLogger(__name__)

FEATURES_SUFFIX = "/_features"
SPARKPLUG_NUMBER_TYPES = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13})  # ints, floats, DateTime
SPARKPLUG_BOOLEAN_TYPE = 11
SPARKPLUG_STRING_TYPES = frozenset({12, 14, 15})  # String, Text, UUID


@dataclass(frozen=True)
class IngestResult:
    batch_id: str
    is_duplicate: bool = False
    message_count: int = 0
    reading_count: int = 0
    stored_count: int = 0
    dead_letter_count: int = 0
    event_count: int = 0


# --- contracts ---------------------------------------------------------------------------------


class ContractViolation(Exception):
    def __init__(self, reason_code: str, message: str) -> None:
        super().__init__(message)
        self.reason_code = reason_code
        self.message = message


def reading_check(
    contract: SignalContract, value: Any, unit: str | None
) -> tuple[float | None, str | None]:
    """A value checked against its signal's contract → (value column, text column).

    Numbers must be int/float (not bool) within [min, max]; booleans bool (or 0/1) stored as
    0/1; strings str of at most ``INGEST_MAX_TEXT_LENGTH`` characters. A unit sent with the
    value must equal the signal's unit when the signal declares one."""
    if unit is not None and contract.unit and unit != contract.unit:
        raise ContractViolation(
            IngestReason.UNIT_MISMATCH,
            f"{contract.name}: unit {unit[:32]!r} differs from the signal's {contract.unit!r}",
        )
    kind = type(value)
    type_code = contract.type_code
    if type_code == TYPE_NUMBER:
        if kind is not float and kind is not int:
            raise ContractViolation(
                IngestReason.WRONG_TYPE,
                f"{contract.name}: expected a number, got {_type_name(value)}",
            )
        number = float(value)
        if not math.isfinite(number):
            raise ContractViolation(IngestReason.WRONG_TYPE, f"{contract.name}: not finite")
        if (contract.min_value is not None and number < contract.min_value) or (
            contract.max_value is not None and number > contract.max_value
        ):
            raise ContractViolation(
                IngestReason.OUT_OF_RANGE,
                f"{contract.name}: {number:g} outside the plausible range "
                f"[{_bound(contract.min_value)}, {_bound(contract.max_value)}]",
            )
        return number, None
    if type_code == TYPE_BOOLEAN:
        if kind is bool:
            return (1.0 if value else 0.0), None
        if kind is int and value in (0, 1):
            return float(value), None
        raise ContractViolation(
            IngestReason.WRONG_TYPE,
            f"{contract.name}: expected a boolean, got {_type_name(value)}",
        )
    if kind is not str:
        raise ContractViolation(
            IngestReason.WRONG_TYPE, f"{contract.name}: expected a string, got {_type_name(value)}"
        )
    if "\x00" in value:
        raise ContractViolation(
            IngestReason.BAD_TEXT, f"{contract.name}: text values must not contain NUL"
        )
    if len(value) > settings.INGEST_MAX_TEXT_LENGTH:
        raise ContractViolation(
            IngestReason.VALUE_TOO_LONG,
            f"{contract.name}: {len(value)} characters, at most "
            f"{settings.INGEST_MAX_TEXT_LENGTH} allowed",
        )
    return None, value


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _bound(bound: float | None) -> str:
    return "-" if bound is None else f"{bound:g}"


def contracts_invalidate() -> None:
    """Make every process reload its signal contracts (bump the Redis version key)."""
    store.redis_client().incr(contracts_version_key())


# --- dead letters ------------------------------------------------------------------------------


@dataclass
class _DeadLetterGroup:
    count: int = 0
    message: str = ""
    excerpt: str = ""
    size: int = 0
    equipment_id: int | None = None
    payloads: list[bytes] = field(default_factory=list)
    payload_indexes: set[int] = field(default_factory=set)


def _clean(text: str, limit: int) -> str:
    """Text PostgreSQL can store: NUL characters spelled out, cut to ``limit``."""
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    return text[:limit]


def payload_excerpt(payload: bytes, size: int | None = None) -> str:
    """The first ``INGEST_DEAD_LETTER_EXCERPT_BYTES`` as text, "…" when there was more."""
    limit = settings.INGEST_DEAD_LETTER_EXCERPT_BYTES
    excerpt = payload[:limit].decode("utf-8", errors="backslashreplace").replace("\x00", "\\x00")
    return excerpt + "…" if max(len(payload), size or 0) > limit else excerpt


_DEAD_LETTER_UPSERT = (
    "INSERT INTO workers_deadletter AS d (source, topic, reason_code, message, "
    "payload_excerpt, payload_size_bytes, count, first_seen_at, last_seen_at, "
    "equipment_id, is_resolved) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (source, topic, reason_code) DO UPDATE SET "
    "message = excluded.message, "
    "payload_excerpt = CASE WHEN excluded.payload_excerpt = '' THEN d.payload_excerpt "
    "ELSE excluded.payload_excerpt END, "
    "payload_size_bytes = excluded.payload_size_bytes, "
    "count = d.count + excluded.count, "
    "last_seen_at = GREATEST(d.last_seen_at, excluded.last_seen_at), "
    "equipment_id = COALESCE(excluded.equipment_id, d.equipment_id), "
    "is_resolved = %s, resolved_at = NULL, resolved_by_id = NULL "
    "RETURNING id"
)


class DeadLetterCollector:
    """Groups a batch's rejects by (source, topic, reason) before one write per group."""

    def __init__(self) -> None:
        self.groups: dict[tuple[str, str, str], _DeadLetterGroup] = {}
        self.count = 0

    def add(
        self,
        *,
        source: str,
        topic: str,
        reason_code: str,
        message: str,
        payload: bytes | None = None,
        payload_size: int | None = None,
        keep_payload: bool = True,
        equipment_id: int | None = None,
        message_index: int | None = None,
    ) -> None:
        key = (source, _clean(topic, 512), _clean(str(reason_code), 64))
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = _DeadLetterGroup()
        group.count += 1
        self.count += 1
        group.message = _clean(message, 500)
        if equipment_id is not None:
            group.equipment_id = equipment_id
        if payload is not None:
            group.size = payload_size if payload_size is not None else len(payload)
            if message_index is None or message_index not in group.payload_indexes:
                group.excerpt = payload_excerpt(payload, group.size)
                if keep_payload and len(payload) <= settings.INGEST_MAX_PAYLOAD_BYTES:
                    group.payloads.append(payload)
                    if message_index is not None:
                        group.payload_indexes.add(message_index)
                    keep = settings.INGEST_DEAD_LETTER_KEEP_PAYLOADS
                    if len(group.payloads) > keep:
                        del group.payloads[: len(group.payloads) - keep]

    def write(self, *, now: datetime) -> None:
        """Upsert the groups (counter += n) and keep the last N payloads of each."""
        if not self.groups:
            return
        keep = settings.INGEST_DEAD_LETTER_KEEP_PAYLOADS
        adapt = connection.ops.adapt_datetimefield_value
        sql = _DEAD_LETTER_UPSERT.replace(
            "GREATEST", "GREATEST" if connection.vendor == "postgresql" else "max"
        )
        payload_rows = []
        trimmed = []
        with connection.cursor() as cursor:
            # Key order: concurrent workers lock the same groups in the same order.
            for key in sorted(self.groups):
                group = self.groups[key]
                source, topic, reason_code = key
                cursor.execute(
                    sql,
                    [
                        source,
                        topic,
                        reason_code,
                        group.message,
                        group.excerpt,
                        group.size,
                        group.count,
                        adapt(now),
                        adapt(now),
                        group.equipment_id,
                        False,
                        False,
                    ],
                )
                dead_letter_id = cursor.fetchone()[0]
                if group.payloads:
                    payload_rows.extend(
                        DeadLetterPayload(
                            dead_letter_id=dead_letter_id, received_at=now, payload=payload
                        )
                        for payload in group.payloads
                    )
                    trimmed.append(dead_letter_id)
        if payload_rows:
            DeadLetterPayload.objects.bulk_create(payload_rows)
            with connection.cursor() as cursor:
                for dead_letter_id in trimmed:
                    cursor.execute(
                        "DELETE FROM workers_deadletterpayload WHERE dead_letter_id = %s AND id IN "
                        "(SELECT id FROM workers_deadletterpayload WHERE dead_letter_id = %s "
                        "ORDER BY id DESC LIMIT -1 OFFSET %s)"
                        if connection.vendor != "postgresql"
                        else "DELETE FROM workers_deadletterpayload WHERE dead_letter_id = %s "
                        "AND id IN (SELECT id FROM workers_deadletterpayload "
                        "WHERE dead_letter_id = %s ORDER BY id DESC OFFSET %s)",
                        [dead_letter_id, dead_letter_id, keep],
                    )


# --- the ledger --------------------------------------------------------------------------------


def _batch_seen(batch_id: str) -> bool:
    return IngestBatch.objects.filter(pk=batch_id).exists()


def _batch_claim(*, batch_id: str, source: str, published_at: datetime, now: datetime) -> bool:
    """Insert the ledger row; False when the batch was already processed (or is being
    processed by another worker, whose commit we then wait for)."""
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO workers_ingestbatch (id, source, published_at, processed_at, "
            "message_count, reading_count, stored_count, dead_letter_count, event_count) "
            "VALUES (%s, %s, %s, %s, 0, 0, 0, 0, 0) ON CONFLICT (id) DO NOTHING",
            [
                IngestBatch._meta.pk.get_db_prep_value(_uuid(batch_id), connection),
                source,
                adapt(published_at),
                adapt(now),
            ],
        )
        return cursor.rowcount == 1


def _uuid(batch_id: str):
    import uuid

    return uuid.UUID(batch_id)


# --- follow-up work (after commit) -------------------------------------------------------------


def current_values_broadcast(current: dict[int, dict[str, tuple[datetime, Any, int]]]) -> None:
    """Push each equipment's newest live values to its live screens (an aggregate: at most
    1 Hz per equipment, coalesced to the latest; raw samples are never pushed)."""
    from mes_site.publish import broadcast, group_name

    for equipment_id, values in current.items():
        payload = {
            "equipment_id": equipment_id,
            "values": {
                name: {"ts": ts.isoformat(), "value": value}
                for name, (ts, value, _quality) in values.items()
                if isinstance(value, int | float) and not isinstance(value, bool)
            },
        }
        if payload["values"]:
            broadcast([group_name("equipment", equipment_id)], "current_values", payload)


@dataclass
class _FollowUps:
    # equipment_id → signal name → (ts, value, quality): live values for the cache and alerts
    current: dict[int, dict[str, tuple[datetime, Any, int]]] = field(default_factory=dict)
    stale: list[tuple[int, list[str], datetime]] = field(default_factory=list)
    features_equipment: set[int] = field(default_factory=set)

    def live(self, equipment_id: int, name: str, ts: datetime, value: Any, quality: int) -> None:
        values = self.current.get(equipment_id)
        if values is None:
            values = self.current[equipment_id] = {}
        previous = values.get(name)
        if previous is None or ts >= previous[0]:
            values[name] = (ts, value, quality)

    def run(self) -> None:
        try:
            store.current_values_apply(self.current)
            if self.stale:
                store.current_values_mark_stale(self.stale)
        except Exception:
            logger.exception("current-value cache update failed")
        try:
            alerts_schedule(self.current)
        except Exception:
            logger.exception("scheduling the alert evaluation failed")
        try:
            current_values_broadcast(self.current)
        except Exception:
            logger.exception("broadcasting the current values failed")
        for equipment_id in sorted(self.features_equipment):
            try:
                vibration_features_stored(equipment_id=equipment_id)
            except Exception:
                logger.exception("scheduling the health refresh of %s failed", equipment_id)


def _followup_routing() -> dict[str, str]:
    queue = settings.INGEST_FOLLOWUP_QUEUE
    return {"queue": queue} if queue else {}


def alerts_schedule(current: dict[int, dict[str, tuple[datetime, Any, int]]]) -> None:
    """Park the batch's latest value per signal in a Redis hash and enqueue at most one
    ``workers.tasks.alerts_evaluate`` per ``INGEST_ALERTS_DEBOUNCE_S`` (it drains the hash)."""
    if not current:
        return
    mapping = {}
    for equipment_id, values in current.items():
        for name, (ts, value, _quality) in values.items():
            if value is None or type(value) is str:  # alert rules compare numbers
                continue
            mapping[f"{equipment_id}/{name}"] = json.dumps(
                [equipment_id, name, value, int(ts.timestamp() * 1000)]
            )
    if not mapping:
        return
    client = store.redis_client()
    client.hset(store.redis_key("alerts_pending"), mapping=mapping)
    debounce_s = settings.INGEST_ALERTS_DEBOUNCE_S
    if store.debounce_acquire("alerts", ttl_s=debounce_s):
        from workers.tasks import alerts_evaluate

        alerts_evaluate.apply_async(countdown=debounce_s, **_followup_routing())


def alerts_pending_take() -> list[tuple[int, str, Any, datetime]]:
    """Drain the parked latest values: ``[(equipment_id, signal_name, value, ts)]``."""
    client = store.redis_client()
    key = store.redis_key("alerts_pending")
    pipeline = client.pipeline(transaction=True)
    pipeline.hgetall(key)
    pipeline.delete(key)
    raw, _ = pipeline.execute()
    values = []
    for encoded in raw.values():
        equipment_id, name, value, ts_ms = json.loads(encoded)
        values.append((equipment_id, name, value, datetime.fromtimestamp(ts_ms / 1000, UTC)))
    values.sort(key=lambda item: (item[0], item[1]))
    return values


def alerts_evaluate(*, values: list[tuple[int, str, Any, datetime]]) -> None:
    """Hand the values to the production monitoring service (imported lazily: it may be
    deployed after the ingest)."""
    if not values:
        return
    try:
        from production.services.alerts import alerts_evaluate_signal_values
    except ImportError:
        logger.info("production.services.alerts.alerts_evaluate_signal_values is missing")
        return
    alerts_evaluate_signal_values(values=values)


# --- UNS batches -------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _uns_decoder(root: str, max_payload_bytes: int) -> UnsDecoder:
    return UnsDecoder(root=root, max_payload_bytes=max_payload_bytes)


def _time_window(now: datetime) -> tuple[datetime, datetime]:
    return (
        now - timedelta(days=settings.INGEST_RETENTION_DAYS),
        now + timedelta(seconds=settings.INGEST_MAX_FUTURE_S),
    )


def _ts_problem(ts: datetime, oldest: datetime, newest: datetime) -> tuple[str, str] | None:
    if ts < oldest:
        return (
            IngestReason.TOO_OLD,
            f"ts {ts.isoformat()} is older than the retention of "
            f"{settings.INGEST_RETENTION_DAYS} days",
        )
    if ts > newest:
        return (
            IngestReason.TS_IN_FUTURE,
            f"ts {ts.isoformat()} is more than {settings.INGEST_MAX_FUTURE_S:g} s ahead",
        )
    return None


def ingest_uns_batch(
    *,
    batch_id: str,
    published_at: datetime,
    messages: Sequence[Sequence[Any]],
    oversize: Sequence[Sequence[int]] = (),
    now: datetime | None = None,
) -> IngestResult:
    """Ingest one bridge batch of UNS messages ``[(topic, payload), ...]``.

    ``oversize`` lists ``(index, original_size)`` of payloads the bridge cut to an excerpt
    because they exceeded ``INGEST_MAX_PAYLOAD_BYTES``. Idempotent per ``batch_id``."""
    now = now or timezone.now()
    if _batch_seen(batch_id):
        return IngestResult(batch_id, is_duplicate=True)
    contracts = contracts_get()
    decoder = _uns_decoder(settings.MQTT_UNS_ROOT, settings.INGEST_MAX_PAYLOAD_BYTES)
    equipment_by_path = contracts.equipment_by_path
    window = oldest, newest = _time_window(now)
    cut = {int(index): int(size) for index, size in oversize}
    dead = DeadLetterCollector()
    followups = _FollowUps()
    rows = store.ReadingColumns()
    events: list[tuple[int, DecodedEvent]] = []
    uns = IngestSource.UNS
    low_ts: datetime | None = None
    high_ts: datetime | None = None
    by_path = _contracts_by_path(contracts)
    current = followups.current
    epoch_us = store.epoch_us
    # The numeric columns, appended to directly: a method call per reading costs as much as
    # the rest of its check.
    signal_ids_append = rows.signal_ids.append
    ts_us_append = rows.ts_us.append
    values_append = rows.values.append
    qualities_append = rows.qualities.append
    for index, (topic, payload) in enumerate(messages):
        if index in cut:
            dead.add(
                source=uns,
                topic=topic,
                reason_code=DecodeReason.PAYLOAD_TOO_LARGE,
                message=f"{cut[index]} bytes exceeds the limit of "
                f"{settings.INGEST_MAX_PAYLOAD_BYTES} bytes",
                payload=payload,
                payload_size=cut[index],
                keep_payload=False,
                equipment_id=_topic_equipment(decoder, topic, equipment_by_path),
            )
            continue
        if topic.endswith(OWN_OUTPUT_TOPIC_SUFFIXES):
            continue  # the MES's own publications (diagnostics) on the same tree
        try:
            decoded = decoder.decode(topic, payload)
        except DecodeError as error:
            dead.add(
                source=uns,
                topic=topic,
                reason_code=error.reason_code,
                message=error.message,
                payload=payload,
                keep_payload=error.reason_code != DecodeReason.PAYLOAD_TOO_LARGE,
                equipment_id=_topic_equipment(decoder, topic, equipment_by_path),
            )
            continue
        if type(decoded) is not tuple:
            events.append((index, decoded))  # type: ignore[arg-type]
            continue
        if not decoded:
            continue
        # Every reading of one message has the same equipment and timestamp.
        first = decoded[0]
        path = first.equipment_path
        ts = first.ts
        signals = by_path.get(path)
        if signals is None or ts < oldest or ts > newest:
            _readings_reject(
                decoded, topic, payload, index, signals, equipment_by_path, window, dead
            )
            continue
        ts_us = epoch_us(ts)
        live: dict[str, tuple[datetime, Any, int]] | None = None
        for reading in decoded:
            contract = signals.get(reading.signal)
            if contract is None:
                _readings_reject(
                    (reading,), topic, payload, index, signals, equipment_by_path, window, dead
                )
                continue
            value = reading.value
            if (
                type(value) is float
                and contract.type_code == TYPE_NUMBER
                and reading.unit is None
                and (contract.min_value is None or value >= contract.min_value)
                and (contract.max_value is None or value <= contract.max_value)
            ):  # the common case, checked inline (a finite float: the decoder saw to it)
                signal_ids_append(contract.signal_id)
                ts_us_append(ts_us)
                values_append(value)
                qualities_append(QUALITY_GOOD)
            else:
                try:
                    number, text_value = reading_check(contract, value, reading.unit)
                except ContractViolation as violation:
                    dead.add(
                        source=uns,
                        topic=topic,
                        reason_code=violation.reason_code,
                        message=violation.message,
                        payload=payload,
                        equipment_id=contract.equipment_id,
                        message_index=index,
                    )
                    continue
                if text_value is None and number is not None:
                    rows.add(contract.signal_id, ts_us, number, QUALITY_GOOD)
                else:
                    rows.others.append((contract.signal_id, ts, number, text_value, QUALITY_GOOD))
            if live is None:
                live = current.get(contract.equipment_id)
                if live is None:
                    live = current[contract.equipment_id] = {}
            previous = live.get(contract.name)
            if previous is None or ts >= previous[0]:
                live[contract.name] = (ts, value, QUALITY_GOOD)
        if live is not None:
            if low_ts is None or ts < low_ts:
                low_ts = ts
            if high_ts is None or ts > high_ts:
                high_ts = ts
            if topic.endswith(FEATURES_SUFFIX):
                followups.features_equipment.add(equipment_by_path[path])
    reading_count = len(rows)
    if low_ts is not None and high_ts is not None:
        store.partitions_ensure(store.partitions_for_range(low_ts, high_ts))
    with transaction.atomic():
        if not _batch_claim(batch_id=batch_id, source=uns, published_at=published_at, now=now):
            return IngestResult(batch_id, is_duplicate=True)
        stored = store.readings_write(rows)
        event_count = _events_route(events, messages, dead) if events else 0
        dead.write(now=now)
        IngestBatch.objects.filter(pk=batch_id).update(
            processed_at=timezone.now(),
            message_count=len(messages),
            reading_count=reading_count,
            stored_count=stored,
            dead_letter_count=dead.count,
            event_count=event_count,
        )
        transaction.on_commit(followups.run, robust=True)
    return IngestResult(
        batch_id,
        message_count=len(messages),
        reading_count=reading_count,
        stored_count=stored,
        dead_letter_count=dead.count,
        event_count=event_count,
    )


_by_path_cache: tuple[Contracts, dict[str, dict[str, SignalContract]]] | None = None


def _contracts_by_path(contracts: Contracts) -> dict[str, dict[str, SignalContract]]:
    """The contracts as equipment path → signal name → contract (built once per snapshot):
    one lookup per message for the equipment, then one per reading by name."""
    global _by_path_cache
    cached = _by_path_cache
    if cached is not None and cached[0] is contracts:
        return cached[1]
    by_path: dict[str, dict[str, SignalContract]] = {
        path: {} for path in contracts.equipment_by_path
    }
    for (path, name), contract in contracts.by_path_and_name.items():
        by_path.setdefault(path, {})[name] = contract
    _by_path_cache = (contracts, by_path)
    return by_path


def _readings_reject(
    readings: Sequence[DecodedReading],
    topic: str,
    payload: bytes,
    index: int,
    signals: dict[str, SignalContract] | None,
    equipment_by_path: dict[str, int],
    window: tuple[datetime, datetime],
    dead: DeadLetterCollector,
) -> None:
    """Dead-letter readings of an unknown equipment or signal, or outside the time window."""
    oldest, newest = window
    for reading in readings:
        contract = signals.get(reading.signal) if signals is not None else None
        if contract is None:
            if signals is None:
                equipment_id = None
                reason, text = (
                    IngestReason.UNKNOWN_EQUIPMENT,
                    f"no equipment at {reading.equipment_path!r}",
                )
            else:
                equipment_id = equipment_by_path.get(reading.equipment_path)
                reason, text = (
                    IngestReason.UNKNOWN_SIGNAL,
                    f"equipment {reading.equipment_path!r} has no signal {reading.signal!r}",
                )
        else:
            equipment_id = contract.equipment_id
            problem = _ts_problem(reading.ts, oldest, newest)
            if problem is None:
                continue
            reason, text = problem[0], f"{reading.signal}: {problem[1]}"
        dead.add(
            source=IngestSource.UNS,
            topic=topic,
            reason_code=reason,
            message=text,
            payload=payload,
            equipment_id=equipment_id,
            message_index=index,
        )


def _topic_equipment(
    decoder: UnsDecoder, topic: str, equipment_by_path: dict[str, int]
) -> int | None:
    """The equipment a (well-formed) topic names, so its dead letters are scoped to it."""
    try:
        return equipment_by_path.get(decoder.parse_topic(topic).equipment_path)
    except DecodeError:
        return None


# Topics the MES itself publishes into the UNS; the bridge's wildcard sees them too.
OWN_OUTPUT_TOPIC_SUFFIXES = ("/_diagnostics",)


def _events_route(
    events: list[tuple[int, DecodedEvent]],
    messages: Sequence[Sequence[Any]],
    dead: DeadLetterCollector,
) -> int:
    """Equipment events → ``production.services.equipment_events.equipment_events_ingest``; its
    rejects (and everything, when the service is missing or fails) become dead letters."""
    uns = IngestSource.UNS
    try:
        from production.services.equipment_events import equipment_events_ingest
        from production.services.ingest_contract import EquipmentEventIn
    except ImportError as error:
        for index, _event in events:
            topic, payload = messages[index]
            dead.add(
                source=uns,
                topic=topic,
                reason_code=IngestReason.EVENT_SERVICE_UNAVAILABLE,
                message=f"production.services.equipment_events is not available: {error}",
                payload=payload,
            )
        return 0
    inputs = [
        EquipmentEventIn(
            equipment_path=event.equipment_path, ts=event.ts, kind=event.kind, data=dict(event.data)
        )
        for _index, event in events
    ]
    try:
        with transaction.atomic():
            result = _events_dispatch(inputs, equipment_events_ingest)
    except Exception as error:
        logger.exception("equipment_events_ingest failed for %d events", len(inputs))
        for index, _event in events:
            topic, payload = messages[index]
            dead.add(
                source=uns,
                topic=topic,
                reason_code=IngestReason.EVENT_SERVICE_UNAVAILABLE,
                message=f"equipment_events_ingest raised {type(error).__name__}: {error}"[:500],
                payload=payload,
            )
        return 0
    rejected = list(result.rejected)
    for position, reason_code, message in rejected:
        index, _event = events[position]
        topic, payload = messages[index]
        dead.add(
            source=uns,
            topic=topic,
            reason_code=reason_code or IngestReason.EVENT_REJECTED,
            message=message,
            payload=payload,
        )
    return len(inputs) - len(rejected)


def _station_events_ingest(*, events: list) -> Any:
    """Station events belong to the line order state machine, which registers for them;
    without a receiver they are rejected (and so dead-lettered)."""
    results = station_events_received(events=events)
    if not results:
        return SimpleNamespace(
            accepted=0,
            rejected=[
                (i, "no_line_orders", "no line order service receives station events")
                for i in range(len(events))
            ],
        )
    return results[0]


def _events_dispatch(inputs: list, equipment_events_ingest) -> Any:
    """Station events go to the line order state machine, the others to monitoring; the
    rejects come back with their positions in ``inputs``."""
    station = [i for i, event in enumerate(inputs) if event.kind == "station"]
    other = [i for i, event in enumerate(inputs) if event.kind != "station"]
    rejected: list[tuple[int, str, str]] = []
    accepted = 0
    for positions, service in (
        (other, equipment_events_ingest),
        (station, _station_events_ingest),
    ):
        if not positions:
            continue
        result = service(events=[inputs[i] for i in positions])
        accepted += result.accepted
        rejected.extend((positions[i], code, message) for i, code, message in result.rejected)
    return SimpleNamespace(accepted=accepted, rejected=rejected)


# --- Sparkplug batches -------------------------------------------------------------------------


@lru_cache(maxsize=65536)
@lru_cache(maxsize=65536)
def sparkplug_signal_name(metric_name: str) -> str:
    """Sparkplug metric name → Signal name: folders ``a/b`` become ``a.b``; characters outside
    ``[A-Za-z0-9_.-]`` become ``_``."""
    name = metric_name.replace("/", ".")
    name = "".join(
        character if character.isascii() and (character.isalnum() or character in "_.-") else "_"
        for character in name
    )
    return name[:100] or "_"


def sparkplug_scope(group_id: str, edge_node_id: str, device_id: str | None) -> str:
    scope = f"spBv1.0/{group_id}/{edge_node_id}"
    return f"{scope}/{device_id}" if device_id else scope


def _sparkplug_target(
    contracts: Contracts, group_id: str, edge_node_id: str, device_id: str | None
) -> tuple[SparkplugTarget | None, str | None, str]:
    """The equipment of a Sparkplug scope, or (None, reason, message)."""
    node_key = (group_id, edge_node_id)
    if node_key not in contracts.sparkplug_nodes:
        return None, IngestReason.SPARKPLUG_UNMAPPED_NODE, "node not mapped to equipment"
    if device_id is None:
        target = contracts.sparkplug_nodes[node_key]
        if target is None:
            return (
                None,
                IngestReason.SPARKPLUG_UNMAPPED_NODE,
                "node mapping has no equipment for node metrics",
            )
        return target, None, ""
    target = contracts.sparkplug_devices.get((group_id, edge_node_id, device_id))
    if target is None:
        return None, IngestReason.SPARKPLUG_UNMAPPED_DEVICE, "device not mapped to equipment"
    return target, None, ""


def _sparkplug_data_type(datatype: int) -> str | None:
    if datatype in SPARKPLUG_NUMBER_TYPES:
        return SignalDataType.NUMBER
    if datatype == SPARKPLUG_BOOLEAN_TYPE:
        return SignalDataType.BOOLEAN
    if datatype in SPARKPLUG_STRING_TYPES:
        return SignalDataType.STRING
    return None


def _sparkplug_contract(
    contracts: Contracts,
    target: SparkplugTarget,
    metric_name: str,
    datatype: int,
) -> tuple[SignalContract | None, str, str]:
    signal_name = sparkplug_signal_name(metric_name)
    contract = contracts.by_path_and_name.get((target.equipment_path, signal_name))
    if contract is not None:
        return contract, "", ""
    if not target.auto_create_signals:
        return (
            None,
            IngestReason.UNKNOWN_SIGNAL,
            f"equipment {target.equipment_path!r} has no signal {signal_name!r} "
            f"(metric {metric_name!r})",
        )
    data_type = _sparkplug_data_type(datatype)
    if data_type is None:
        return (
            None,
            IngestReason.UNSUPPORTED_VALUE,
            f"metric {metric_name!r}: Sparkplug datatype {datatype} cannot be stored",
        )
    signal, _created = Signal.objects.get_or_create(
        equipment_id=target.equipment_id,
        name=signal_name,
        defaults={
            "data_type": data_type,
            "description": f"Created from Sparkplug metric {metric_name}"[:300],
        },
    )
    transaction.on_commit(contracts_invalidate, robust=True)
    return contracts.add_signal(signal, target.equipment_path), "", ""


def ingest_sparkplug_batch(
    *,
    batch_id: str,
    published_at: datetime,
    readings: Sequence[Sequence[Any]] = (),
    current_values: Sequence[Sequence[Any]] = (),
    stale_marks: Sequence[Sequence[Any]] = (),
    quality_events: Sequence[Sequence[Any]] = (),
    dead_letters: Sequence[Sequence[Any]] = (),
    message_count: int = 0,
    deferred: Sequence[Sequence[Any]] = (),
    tables: Sequence[Sequence[Any]] = (),
    now: datetime | None = None,
) -> IngestResult:
    """Ingest one batch of the Sparkplug host's decisions (see ``workers.bridge.sparkplug``).

    ``readings`` / ``current_values``: chunks ``[group, node, device, names, datatypes,
    ts_ms, values, qualities, historical]`` (columns of equal length); ``stale_marks``:
    ``[group, node, device, names, stale_at_ms]``; ``quality_events``: ``[group, node,
    device, reason_code, message]``; ``dead_letters`` (undecodable messages): ``[topic,
    reason_code, message, excerpt, size]``; ``deferred``: data messages the host accepted
    but did not decode, ``[group, node, device, payload, default_ts_ms, received_at_ms, seq,
    table_id]``, with their metric definitions in ``tables`` (``[table_id, rows]``) — decoded
    and resolved here, exactly as the host's session would have."""
    now = now or timezone.now()
    if _batch_seen(batch_id):
        return IngestResult(batch_id, is_duplicate=True)
    if deferred:
        from workers.bridge.sparkplug import deferred_resolve

        readings, current_values, quality_events = deferred_resolve(
            deferred, tables, readings, current_values, quality_events
        )
    contracts = contracts_get()
    oldest, newest = _time_window(now)
    dead = DeadLetterCollector()
    followups = _FollowUps()
    rows = store.ReadingColumns()
    sparkplug = IngestSource.SPARKPLUG
    for topic, reason_code, message, excerpt, size in dead_letters:
        dead.add(
            source=sparkplug,
            topic=topic,
            reason_code=reason_code,
            message=message,
            payload=excerpt,
            payload_size=size,
            keep_payload=False,
        )
    for group_id, edge_node_id, device_id, reason_code, message in quality_events:
        dead.add(
            source=sparkplug,
            topic=sparkplug_scope(group_id, edge_node_id, device_id),
            reason_code=reason_code,
            message=message,
        )
    with transaction.atomic():
        if not _batch_claim(
            batch_id=batch_id, source=sparkplug, published_at=published_at, now=now
        ):
            return IngestResult(batch_id, is_duplicate=True)
        by_path = _contracts_by_path(contracts)
        oldest_us, newest_us = store.epoch_us(oldest), store.epoch_us(newest)
        signal_ids_append = rows.signal_ids.append
        ts_us_append = rows.ts_us.append
        values_append = rows.values.append
        qualities_append = rows.qualities.append
        for chunk in readings:
            group_id, edge_node_id, device_id, names, datatypes, stamps, values, qualities = chunk[
                :8
            ]
            target, reason, text = _sparkplug_target(contracts, group_id, edge_node_id, device_id)
            scope = sparkplug_scope(group_id, edge_node_id, device_id)
            if target is None:
                dead.add(
                    source=sparkplug,
                    topic=scope,
                    reason_code=reason or "",
                    message=f"{text}; {len(names)} readings dropped",
                )
                continue
            signals = by_path.setdefault(target.equipment_path, {})
            for name, signal_name, datatype, ts_ms, value, quality in zip(
                names,
                map(sparkplug_signal_name, names),
                datatypes,
                stamps,
                values,
                qualities,
                strict=True,
            ):
                contract = signals.get(signal_name)
                if contract is None:
                    contract, reason, text = _sparkplug_contract(contracts, target, name, datatype)
                    if contract is None:
                        dead.add(
                            source=sparkplug,
                            topic=scope,
                            reason_code=reason,
                            message=text,
                            equipment_id=target.equipment_id,
                        )
                        continue
                    signals[contract.name] = contract  # created just now
                ts_us = int(ts_ms) * 1000
                if quality is None:
                    quality = QUALITY_GOOD
                if (
                    oldest_us <= ts_us <= newest_us
                    and type(value) is float
                    and value - value == 0.0  # finite
                    and contract.type_code == TYPE_NUMBER
                    and (contract.min_value is None or value >= contract.min_value)
                    and (contract.max_value is None or value <= contract.max_value)
                ):  # the common case, checked inline
                    signal_ids_append(contract.signal_id)
                    ts_us_append(ts_us)
                    values_append(value)
                    qualities_append(quality)
                    continue
                ts = store.from_epoch_us(ts_us)
                problem = _ts_problem(ts, oldest, newest)
                if problem is None:
                    try:
                        number, text_value = reading_check(contract, value, None)
                    except ContractViolation as violation:
                        problem = (violation.reason_code, violation.message)
                if problem is not None:
                    dead.add(
                        source=sparkplug,
                        topic=scope,
                        reason_code=problem[0],
                        message=f"{name}: {problem[1]}",
                        equipment_id=target.equipment_id,
                    )
                    continue
                if text_value is None and number is not None:
                    rows.add(contract.signal_id, ts_us, number, quality)
                else:
                    rows.others.append((contract.signal_id, ts, number, text_value, quality))
        reading_count = len(rows)
        for chunk in current_values:
            group_id, edge_node_id, device_id, names, datatypes, stamps, values, qualities = chunk[
                :8
            ]
            target, _reason, _text = _sparkplug_target(contracts, group_id, edge_node_id, device_id)
            if target is None:
                continue
            for name, ts_ms, value, quality in zip(names, stamps, values, qualities, strict=True):
                followups.live(
                    target.equipment_id,
                    sparkplug_signal_name(name),
                    datetime.fromtimestamp(ts_ms / 1000, UTC),
                    value,
                    QUALITY_GOOD if quality is None else quality,
                )
        for group_id, edge_node_id, device_id, names, stale_at_ms in stale_marks:
            target, _reason, _text = _sparkplug_target(contracts, group_id, edge_node_id, device_id)
            if target is not None:
                followups.stale.append(
                    (
                        target.equipment_id,
                        [sparkplug_signal_name(name) for name in names],
                        datetime.fromtimestamp(stale_at_ms / 1000, UTC),
                    )
                )
        if rows:
            low_ts, high_ts = rows.ts_range()
            store.partitions_ensure(store.partitions_for_range(low_ts, high_ts))
        stored = store.readings_write(rows)
        dead.write(now=now)
        IngestBatch.objects.filter(pk=batch_id).update(
            processed_at=timezone.now(),
            message_count=message_count,
            reading_count=reading_count,
            stored_count=stored,
            dead_letter_count=dead.count,
        )
        transaction.on_commit(followups.run, robust=True)
    return IngestResult(
        batch_id,
        message_count=message_count,
        reading_count=reading_count,
        stored_count=stored,
        dead_letter_count=dead.count,
    )


def batch_dead_letter(
    *,
    batch_id: str,
    messages: Sequence[Sequence[Any]],
    reason_code: str,
    message: str,
    topic: str | None = None,
) -> None:
    """Dead-letter a whole batch the ingest could not process (kept for replay) and close
    it in the ledger, so the stream moves on and nothing is lost silently."""
    now = timezone.now()
    dead = DeadLetterCollector()
    for topic_of_message, payload in messages:
        dead.add(
            source=IngestSource.UNS,
            topic=topic_of_message,
            reason_code=reason_code,
            message=message,
            payload=payload,
        )
    if not messages:
        dead.add(
            source=IngestSource.SPARKPLUG,
            topic=topic or "",
            reason_code=reason_code,
            message=message,
        )
    with transaction.atomic():
        if not _batch_claim(
            batch_id=batch_id,
            source=IngestSource.UNS if messages else IngestSource.SPARKPLUG,
            published_at=now,
            now=now,
        ):
            return
        dead.write(now=now)
        IngestBatch.objects.filter(pk=batch_id).update(
            message_count=len(messages), dead_letter_count=dead.count
        )


# --- dead-letter administration ----------------------------------------------------------------


def dead_letters_resolve(*, dead_letters: Iterable[DeadLetter], user) -> int:
    ids = [dead_letter.pk for dead_letter in dead_letters]
    return DeadLetter.objects.filter(pk__in=ids, is_resolved=False).update(
        is_resolved=True, resolved_at=timezone.now(), resolved_by=user
    )


@dataclass(frozen=True)
class ReplayResult:
    replayed: int
    stored: int
    dead_lettered: int


def dead_letters_replay(*, dead_letters: Iterable[DeadLetter], user) -> ReplayResult:
    """Run the kept payloads of UNS dead-letter groups through the ingest again (after the
    cause was fixed, e.g. the Signal created). Groups are marked resolved first; payloads that
    fail again land in their (reopened) groups. Replayed payloads are removed."""
    import uuid

    groups = [dead_letter for dead_letter in dead_letters if dead_letter.source == IngestSource.UNS]
    if not groups:
        return ReplayResult(0, 0, 0)
    contracts_get()  # refresh the cache if signals changed
    payloads = list(
        DeadLetterPayload.objects.filter(dead_letter__in=groups)
        .select_related("dead_letter")
        .order_by("id")
    )
    messages = [(payload.dead_letter.topic, bytes(payload.payload)) for payload in payloads]
    with transaction.atomic():
        dead_letters_resolve(dead_letters=groups, user=user)
        DeadLetterPayload.objects.filter(pk__in=[payload.pk for payload in payloads]).delete()
        # The replayed messages no longer count against their groups.
        for group in groups:
            kept = sum(1 for payload in payloads if payload.dead_letter_id == group.pk)
            if kept:
                DeadLetter.objects.filter(pk=group.pk).update(count=F("count") - kept)
        result = (
            ingest_uns_batch(
                batch_id=str(uuid.uuid4()), published_at=timezone.now(), messages=messages
            )
            if messages
            else IngestResult("", message_count=0)
        )
    return ReplayResult(len(messages), result.stored_count, result.dead_letter_count)


def signal_create_from_topic(
    *,
    dead_letter: DeadLetter,
    equipment: Equipment,
    name: str,
    data_type: str,
    unit: str = "",
    min_value: float | None = None,
    max_value: float | None = None,
) -> Signal:
    """Create the Signal an unknown-signal dead letter asked for (on ``equipment``)."""
    if dead_letter.source != IngestSource.UNS:
        raise ValidationFailed("Only UNS dead letters map to a signal from their topic.")
    decoder = _uns_decoder(settings.MQTT_UNS_ROOT, settings.INGEST_MAX_PAYLOAD_BYTES)
    try:
        topic_path = decoder.parse_topic(dead_letter.topic).equipment_path
    except DecodeError as error:
        raise ValidationFailed(f"The topic is not a UNS topic: {error.message}") from None
    if equipment.uns_path != topic_path:
        raise ValidationFailed(
            f"The topic names the equipment path {topic_path!r}, but {equipment} is at "
            f"{equipment.uns_path!r}; readings are matched by their equipment's UNS path."
        )
    signal = Signal(
        equipment=equipment,
        name=name,
        data_type=data_type,
        unit=unit,
        min_value=min_value,
        max_value=max_value,
        description=f"Created from the dead-lettered topic {dead_letter.topic}"[:300],
    )
    signal.full_clean()
    with transaction.atomic():
        signal.save()
        transaction.on_commit(contracts_invalidate, robust=True)
    return signal


def topic_signal_guess(dead_letter: DeadLetter) -> dict[str, Any]:
    """Equipment, signal name, data type and unit suggested by a dead letter's topic and its
    latest kept payload (for the admin's mapping form)."""
    decoder = _uns_decoder(settings.MQTT_UNS_ROOT, settings.INGEST_MAX_PAYLOAD_BYTES)
    guess: dict[str, Any] = {"equipment": None, "name": "", "data_type": "number", "unit": ""}
    try:
        parsed = decoder.parse_topic(dead_letter.topic)
    except DecodeError:
        return guess
    guess["equipment"] = Equipment.objects.filter(uns_path=parsed.equipment_path).first()
    guess["equipment_path"] = parsed.equipment_path
    if parsed.signal:
        guess["name"] = parsed.signal
    payload = dead_letter.payloads.order_by("-id").first()
    if payload is not None:
        try:
            decoded = decoder.decode(dead_letter.topic, bytes(payload.payload))
        except DecodeError:
            return guess
        if isinstance(decoded, tuple) and decoded:
            candidates = [
                reading
                for reading in decoded
                if not guess["name"] or reading.signal == guess["name"]
            ] or list(decoded)
            reading = candidates[0]
            guess["name"] = reading.signal
            guess["unit"] = reading.unit or ""
            value = reading.value
            guess["data_type"] = (
                "boolean" if type(value) is bool else "string" if type(value) is str else "number"
            )
    return guess
