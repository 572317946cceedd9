"""Reads of the workers app: the in-process signal-contract cache used by the ingest, and the
telemetry queries of the API (series, current values, ingest status, dead letters)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import Count, Max, QuerySet, Sum
from django.utils import timezone

from integration.selectors import webhook_backlog
from inventory.selectors import procurement_outbox_backlog
from mes_site.redis import redis_client
from production.choices import SignalDataType
from production.models import Equipment, Signal, Site
from production.selectors.plant import equipment_list, scope_get, signal_list
from workers.algorithms.lttb import lttb_indices
from workers.models import (
    DeadLetter,
    IngestBatch,
    Reading,
    ReadingRollup,
    SparkplugDeviceMapping,
    SparkplugNodeMapping,
)
from workers.store import current_values_get, redis_key

logger = logging.getLogger(__name__)

# Data types as small ints for the hot loop.
TYPE_NUMBER = 0
TYPE_BOOLEAN = 1
TYPE_STRING = 2
_TYPE_CODES = {
    SignalDataType.NUMBER: TYPE_NUMBER,
    SignalDataType.BOOLEAN: TYPE_BOOLEAN,
    SignalDataType.STRING: TYPE_STRING,
}


@dataclass(frozen=True, slots=True)
class SignalContract:
    signal_id: int
    equipment_id: int
    name: str
    type_code: int  # TYPE_NUMBER / TYPE_BOOLEAN / TYPE_STRING
    unit: str  # "" when the signal declares none
    min_value: float | None
    max_value: float | None


@dataclass(frozen=True, slots=True)
class SparkplugTarget:
    equipment_id: int
    equipment_path: str
    auto_create_signals: bool


@dataclass(slots=True)
class Contracts:
    """A snapshot of what the ingest validates against. Loaded whole; replaced on change."""

    version: bytes | None
    loaded_at_monotonic: float
    by_path_and_name: dict[tuple[str, str], SignalContract] = field(default_factory=dict)
    equipment_by_path: dict[str, int] = field(default_factory=dict)
    path_by_equipment: dict[int, str] = field(default_factory=dict)
    sparkplug_nodes: dict[tuple[str, str], SparkplugTarget | None] = field(default_factory=dict)
    sparkplug_devices: dict[tuple[str, str, str], SparkplugTarget] = field(default_factory=dict)
    sparkplug_auto_create: dict[tuple[str, str], bool] = field(default_factory=dict)

    def add_signal(self, signal: Signal, equipment_path: str) -> SignalContract:
        contract = _contract(signal)
        self.by_path_and_name[(equipment_path, signal.name)] = contract
        return contract


def _contract(signal: Signal) -> SignalContract:
    return SignalContract(
        signal.id,
        signal.equipment_id,
        signal.name,
        _TYPE_CODES.get(signal.data_type, TYPE_NUMBER),
        signal.unit,
        signal.min_value,
        signal.max_value,
    )


_contracts: Contracts | None = None
_contracts_lock = threading.Lock()


def contracts_version_key() -> str:
    return redis_key("contracts_version")


def contracts_get() -> Contracts:
    """The cached contracts; reloaded when the Redis version key changed (one GET per call)
    or after ``INGEST_SIGNAL_CACHE_TTL_S``."""
    global _contracts
    version = redis_client().get(contracts_version_key())
    current = _contracts
    if (
        current is not None
        and current.version == version
        and time.monotonic() - current.loaded_at_monotonic < settings.INGEST_SIGNAL_CACHE_TTL_S
    ):
        return current
    with _contracts_lock:
        _contracts = _contracts_load(version)
        return _contracts


def contracts_forget() -> None:
    """Drop this process's cache (tests; the version key does it across processes)."""
    global _contracts
    _contracts = None


def _contracts_load(version: bytes | None) -> Contracts:
    contracts = Contracts(version, time.monotonic())
    paths = dict(Equipment.objects.values_list("id", "uns_path"))
    contracts.path_by_equipment = paths
    contracts.equipment_by_path = {path: equipment_id for equipment_id, path in paths.items()}
    for signal in Signal.objects.only(
        "id", "equipment_id", "name", "data_type", "unit", "min_value", "max_value"
    ).iterator(chunk_size=5000):
        path = paths.get(signal.equipment_id)
        if path is not None:
            contracts.by_path_and_name[(path, signal.name)] = _contract(signal)
    for node in SparkplugNodeMapping.objects.all():
        key = (node.group_id, node.edge_node_id)
        contracts.sparkplug_auto_create[key] = node.auto_create_signals
        contracts.sparkplug_nodes[key] = (
            SparkplugTarget(node.equipment_id, paths[node.equipment_id], node.auto_create_signals)
            if node.equipment_id in paths
            else None
        )
    for device in SparkplugDeviceMapping.objects.select_related("node"):
        if device.equipment_id in paths:
            contracts.sparkplug_devices[
                (device.node.group_id, device.node.edge_node_id, device.device_id)
            ] = SparkplugTarget(
                device.equipment_id, paths[device.equipment_id], device.node.auto_create_signals
            )
    logger.debug("loaded %d signal contracts", len(contracts.by_path_and_name))
    return contracts


# --- API reads ---------------------------------------------------------------------------------


def signal_for_user_get(*, user, signal_id: int) -> Signal | None:
    return signal_list(user=user).filter(pk=signal_id).first()


def equipment_for_user_get(*, user, equipment_id: int) -> Equipment | None:
    return equipment_list(user=user).filter(pk=equipment_id).first()


@dataclass(frozen=True)
class SeriesPoint:
    ts: datetime
    value: float
    min_value: float | None = None
    max_value: float | None = None


@dataclass(frozen=True)
class Series:
    source: str  # "raw" | "rollup"
    total_points: int  # points in the range before downsampling
    points: list[SeriesPoint]


def signal_series(
    *,
    signal: Signal,
    start: datetime,
    end: datetime,
    max_points: int,
    source: str | None = None,
) -> Series:
    """A numeric signal's values in [start, end], downsampled with LTTB to ``max_points``.

    Ranges longer than ``INGEST_SERIES_RAW_MAX_RANGE_S`` (or with more raw rows than
    ``INGEST_SERIES_RAW_MAX_POINTS``) read the per-minute rollups: LTTB runs over the minute
    means and each kept point carries the minute's min and max."""
    use_rollup = source == "rollup" or (
        source is None and (end - start).total_seconds() > settings.INGEST_SERIES_RAW_MAX_RANGE_S
    )
    if not use_rollup:
        limit = settings.INGEST_SERIES_RAW_MAX_POINTS
        rows = list(
            Reading.objects.filter(signal=signal, ts__gte=start, ts__lte=end, value__isnull=False)
            .order_by("ts")
            .values_list("ts", "value")[: limit + 1]
        )
        if len(rows) <= limit or source == "raw":
            rows = rows[:limit]
            if not rows:
                return Series("raw", 0, [])
            times = np.fromiter((ts.timestamp() for ts, _ in rows), dtype=np.float64)
            values = np.fromiter((value for _, value in rows), dtype=np.float64)
            kept = lttb_indices(times, values, max_points)
            return Series(
                "raw", len(rows), [SeriesPoint(rows[i][0], rows[i][1]) for i in kept.tolist()]
            )
    buckets = list(
        ReadingRollup.objects.filter(signal=signal, bucket__gte=_minute(start), bucket__lte=end)
        .order_by("bucket")
        .values_list("bucket", "min_value", "max_value", "sum_value", "count")
    )
    if not buckets:
        return Series("rollup", 0, [])
    times = np.fromiter((bucket.timestamp() for bucket, *_ in buckets), dtype=np.float64)
    means = np.fromiter((total / count for *_, total, count in buckets), dtype=np.float64)
    kept = lttb_indices(times, means, max_points)
    return Series(
        "rollup",
        len(buckets),
        [
            SeriesPoint(buckets[i][0], float(means[i]), buckets[i][1], buckets[i][2])
            for i in kept.tolist()
        ],
    )


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def current_values_list(*, equipment: Equipment) -> list[dict[str, Any]]:
    """Current values of an equipment's signals from the live cache (never historical)."""
    cached = current_values_get(equipment.id)
    units = dict(Signal.objects.filter(equipment=equipment).values_list("name", "unit"))
    return [
        {
            "signal": name,
            "value": entry["value"],
            "unit": units.get(name, ""),
            "ts": entry["ts"],
            "quality": entry["quality"],
            "is_stale": entry["stale_at"] is not None,
            "stale_at": entry["stale_at"],
        }
        for name, entry in sorted(cached.items())
    ]


def dead_letter_list(*, user) -> QuerySet[DeadLetter]:
    """Dead letters the user may see: all for unrestricted users; for scoped users those
    whose topic names equipment of their lines or sites."""
    queryset = DeadLetter.objects.select_related("equipment")
    scope = scope_get(user)
    if scope.is_unrestricted:
        return queryset
    return queryset.filter(equipment__in=equipment_list(user=user).values("id"))


def ingest_status(*, now: datetime | None = None, window_s: float = 60.0) -> dict[str, Any]:
    """Rate, lag and (signal, ts) conflicts over the last ``window_s`` seconds, queue length,
    open dead letters."""
    now = now or timezone.now()
    since = now - timedelta(seconds=window_s)
    batches = IngestBatch.objects.filter(processed_at__gte=since)
    totals = batches.aggregate(
        batch_count=Count("id"),
        message_count=Sum("message_count"),
        reading_count=Sum("reading_count"),
        stored_count=Sum("stored_count"),
        dead_letter_count=Sum("dead_letter_count"),
        conflict_count=Sum("conflict_count"),
        last_processed_at=Max("processed_at"),
    )
    lags = sorted(
        (processed - published).total_seconds()
        for published, processed in batches.values_list("published_at", "processed_at")
    )
    try:
        queue_length: int | None = int(redis_client().llen(settings.INGEST_QUEUE))
    except Exception:  # the status page must answer even when Redis does not
        logger.warning("ingest status: cannot read the queue length", exc_info=True)
        queue_length = None
    return {
        "window_s": window_s,
        "batch_count": totals["batch_count"] or 0,
        "messages_per_s": (totals["message_count"] or 0) / window_s,
        "readings_per_s": (totals["reading_count"] or 0) / window_s,
        "stored_per_s": (totals["stored_count"] or 0) / window_s,
        "dead_letters_per_s": (totals["dead_letter_count"] or 0) / window_s,
        "reading_conflict_count": totals["conflict_count"] or 0,
        "lag_p50_s": lags[len(lags) // 2] if lags else None,
        "lag_max_s": lags[-1] if lags else None,
        "last_processed_at": totals["last_processed_at"],
        "queue_length": queue_length,
        "dead_letters_by_reason": dead_letters_open_by_reason(),
        # ERP outage visibility: what the ERP has not taken yet (docs/api.md "Webhooks").
        "webhooks": webhook_backlog(now=now),
        "procurement_outbox": procurement_outbox_backlog(now=now),
    }


def dead_letters_open_by_reason() -> list[dict[str, Any]]:
    """The open dead letters by reason: ``{reason_code, group_count, message_count}``."""
    return [
        {
            "reason_code": row["reason_code"],
            "group_count": row["group_count"],
            "message_count": row["message_count"] or 0,
        }
        for row in DeadLetter.objects.filter(is_resolved=False)
        .values("reason_code")
        .annotate(group_count=Count("id"), message_count=Sum("count"))
        .order_by("reason_code")
    ]


def ingest_last_processed_at() -> datetime | None:
    """When the newest batch of the ledger was stored (None: an empty ledger)."""
    return IngestBatch.objects.aggregate(last=Max("processed_at"))["last"]


def sparkplug_groups_known() -> list[str]:
    """The Sparkplug groups of this plant: those of the node mappings and, for every site,
    ``<enterprise code>_<site code>`` (the simulator's default group, e.g. ``acme_plant1``).
    Sorted; the bridge's Sparkplug host subscribes to these unless told otherwise."""
    groups = set(SparkplugNodeMapping.objects.values_list("group_id", flat=True))
    groups.update(
        f"{enterprise}_{site}"
        for enterprise, site in Site.objects.values_list("enterprise__code", "code")
    )
    return sorted(group for group in groups if group and not set(group) & set("/+#"))
