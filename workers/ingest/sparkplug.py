"""The ingest of one batch of the Sparkplug host's decisions: map each (group, node, device)
to its equipment, each metric to its signal (created when the node mapping allows it), check
and store the readings, dead-letter the rest, and hand on current values and stale marks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from django.db import transaction
from django.utils import timezone

from production.choices import SignalDataType
from production.models import Signal
from workers import store
from workers.bridge.sparkplug import deferred_resolve
from workers.choices import QUALITY_GOOD, IngestReason, IngestSource
from workers.ingest.contracts import (
    ContractViolation,
    contracts_by_path,
    contracts_invalidate,
    reading_check,
    time_window,
    ts_problem,
)
from workers.ingest.dead_letters import DeadLetterCollector
from workers.ingest.followups import FollowUps
from workers.ingest.ledger import IngestResult, batch_claim, batch_observe, batch_seen
from workers.models import IngestBatch
from workers.selectors import (
    TYPE_NUMBER,
    Contracts,
    SignalContract,
    SparkplugTarget,
    contracts_get,
)

SPARKPLUG_NUMBER_TYPES = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13})  # ints, floats, DateTime
SPARKPLUG_BOOLEAN_TYPE = 11
SPARKPLUG_STRING_TYPES = frozenset({12, 14, 15})  # String, Text, UUID


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
    if batch_seen(batch_id):
        return IngestResult(batch_id, is_duplicate=True)
    if deferred:
        readings, current_values, quality_events = deferred_resolve(
            deferred, tables, readings, current_values, quality_events
        )
    contracts = contracts_get()
    oldest, newest = time_window(now)
    dead = DeadLetterCollector()
    followups = FollowUps()
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
        if not batch_claim(batch_id=batch_id, source=sparkplug, published_at=published_at, now=now):
            return IngestResult(batch_id, is_duplicate=True)
        by_path = contracts_by_path(contracts)
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
                problem = ts_problem(ts, oldest, newest)
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
        stored, conflicts = store.readings_write_counted(rows)
        dead.write(now=now)
        IngestBatch.objects.filter(pk=batch_id).update(
            processed_at=timezone.now(),
            message_count=message_count,
            reading_count=reading_count,
            stored_count=stored,
            dead_letter_count=dead.count,
            conflict_count=conflicts,
        )
        result = IngestResult(
            batch_id,
            message_count=message_count,
            reading_count=reading_count,
            stored_count=stored,
            dead_letter_count=dead.count,
            conflict_count=conflicts,
        )
        batch_observe(source=sparkplug, published_at=published_at, result=result, dead=dead)
        transaction.on_commit(followups.run, robust=True)
    return result
