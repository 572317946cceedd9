"""Reads of the maintenance app, scoped like production's.

The vibration feature windows come from the telemetry store (``workers.Reading``, one row
per signal and timestamp): the edge agent (or :func:`maintenance.services.raw_window_ingest`)
stores each window's features as readings of the equipment's signals named
``MAINTENANCE_FEATURE_SIGNAL_PREFIX`` + feature name (``vibration_rms`` …) that share the
window's timestamp. A window is one timestamp at which *every* feature has a reading;
incomplete timestamps are left out (and counted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Sum
from numpy.typing import NDArray

from maintenance.algorithms.reliability import ReliabilityFigures, reliability_figures
from maintenance.choices import EpisodeState, HealthState, MaintenanceState
from maintenance.conf import feature_settings, setting
from maintenance.models import (
    AnomalyEpisode,
    ComponentPart,
    FailureEvent,
    HealthBaseline,
    HealthSnapshot,
    MaintenanceWorkOrder,
    PreventivePlan,
)
from mes_site.errors import ValidationFailed
from mes_site.scope import scope_filter
from production.choices import EquipmentState
from production.models import Equipment, EquipmentStateInterval, ProductionCount, Signal
from workers.models import Reading

EQUIPMENT_LINE = "equipment__cell__line_id"
EQUIPMENT_SITE = "equipment__cell__line__area__site_id"


def _scoped(queryset: QuerySet, user) -> QuerySet:
    return scope_filter(queryset, user, line=EQUIPMENT_LINE, site=EQUIPMENT_SITE)


# --- work orders, plans, failures ----------------------------------------------------------


def maintenance_work_order_list(*, user) -> QuerySet[MaintenanceWorkOrder]:
    return _scoped(MaintenanceWorkOrder.objects.select_related("equipment", "requested_by"), user)


def component_part_list() -> QuerySet[ComponentPart]:
    return ComponentPart.objects.select_related("equipment", "spare_item")


def component_parts_of(*, equipment_id: int) -> list[ComponentPart]:
    """The mapped components of one equipment, in the order they were mapped."""
    return list(
        ComponentPart.objects.filter(equipment_id=equipment_id)
        .select_related("spare_item")
        .order_by("id")
    )


def preventive_plan_list(*, user) -> QuerySet[PreventivePlan]:
    return _scoped(PreventivePlan.objects.select_related("equipment"), user)


def failure_event_list(*, user) -> QuerySet[FailureEvent]:
    return _scoped(FailureEvent.objects.select_related("equipment", "work_order"), user)


# --- health ------------------------------------------------------------------------------


def health_snapshot_list(*, user) -> QuerySet[HealthSnapshot]:
    return _scoped(HealthSnapshot.objects.select_related("equipment"), user)


def health_snapshot_current_list(*, user) -> QuerySet[HealthSnapshot]:
    """The newest snapshot of each equipment in the user's scope (one indexed lookup each)."""
    newest = (
        HealthSnapshot.objects.filter(equipment_id=OuterRef("pk")).order_by("-ts").values("pk")[:1]
    )
    latest_ids = (
        Equipment.objects.annotate(latest_snapshot_id=Subquery(newest))
        .filter(latest_snapshot_id__isnull=False)
        .values("latest_snapshot_id")
    )
    return health_snapshot_list(user=user).filter(pk__in=latest_ids).order_by("equipment_id")


def health_snapshot_latest(*, equipment_id: int) -> HealthSnapshot | None:
    return HealthSnapshot.objects.filter(equipment_id=equipment_id).order_by("-ts").first()


def health_assessed_since(
    *, equipment_ids: Sequence[int], since: datetime
) -> QuerySet[HealthSnapshot]:
    """The assessed snapshots of the equipment from ``since``, oldest first."""
    return HealthSnapshot.objects.filter(
        equipment_id__in=equipment_ids, ts__gte=since, state=HealthState.ASSESSED
    ).order_by("ts")


def health_history(
    *, equipment_id: int, baseline_id: int, since: datetime, before: datetime
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(times_s, rms_ratios) of the assessed snapshots of one baseline in [since, before)."""
    rows = list(
        HealthSnapshot.objects.filter(
            equipment_id=equipment_id,
            baseline_id=baseline_id,
            ts__gte=since,
            ts__lt=before,
            rms_ratio__isnull=False,
        )
        .order_by("ts")
        .values_list("ts", "rms_ratio")
    )
    times_s = np.array([ts.timestamp() for ts, _ in rows], dtype=np.float64)
    ratios = np.array([ratio for _, ratio in rows], dtype=np.float64)
    return times_s, ratios


def health_baseline_list(*, user) -> QuerySet[HealthBaseline]:
    return _scoped(HealthBaseline.objects.select_related("equipment", "requested_by"), user)


def anomaly_episode_list(*, user) -> QuerySet[AnomalyEpisode]:
    return _scoped(AnomalyEpisode.objects.select_related("equipment"), user)


def anomaly_episode_open_equipment_ids(*, equipment_ids: Sequence[int]) -> set[int]:
    """The machines among ``equipment_ids`` with an open anomaly episode (for the scheduler)."""
    return set(
        AnomalyEpisode.objects.filter(
            equipment_id__in=list(equipment_ids), state=EpisodeState.OPEN
        ).values_list("equipment_id", flat=True)
    )


def equipment_with_features() -> list[int]:
    """Ids of the active equipment that have the vibration feature signals (by their RMS)."""
    rms_name = f"{setting('MAINTENANCE_FEATURE_SIGNAL_PREFIX')}rms"
    return sorted(
        Signal.objects.filter(name=rms_name, equipment__is_active=True).values_list(
            "equipment_id", flat=True
        )
    )


# --- feature windows from the telemetry store -----------------------------------------------


@dataclass(frozen=True)
class FeatureWindows:
    """Complete feature windows of one equipment, oldest first."""

    feature_names: tuple[str, ...]
    times_s: NDArray[np.float64]  # epoch seconds, shape [n]
    matrix: NDArray[np.float64]  # shape [n, n_features], columns in feature_names order
    incomplete_count: int  # timestamps where some feature was missing (left out)

    def __len__(self) -> int:
        return int(self.times_s.shape[0])


def feature_names_default() -> tuple[str, ...]:
    return feature_settings().feature_names


def feature_signal_ids(
    *, equipment_id: int, feature_names: Sequence[str] | None = None
) -> dict[str, int]:
    """Feature name → signal id of one equipment; raises when a feature signal is missing."""
    names = tuple(feature_names or feature_names_default())
    prefix = str(setting("MAINTENANCE_FEATURE_SIGNAL_PREFIX"))
    rows = dict(
        Signal.objects.filter(
            equipment_id=equipment_id, name__in=[prefix + name for name in names]
        ).values_list("name", "id")
    )
    missing = [prefix + name for name in names if prefix + name not in rows]
    if missing:
        raise ValidationFailed(
            f"Equipment {equipment_id} has no feature signal(s) {', '.join(missing)}.",
            code="feature_signals_missing",
            detail={"missing": missing},
        )
    return {name: rows[prefix + name] for name in names}


def _empty(names: tuple[str, ...]) -> FeatureWindows:
    return FeatureWindows(
        names, np.empty(0, dtype=np.float64), np.empty((0, len(names)), dtype=np.float64), 0
    )


def _windows_between(
    signal_ids: dict[str, int], since: datetime | None, until: datetime | None
) -> FeatureWindows:
    names = tuple(signal_ids)
    column_of = {signal_id: column for column, signal_id in enumerate(signal_ids.values())}
    queryset = Reading.objects.filter(signal_id__in=list(column_of))
    if since is not None:
        queryset = queryset.filter(ts__gte=since)
    if until is not None:
        queryset = queryset.filter(ts__lte=until)
    rows: dict[datetime, list[float]] = {}
    for signal_id, ts, value in queryset.values_list("signal_id", "ts", "value").iterator(
        chunk_size=5000
    ):
        row = rows.get(ts)
        if row is None:
            row = rows[ts] = [np.nan] * len(names)
        row[column_of[signal_id]] = np.nan if value is None else float(value)
    if not rows:
        return _empty(names)
    ordered = sorted(rows)
    matrix = np.array([rows[ts] for ts in ordered], dtype=np.float64)
    complete = ~np.isnan(matrix).any(axis=1)
    times_s = np.array([ts.timestamp() for ts in ordered], dtype=np.float64)
    return FeatureWindows(names, times_s[complete], matrix[complete], int((~complete).sum()))


def feature_windows_get(
    *,
    equipment_id: int,
    since: datetime | None,
    until: datetime | None,
    feature_names: Sequence[str] | None = None,
) -> FeatureWindows:
    """All complete feature windows of one equipment with ``since ≤ ts ≤ until``."""
    return _windows_between(
        feature_signal_ids(equipment_id=equipment_id, feature_names=feature_names), since, until
    )


def feature_windows_first(
    *,
    equipment_id: int,
    since: datetime | None,
    count: int,
    feature_names: Sequence[str] | None = None,
) -> FeatureWindows:
    """The first ``count`` complete windows at or after ``since`` (the baseline's windows)."""
    signal_ids = feature_signal_ids(equipment_id=equipment_id, feature_names=feature_names)
    anchor = Reading.objects.filter(signal_id=signal_ids["rms"])
    if since is not None:
        anchor = anchor.filter(ts__gte=since)
    # A few spare timestamps in case some windows are incomplete.
    stamps = list(anchor.order_by("ts").values_list("ts", flat=True)[: count + count // 4 + 4])
    if not stamps:
        return _empty(tuple(signal_ids))
    windows = _windows_between(signal_ids, stamps[0], stamps[-1])
    return FeatureWindows(
        windows.feature_names,
        windows.times_s[:count],
        windows.matrix[:count],
        windows.incomplete_count,
    )


def feature_windows_latest(
    *,
    equipment_id: int,
    count: int,
    max_age_s: float,
    until: datetime | None = None,
    feature_names: Sequence[str] | None = None,
) -> FeatureWindows:
    """The newest ≤ ``count`` complete windows within ``max_age_s`` of the newest one."""
    signal_ids = feature_signal_ids(equipment_id=equipment_id, feature_names=feature_names)
    anchor = Reading.objects.filter(signal_id=signal_ids["rms"])
    if until is not None:
        anchor = anchor.filter(ts__lte=until)
    stamps = list(anchor.order_by("-ts").values_list("ts", flat=True)[: count + count // 4 + 4])
    if not stamps:
        return _empty(tuple(signal_ids))
    newest = stamps[0]
    oldest = max(
        stamps[-1], datetime.fromtimestamp(newest.timestamp() - max_age_s, tz=newest.tzinfo)
    )
    windows = _windows_between(signal_ids, oldest, newest)
    return FeatureWindows(
        windows.feature_names,
        windows.times_s[-count:],
        windows.matrix[-count:],
        windows.incomplete_count,
    )


def feature_window_newest_ts(
    *, equipment_id: int, until: datetime | None = None
) -> datetime | None:
    """Time of the newest stored RMS feature reading (≈ the newest window) of an equipment."""
    signal_ids = feature_signal_ids(equipment_id=equipment_id, feature_names=("rms",))
    queryset = Reading.objects.filter(signal_id=signal_ids["rms"])
    if until is not None:
        queryset = queryset.filter(ts__lte=until)
    return queryset.order_by("-ts").values_list("ts", flat=True).first()


# --- usage counters of preventive plans ----------------------------------------------------


def producing_hours(*, equipment_id: int, since: datetime, until: datetime) -> float:
    """Producing time of the equipment in [since, until) from its state timeline, in hours."""
    intervals = EquipmentStateInterval.objects.filter(
        equipment_id=equipment_id, state=EquipmentState.PRODUCING, start_at__lt=until
    ).filter(Q(end_at__isnull=True) | Q(end_at__gt=since))
    total_s = 0.0
    for start_at, end_at in intervals.values_list("start_at", "end_at"):
        start = max(start_at, since)
        end = min(end_at or until, until)
        if end > start:
            total_s += (end - start).total_seconds()
    return total_s / 3600.0


def counted_cycles(
    *, equipment_id: int, since: datetime, until: datetime, counter_signal_name: str = ""
) -> float:
    """Cycles in [since, until): increments of a counter signal, or the units reported.

    A counter that drops (a reset) counts its new value as the increment.
    """
    if not counter_signal_name:
        totals = ProductionCount.objects.filter(
            equipment_id=equipment_id, ts__gte=since, ts__lt=until
        ).aggregate(total=Sum(F("good") + F("scrap") + F("rework")))
        return float(totals["total"] or 0)
    signal = Signal.objects.filter(equipment_id=equipment_id, name=counter_signal_name).first()
    if signal is None:
        raise ValidationFailed(
            f"Equipment {equipment_id} has no counter signal {counter_signal_name!r}.",
            code="counter_signal_missing",
        )
    before = Reading.objects.filter(signal=signal, ts__lt=since).order_by("-ts").first()
    previous = None if before is None else before.value
    total = 0.0
    for value in (
        Reading.objects.filter(signal=signal, ts__gte=since, ts__lt=until)
        .order_by("ts")
        .values_list("value", flat=True)
    ):
        if value is None:
            continue
        if previous is not None:
            total += value - previous if value >= previous else value
        previous = value
    return total


# --- reliability ---------------------------------------------------------------------------


def reliability_get(
    *, equipment_id: int, period_start_at: datetime, period_end_at: datetime
) -> ReliabilityFigures:
    """ISO 22400 MTBF/MTTR of one equipment over a period.

    Σ TBF is the equipment's producing (APT) plus setup (AUST) time in the period from its
    state timeline; the failure events are those that happened in the period, each with its
    repair time up to the period end.
    """
    if period_end_at <= period_start_at:
        raise ValidationFailed("The period must end after it starts.")
    busy_s = {EquipmentState.PRODUCING: 0.0, EquipmentState.SETUP: 0.0}
    intervals = EquipmentStateInterval.objects.filter(
        equipment_id=equipment_id,
        state__in=list(busy_s),
        start_at__lt=period_end_at,
    ).filter(Q(end_at__isnull=True) | Q(end_at__gt=period_start_at))
    for state, start_at, end_at in intervals.values_list("state", "start_at", "end_at"):
        start = max(start_at, period_start_at)
        end = min(end_at or period_end_at, period_end_at)
        if end > start:
            busy_s[state] += (end - start).total_seconds()
    repairs_s = [
        (min(repaired_at or period_end_at, period_end_at) - failed_at).total_seconds()
        for failed_at, repaired_at in FailureEvent.objects.filter(
            equipment_id=equipment_id, failed_at__gte=period_start_at, failed_at__lt=period_end_at
        )
        .order_by("failed_at")
        .values_list("failed_at", "repaired_at")
    ]
    return reliability_figures(
        production_time_s=busy_s[EquipmentState.PRODUCING],
        setup_time_s=busy_s[EquipmentState.SETUP],
        repair_durations_s=repairs_s,
    )


# --- for the scheduler ---------------------------------------------------------------------

OPEN_MAINTENANCE_STATES = (
    MaintenanceState.REQUESTED,
    MaintenanceState.SCHEDULED,
    MaintenanceState.IN_PROGRESS,
)


def health_assessed_latest(
    *,
    equipment_ids: Sequence[int],
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[HealthSnapshot]:
    """Per equipment its newest *assessed* snapshot (ties: the last written), optionally
    taken between ``since`` and ``until``. Equipment without one has no row."""
    candidates = HealthSnapshot.objects.filter(
        equipment_id=OuterRef("pk"), state=HealthState.ASSESSED
    )
    if since is not None:
        candidates = candidates.filter(ts__gte=since)
    if until is not None:
        candidates = candidates.filter(ts__lte=until)
    newest = candidates.order_by("-ts", "-pk").values("pk")[:1]
    latest_ids = [
        snapshot_id
        for snapshot_id in Equipment.objects.filter(pk__in=list(equipment_ids))
        .annotate(latest_snapshot_id=Subquery(newest))
        .values_list("latest_snapshot_id", flat=True)
        if snapshot_id is not None
    ]
    return HealthSnapshot.objects.filter(pk__in=latest_ids)


def maintenance_work_order_open_list(
    *, equipment_ids: Sequence[int]
) -> QuerySet[MaintenanceWorkOrder]:
    """The equipment's maintenance orders not yet done or cancelled."""
    return MaintenanceWorkOrder.objects.filter(
        equipment_id__in=list(equipment_ids), state__in=OPEN_MAINTENANCE_STATES
    )
