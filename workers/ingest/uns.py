"""The ingest of one UNS batch: decode (pure codec), check each reading against its signal's
contract, store the valid ones in bulk (idempotent), route equipment events, dead-letter every
reject, and write the batch to the ledger, all in one transaction; the follow-ups run after
the commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from workers import store
from workers.choices import IngestReason, IngestSource
from workers.ingest.contracts import (
    ContractViolation,
    contracts_by_path,
    reading_check,
    time_window,
    ts_problem,
)
from workers.ingest.dead_letters import DeadLetterCollector
from workers.ingest.events import events_route
from workers.ingest.followups import FollowUps
from workers.ingest.ledger import IngestResult, batch_claim, batch_observe, batch_seen
from workers.models import IngestBatch
from workers.mqtt.errors import DecodeError, DecodeReason
from workers.mqtt.uns import DecodedEvent, DecodedReading, UnsDecoder
from workers.selectors import TYPE_NUMBER, SignalContract, contracts_get

FEATURES_SUFFIX = "/_features"

# Topics the MES itself publishes into the UNS; the bridge's wildcard sees them too.
OWN_OUTPUT_TOPIC_SUFFIXES = ("/_diagnostics",)


@lru_cache(maxsize=4)
def uns_decoder(root: str, max_payload_bytes: int) -> UnsDecoder:
    return UnsDecoder(root=root, max_payload_bytes=max_payload_bytes)


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
    if batch_seen(batch_id):
        return IngestResult(batch_id, is_duplicate=True)
    contracts = contracts_get()
    decoder = uns_decoder(settings.MQTT_UNS_ROOT, settings.INGEST_MAX_PAYLOAD_BYTES)
    equipment_by_path = contracts.equipment_by_path
    window = oldest, newest = time_window(now)
    cut = {int(index): int(size) for index, size in oversize}
    dead = DeadLetterCollector()
    followups = FollowUps()
    rows = store.ReadingColumns()
    events: list[tuple[int, DecodedEvent]] = []
    uns = IngestSource.UNS
    low_ts: datetime | None = None
    high_ts: datetime | None = None
    by_path = contracts_by_path(contracts)
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
                qualities_append(reading.quality)
            elif value is None:  # a reading whose quality is not good, without a value
                rows.others.append((contract.signal_id, ts, None, None, reading.quality))
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
                    rows.add(contract.signal_id, ts_us, number, reading.quality)
                else:
                    rows.others.append(
                        (contract.signal_id, ts, number, text_value, reading.quality)
                    )
            if live is None:
                live = current.get(contract.equipment_id)
                if live is None:
                    live = current[contract.equipment_id] = {}
            previous = live.get(contract.name)
            if previous is None or ts >= previous[0]:
                live[contract.name] = (ts, value, reading.quality)
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
        if not batch_claim(batch_id=batch_id, source=uns, published_at=published_at, now=now):
            return IngestResult(batch_id, is_duplicate=True)
        stored, conflicts = store.readings_write_counted(rows)
        event_count = events_route(events, messages, dead) if events else 0
        dead.write(now=now)
        IngestBatch.objects.filter(pk=batch_id).update(
            processed_at=timezone.now(),
            message_count=len(messages),
            reading_count=reading_count,
            stored_count=stored,
            dead_letter_count=dead.count,
            event_count=event_count,
            conflict_count=conflicts,
        )
        result = IngestResult(
            batch_id,
            message_count=len(messages),
            reading_count=reading_count,
            stored_count=stored,
            dead_letter_count=dead.count,
            event_count=event_count,
            conflict_count=conflicts,
        )
        batch_observe(source=uns, published_at=published_at, result=result, dead=dead)
        transaction.on_commit(followups.run, robust=True)
    return result


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
            problem = ts_problem(reading.ts, oldest, newest)
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
