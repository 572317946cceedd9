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
from datetime import datetime, timedelta

import numpy as np
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery, Sum
from numpy.typing import NDArray

from maintenance.algorithms.reliability import ReliabilityFigures, reliability_figures
from maintenance.choices import EpisodeState, HealthState, MaintenanceKind, MaintenanceState
from maintenance.conf import feature_settings, setting
from maintenance.models import (
    AnomalyEpisode,
    ComponentPart,
    FailureEvent,
    HealthBaseline,
    HealthSnapshot,
    MachineClassMember,
    MaintenanceWorkOrder,
    PreventivePlan,
    RedundantPair,
    RulModelVersion,
    SensorSuspicion,
)
from mes_site.errors import ValidationFailed
from mes_site.scope import scope_filter
from production.choices import EquipmentState
from production.models import (
    DowntimeReason,
    Equipment,
    EquipmentStateInterval,
    ProductionCount,
    Signal,
)
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


# --- fleet RUL: run histories and models ---------------------------------------------------

SECONDS_PER_HOUR = 3600.0
# Work that replaced a worn part ends a run like a failure does (run-to-maintenance).
RUN_ENDING_WORK = (MaintenanceKind.CORRECTIVE, MaintenanceKind.PREDICTIVE)


@dataclass(frozen=True)
class RunEnd:
    """Where one run of an equipment ended and the next began (``restarted_at`` None: not yet)."""

    ended_at: datetime
    restarted_at: datetime | None
    kind: str  # "failure" or "maintenance"
    source_id: int


def run_ends(*, equipment_id: int, until: datetime) -> list[RunEnd]:
    """Failures, and completed corrective/predictive work not linked to a failure, up to
    ``until``, oldest first."""
    ends = [
        RunEnd(failed_at, repaired_at, "failure", pk)
        for pk, failed_at, repaired_at in FailureEvent.objects.filter(
            equipment_id=equipment_id, failed_at__lte=until
        ).values_list("pk", "failed_at", "repaired_at")
    ]
    orders = MaintenanceWorkOrder.objects.filter(
        equipment_id=equipment_id,
        kind__in=RUN_ENDING_WORK,
        state=MaintenanceState.DONE,
        completed_at__lte=until,
        failure_events__isnull=True,
    ).values_list("pk", "started_at", "completed_at")
    ends += [
        RunEnd(started_at or completed_at, completed_at, "maintenance", pk)
        for pk, started_at, completed_at in orders
    ]
    return sorted(ends, key=lambda end: end.ended_at)


def rms_ratio_history(
    *, equipment_id: int, after: datetime | None, until: datetime
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(hours since the epoch, RMS ratio) of the assessed snapshots in (after, until]."""
    rows = HealthSnapshot.objects.filter(
        equipment_id=equipment_id, ts__lte=until, rms_ratio__isnull=False
    )
    if after is not None:
        rows = rows.filter(ts__gt=after)
    pairs = list(rows.order_by("ts").values_list("ts", "rms_ratio"))
    times_h = np.array([ts.timestamp() / SECONDS_PER_HOUR for ts, _ in pairs], dtype=np.float64)
    return times_h, np.array([ratio for _, ratio in pairs], dtype=np.float64)


@dataclass(frozen=True)
class RecordedRun:
    """One run of one equipment as stored: its samples and how it ended."""

    equipment_id: int
    started_at: datetime | None  # None: from the first snapshot
    end: RunEnd | None  # None: the run still going
    times_h: NDArray[np.float64]
    rms_ratios: NDArray[np.float64]


def recorded_runs(*, equipment_id: int, until: datetime) -> list[RecordedRun]:
    """The equipment's finished runs up to ``until`` and its current one (last, end None)."""
    runs = []
    started_at: datetime | None = None
    for end in run_ends(equipment_id=equipment_id, until=until):
        times_h, ratios = rms_ratio_history(
            equipment_id=equipment_id, after=started_at, until=end.ended_at
        )
        runs.append(RecordedRun(equipment_id, started_at, end, times_h, ratios))
        if end.restarted_at is None or end.restarted_at > until:
            return runs
        started_at = end.restarted_at
    times_h, ratios = rms_ratio_history(equipment_id=equipment_id, after=started_at, until=until)
    runs.append(RecordedRun(equipment_id, started_at, None, times_h, ratios))
    return runs


def machine_class_equipment_ids(*, machine_class_id: int) -> list[int]:
    return list(
        MachineClassMember.objects.filter(machine_class_id=machine_class_id)
        .order_by("equipment_id")
        .values_list("equipment_id", flat=True)
    )


def rul_model_in_use(*, equipment_id: int) -> RulModelVersion | None:
    """The fleet RUL model in use for the equipment's machine class, without its payload."""
    return (
        RulModelVersion.objects.filter(
            machine_class__members__equipment_id=equipment_id, is_in_use=True
        )
        .select_related("machine_class")
        .defer("payload")
        .first()
    )


def rul_model_payload(*, version_id: int) -> bytes:
    return bytes(RulModelVersion.objects.values_list("payload", flat=True).get(pk=version_id))


# --- stops that open corrective orders -------------------------------------------------------


def failure_reason_ids(*, codes: Sequence[str]) -> set[int]:
    """Downtime reasons that are failures: those with one of ``codes`` and their descendants."""
    parents = dict(DowntimeReason.objects.values_list("id", "parent_id"))
    roots = set(DowntimeReason.objects.filter(code__in=list(codes)).values_list("id", flat=True))
    found = set()
    for reason_id in parents:
        node: int | None = reason_id
        while node is not None and node not in roots:
            node = parents.get(node)
        if node is not None:
            found.add(reason_id)
    return found


def stops_without_order(
    *,
    now: datetime,
    since: datetime,
    failure_reason_ids: set[int],
    unclassified_stop_s: float,
) -> QuerySet[EquipmentStateInterval]:
    """Down intervals from ``since`` with a failure reason, or without a reason and at least
    ``unclassified_stop_s`` long (an open one: so far), that have no corrective order yet."""
    long_enough = timedelta(seconds=unclassified_stop_s)
    unclassified_long = Q(reason__isnull=True) & (
        Q(end_at__isnull=True, start_at__lte=now - long_enough)
        | Q(end_at__gte=F("start_at") + long_enough)
    )
    return (
        EquipmentStateInterval.objects.filter(
            state=EquipmentState.DOWN, start_at__gte=since, start_at__lte=now
        )
        .filter(Q(reason_id__in=list(failure_reason_ids)) | unclassified_long)
        .exclude(
            Exists(
                MaintenanceWorkOrder.objects.filter(
                    equipment_id=OuterRef("equipment_id"), stop_started_at=OuterRef("start_at")
                )
            )
        )
        .select_related("equipment", "reason")
        .order_by("start_at")
    )


def stop_end(*, equipment_id: int, stop_started_at: datetime) -> datetime | None:
    """When the equipment left the down state that started at ``stop_started_at``."""
    return (
        EquipmentStateInterval.objects.filter(
            equipment_id=equipment_id, start_at__gt=stop_started_at
        )
        .exclude(state=EquipmentState.DOWN)
        .order_by("start_at")
        .values_list("start_at", flat=True)
        .first()
    )


# --- sensor drift ----------------------------------------------------------------------------


def suspect_feature_signals(*, equipment_id: int, prefix: str) -> list[str]:
    """Names of the equipment's health feature signals found suspect (sensor drift)."""
    return list(
        Signal.objects.filter(
            equipment_id=equipment_id, name__startswith=prefix, is_suspect=True
        ).values_list("name", flat=True)
    )


def redundant_pair_list(*, user) -> QuerySet[RedundantPair]:
    return _scoped(
        RedundantPair.objects.select_related(
            "equipment", "signal_a", "signal_b", "power_signal", "speed_signal"
        ),
        user,
    )


def sensor_suspicion_list(*, user) -> QuerySet[SensorSuspicion]:
    return _scoped(SensorSuspicion.objects.select_related("signal", "equipment", "pair"), user)


def sensor_suspicions_open(*, equipment_id: int) -> list[SensorSuspicion]:
    return list(
        SensorSuspicion.objects.filter(equipment_id=equipment_id, status="open")
        .select_related("signal")
        .order_by("signal__name")
    )


def _redundant_pairs_active() -> QuerySet[RedundantPair]:
    return RedundantPair.objects.filter(is_active=True, equipment__is_active=True).select_related(
        "equipment__cell__line__area__site", "signal_a", "signal_b", "power_signal", "speed_signal"
    )


def redundant_pairs_active() -> list[RedundantPair]:
    return list(_redundant_pairs_active())


def redundant_pair_active_get(*, pair_id: int) -> RedundantPair | None:
    return _redundant_pairs_active().filter(pk=pair_id).first()


def readings_aligned(
    *, signal_ids: Sequence[int], since: datetime, until: datetime, step_s: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """(times_s, values[samples, signals]) on a grid of ``step_s`` from ``since`` to
    ``until``: each reading goes to the nearest grid point; NaN where a signal has none.
    Readings of every quality are used (a marked reading is still the sensor's reading)."""
    start_s = since.timestamp()
    count = max(int((until.timestamp() - start_s) // step_s) + 1, 0)
    times = start_s + step_s * np.arange(count)
    values = np.full((count, len(signal_ids)), np.nan)
    column = {signal_id: index for index, signal_id in enumerate(signal_ids)}
    for signal_id, ts, value in Reading.objects.filter(
        signal_id__in=list(signal_ids), ts__gte=since, ts__lte=until, value__isnull=False
    ).values_list("signal_id", "ts", "value"):
        row = round((ts.timestamp() - start_s) / step_s)
        if 0 <= row < count:
            values[row, column[signal_id]] = value
    return times, values
