"""Resolving Sparkplug B metrics against their birth: the metric definitions of a node or
device (by name and alias, and as a ``MetricTable``), the output of one metric as readings,
current values or a data-quality event, and ``data_resolve`` for a deferred data message —
the same code the session runs for a data message it decodes itself."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workers.mqtt.errors import DecodeError
from workers.mqtt.sparkplug.decode import decode_payload
from workers.mqtt.sparkplug.model import DEFAULT_MAX_PAYLOAD_BYTES, SparkplugMetric
from workers.mqtt.sparkplug.session_model import (
    QUALITY_PROPERTY,
    DataQualityEvent,
    DataQualityReason,
    DeferredData,
    MetricTable,
    RebirthRequest,
    SessionOutput,
    SparkplugReading,
    StaleMark,
)
from workers.mqtt.sparkplug.values import interpret_metric_value


@dataclass(slots=True)
class MetricDefinition:
    name: str
    datatype: int
    is_control: bool


@dataclass(slots=True)
class MetricScope:
    """The metrics of a node or of one device."""

    by_name: dict[str, MetricDefinition] = field(default_factory=dict)
    by_alias: dict[int, MetricDefinition] = field(default_factory=dict)
    table: MetricTable | None = None  # built on demand, dropped when a birth changes the scope

    def metric_table(self) -> MetricTable:
        if self.table is None:
            alias_of = {id(definition): alias for alias, definition in self.by_alias.items()}
            self.table = MetricTable(
                next(table_ids),
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


class OutputCollector:
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


table_ids = itertools.count(1)


def definition_of(
    by_alias: Mapping[int, MetricDefinition],
    by_name: Mapping[str, MetricDefinition],
    alias: int | None,
    name: str | None,
) -> MetricDefinition | None:
    """A data metric's definition from its birth: by alias when it has one, else by name."""
    if alias is not None:
        return by_alias.get(alias)
    return by_name.get(name) if name else None


def event_add(
    out: OutputCollector,
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


def metric_output(
    key: tuple[str, str],
    device_id: str | None,
    definition: MetricDefinition,
    metric: SparkplugMetric,
    default_ts: datetime,
    received_at: datetime,
    out: OutputCollector,
    seq: int | None,
) -> None:
    if definition.is_control:
        return
    if metric.problem is not None:
        event_add(
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
                event_add(
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
        event_add(
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


def metric_table_index(
    rows: Iterable[Sequence[Any]],
) -> tuple[dict[int, MetricDefinition], dict[str, MetricDefinition]]:
    """``MetricTable.rows`` → (by alias, by name), for ``data_resolve``."""
    by_alias: dict[int, MetricDefinition] = {}
    by_name: dict[str, MetricDefinition] = {}
    for alias, name, datatype, is_control in rows:
        definition = MetricDefinition(name, datatype, bool(is_control))
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
    index: tuple[dict[int, MetricDefinition], dict[str, MetricDefinition]],
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
) -> SessionOutput:
    """Decode a ``DeferredData`` message and resolve its metrics against its table's ``index``
    exactly as the session resolves a data message: readings, current values and data-quality
    events (payload-level problems were reported by the session already)."""
    out = OutputCollector()
    key = (group_id, edge_node_id)
    try:
        payload = decode_payload(raw, max_payload_bytes=max_payload_bytes)
    except DecodeError as error:  # it decoded in the host: only a changed limit gets here
        event_add(out, key, device_id, DataQualityReason.BAD_METRIC, str(error), received_at, seq)
        return out.freeze()
    by_alias, by_name = index
    for metric in payload.metrics:
        alias = metric.alias
        definition = definition_of(by_alias, by_name, alias, metric.name)
        if definition is None:  # the session checked every key: not expected
            event_add(
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
        metric_output(key, device_id, definition, metric, default_ts, received_at, out, seq)
    return out.freeze()


def merge_outputs(outputs: Iterable[SessionOutput]) -> SessionOutput:
    """Concatenate several outputs in order (e.g. a batch of messages handled in a row)."""
    collector = OutputCollector()
    for output in outputs:
        collector.readings.extend(output.readings)
        collector.current_values.extend(output.current_values)
        collector.stale_marks.extend(output.stale_marks)
        collector.rebirths.extend(output.rebirth_requests)
        collector.events.extend(output.data_quality_events)
        collector.deferred.extend(output.deferred)
    return collector.freeze()
