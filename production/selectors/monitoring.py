"""Reads of the monitoring area: shift calendars, OEE elements from the database, live OEE.

The ISO 22400-2 arithmetic lives in the pure modules (``production.algorithms.oee``,
``timeline``, ``shifts``); this module feeds them from the database:

- :func:`calendar_book_load` turns the shift calendars of sites and lines into pure
  calendars — a line's own calendar if it has one, else its site's; planned downtime where the
  line's windows win over the site's (``resolve_planned_down_windows``); the site's time zone.
- :func:`equipment_period_compute` computes the elements of many equipment over one window
  (an hour, a shift, a day, a work order): the window is cut at the equipment's shift
  instances (only shift time is planned operation time), each piece goes through
  ``compute_time_elements_arrays`` with the shift's breaks and planned downtime, and the counts
  made inside those pieces are added. Two queries for any number of equipment.
- :class:`LiveOee` keeps the open shift of each equipment in an ``OpenPeriodAccumulator``
  (per process), fed by the ingest service and checked against a per-equipment version
  counter in Redis, so any process answers "current OEE" from memory and rebuilds from the
  database only what changed elsewhere.
"""

from __future__ import annotations

import logging
import math
import threading
import time as monotonic_time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import Case, FloatField, IntegerField, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Cast, Extract
from django.utils import timezone

from mes_site.errors import Conflict
from production.algorithms import shifts as pure_shifts
from production.algorithms.oee import (
    SIX_BIG_LOSSES_ISO_TERMS,
    OeeElements,
    OeeKpis,
    compute_kpis,
    rollup,
    six_big_losses,
)
from production.algorithms.timeline import (
    NO_REASON_CODE,
    REASON_CODES,
    STATE_CODES,
    EquipmentState,
    LateEventError,
    OpenPeriodAccumulator,
    StateIntervalArrays,
    compute_time_elements_arrays,
)
from production.choices import AlertState, OeePeriod, OeeScope, OperationState, StateSource
from production.models import (
    Alert,
    AlertRule,
    DowntimeReason,
    Equipment,
    EquipmentStateInterval,
    OeeSnapshot,
    Operation,
    PlannedDowntime,
    ProductionCount,
    ShiftCalendar,
    WorkOrder,
)
from production.selectors.plant import equipment_list, scope_get

logger = logging.getLogger(__name__)

__all__ = [
    "CalendarBook",
    "CalendarInvalid",
    "EquipmentPeriodResult",
    "EquipmentRef",
    "LiveOee",
    "ResolvedCalendar",
    "alert_list",
    "calendar_book_load",
    "equipment_period_compute",
    "equipment_refs",
    "equipment_timeline",
    "live_oee",
    "loss_pareto",
    "needs_reason_list",
    "oee_current",
    "oee_report",
    "oee_snapshot_list",
    "oee_window",
    "oee_work_order",
    "six_big_losses_waterfall",
]


# --- settings ----------


def micro_stop_threshold_s() -> float:
    """Stops shorter than this are minor stops (ADET, no reason asked). Default 120 s."""
    return float(getattr(settings, "OEE_MICRO_STOP_THRESHOLD_S", 120.0))


def close_delay_s() -> float:
    """A period is closed (snapshot stored) this long after it ends. At least the threshold."""
    return max(float(getattr(settings, "OEE_CLOSE_DELAY_S", 300.0)), micro_stop_threshold_s())


def live_max_age_s() -> float:
    """A live accumulator is rebuilt from the database at least this often (calendar edits)."""
    return float(getattr(settings, "OEE_LIVE_MAX_AGE_S", 60.0))


# --- errors ----------


class CalendarInvalid(Conflict):
    """A shift calendar in the database cannot be expanded (overlapping shifts, bad break)."""

    code = "calendar_invalid"

    def __init__(self, message: str, *, calendar_id: int | None) -> None:
        super().__init__(message, detail={"calendar_id": calendar_id})
        self.calendar_id = calendar_id


# --- equipment and calendars ----------


@dataclass(frozen=True, slots=True)
class EquipmentRef:
    """What the OEE computation needs to know about one equipment."""

    id: int
    code: str
    line_id: int
    area_id: int
    site_id: int
    time_zone: str


def equipment_refs(
    *,
    equipment_ids: Iterable[int] | None = None,
    line_ids: Iterable[int] | None = None,
    area_ids: Iterable[int] | None = None,
    site_ids: Iterable[int] | None = None,
    include_inactive: bool = False,
) -> list[EquipmentRef]:
    """Active equipment (by id, line, area or site), ordered by UNS path. One query."""
    queryset = Equipment.objects.all()
    if not include_inactive:
        queryset = queryset.filter(is_active=True)
    if equipment_ids is not None:
        queryset = queryset.filter(id__in=list(equipment_ids))
    if line_ids is not None:
        queryset = queryset.filter(cell__line_id__in=list(line_ids))
    if area_ids is not None:
        queryset = queryset.filter(cell__line__area_id__in=list(area_ids))
    if site_ids is not None:
        queryset = queryset.filter(cell__line__area__site_id__in=list(site_ids))
    rows = queryset.order_by("uns_path").values_list(
        "id",
        "code",
        "cell__line_id",
        "cell__line__area_id",
        "cell__line__area__site_id",
        "cell__line__area__site__time_zone",
    )
    return [EquipmentRef(*row) for row in rows]


# Without any calendar a line is planned around the clock, in two 12-hour shifts a day.
DEFAULT_SHIFTS = (
    pure_shifts.ShiftDefinition(name="00-12", start_local=time(0), end_local=time(12)),
    pure_shifts.ShiftDefinition(name="12-24", start_local=time(12), end_local=time(0)),
)


@dataclass(frozen=True, slots=True)
class ResolvedCalendar:
    """The calendar in force for a line (or a site), with its planned downtime windows.

    ``calendar_id`` is the database calendar (the line's own or the site's); ``None`` means
    no calendar exists and the default (24/7, two 12-hour shifts) applies.
    """

    calendar: pure_shifts.ShiftCalendar
    calendar_id: int | None
    is_line_calendar: bool
    planned_down_windows: tuple[pure_shifts.TimeWindow, ...]

    def instances(self, start: datetime, end: datetime) -> tuple[pure_shifts.ShiftInstance, ...]:
        if end <= start:
            return ()
        return pure_shifts.expand_calendar(self.calendar, range_start=start, range_end=end)

    def slices(self, start: datetime, end: datetime) -> list[_Slice]:
        """The shift time inside ``[start, end)``: one piece per shift instance."""
        pieces = []
        for instance in self.instances(start, end):
            piece_start, piece_end = max(instance.start, start), min(instance.end, end)
            if piece_end <= piece_start:
                continue
            windows = pure_shifts.shift_planned_down_windows(instance, self.planned_down_windows)
            pieces.append(
                _Slice(
                    start=piece_start,
                    end=piece_end,
                    start_s=piece_start.timestamp(),
                    end_s=piece_end.timestamp(),
                    planned_down_windows=tuple(window.epoch_s() for window in windows),
                    instance=instance,
                )
            )
        return pieces


@dataclass(frozen=True, slots=True)
class _Slice:
    start: datetime
    end: datetime
    start_s: float
    end_s: float
    planned_down_windows: tuple[tuple[float, float], ...]
    instance: pure_shifts.ShiftInstance


@dataclass
class CalendarBook:
    """Resolved calendars by line and by site (from :func:`calendar_book_load`)."""

    by_line: dict[int, ResolvedCalendar] = field(default_factory=dict)
    by_site: dict[int, ResolvedCalendar] = field(default_factory=dict)

    def for_line(self, line_id: int) -> ResolvedCalendar:
        return self.by_line[line_id]

    def for_site(self, site_id: int) -> ResolvedCalendar:
        return self.by_site[site_id]


def _pure_calendar(db_calendar: ShiftCalendar | None, time_zone: str) -> pure_shifts.ShiftCalendar:
    if db_calendar is None:
        return pure_shifts.ShiftCalendar(time_zone=time_zone, shifts=DEFAULT_SHIFTS)
    try:
        definitions = tuple(
            pure_shifts.ShiftDefinition(
                name=shift.name,
                start_local=shift.start_time.replace(microsecond=0),
                end_local=shift.end_time.replace(microsecond=0),
                weekdays=frozenset(int(day) for day in shift.weekdays if day.isdigit()),
                breaks=tuple(
                    pure_shifts.BreakDefinition(
                        start_local=shift_break.start_time.replace(microsecond=0),
                        end_local=shift_break.end_time.replace(microsecond=0),
                        name=shift_break.name,
                    )
                    for shift_break in shift.breaks.all()
                ),
            )
            for shift in db_calendar.shifts.all()
        )
        return pure_shifts.ShiftCalendar(time_zone=time_zone, shifts=definitions)
    except ValueError as error:
        raise CalendarInvalid(
            f"Shift calendar {db_calendar.name!r} cannot be used: {error}",
            calendar_id=db_calendar.pk,
        ) from error


def _windows(downtimes: Iterable[PlannedDowntime]) -> tuple[pure_shifts.TimeWindow, ...]:
    return tuple(pure_shifts.TimeWindow(item.start_at, item.end_at) for item in downtimes)


def calendar_book_load(
    *,
    line_ids: Iterable[int],
    site_ids: Iterable[int],
    site_time_zones: dict[int, str],
    line_sites: dict[int, int],
    range_start: datetime,
    range_end: datetime,
) -> CalendarBook:
    """Resolve the calendars of the lines and sites; planned downtime inside the range.

    Four queries (calendars, shifts, breaks, planned downtime) for any number of lines.
    A line's own calendar replaces its site's shifts; its planned downtime windows win over
    the site's where they overlap (site windows overlapping none still apply).
    """
    line_ids, site_ids = set(line_ids), set(site_ids) | set(line_sites.values())
    calendars = list(
        ShiftCalendar.objects.filter(
            Q(line_id__in=line_ids) | Q(line__isnull=True, site_id__in=site_ids)
        ).prefetch_related("shifts__breaks")
    )
    downtimes: dict[int, list[PlannedDowntime]] = defaultdict(list)
    for downtime in PlannedDowntime.objects.filter(
        calendar__in=calendars, start_at__lt=range_end, end_at__gt=range_start
    ).order_by("start_at"):
        downtimes[downtime.calendar_id].append(downtime)
    site_calendar = {c.site_id: c for c in calendars if c.line_id is None}
    line_calendar = {c.line_id: c for c in calendars if c.line_id is not None}
    book = CalendarBook()
    for site_id in site_ids:
        db_calendar = site_calendar.get(site_id)
        book.by_site[site_id] = ResolvedCalendar(
            calendar=_pure_calendar(db_calendar, site_time_zones[site_id]),
            calendar_id=db_calendar.pk if db_calendar else None,
            is_line_calendar=False,
            planned_down_windows=_windows(downtimes[db_calendar.pk]) if db_calendar else (),
        )
    for line_id in line_ids:
        site_id = line_sites[line_id]
        site_resolved = book.by_site[site_id]
        own = line_calendar.get(line_id)
        if own is None:
            book.by_line[line_id] = site_resolved
            continue
        book.by_line[line_id] = ResolvedCalendar(
            calendar=_pure_calendar(own, site_time_zones[site_id]),
            calendar_id=own.pk,
            is_line_calendar=True,
            planned_down_windows=pure_shifts.resolve_planned_down_windows(
                site_windows=site_resolved.planned_down_windows,
                line_windows=_windows(downtimes[own.pk]),
            ),
        )
    return book


def calendar_book_for(
    refs: Sequence[EquipmentRef], *, range_start: datetime, range_end: datetime
) -> CalendarBook:
    """The calendars of the lines and sites of ``refs`` (see :func:`calendar_book_load`)."""
    return calendar_book_load(
        line_ids={ref.line_id for ref in refs},
        site_ids={ref.site_id for ref in refs},
        site_time_zones={ref.site_id: ref.time_zone for ref in refs},
        line_sites={ref.line_id: ref.site_id for ref in refs},
        range_start=range_start,
        range_end=range_end,
    )


# --- elements from the database ----------


@dataclass(frozen=True, slots=True)
class EquipmentPeriodResult:
    """Elements of one equipment over one window, with its stop details.

    ``counts_without_run_time`` units were counted while no operation with a PRU ran on the
    equipment: they are in PQ/GQ/SQ/RQ but add no planned time (effectiveness is understated
    and flagged ``has_counts_without_run_time``).
    """

    equipment_id: int
    elements: OeeElements
    minor_stop_count: int
    needs_reason_count: int
    counts_without_run_time: int


def _epoch(value: datetime) -> float:
    return value.timestamp()


def _interval_arrays(rows: Sequence[tuple], now_s: float) -> StateIntervalArrays:
    """Rows (start_s, end_s or None while open, state, reason element) → arrays.

    An open interval lasts until ``now_s``.
    """
    count = len(rows)
    start_s = np.fromiter((row[0] for row in rows), np.float64, count)
    end_s = np.fromiter(
        (max(now_s, row[0]) if row[1] is None else row[1] for row in rows), np.float64, count
    )
    state_code = np.fromiter((STATE_CODES[row[2]] for row in rows), np.intp, count)
    reason_code = np.fromiter(
        (NO_REASON_CODE if row[3] is None else REASON_CODES[row[3]] for row in rows),
        np.intp,
        count,
    )
    return StateIntervalArrays(
        start_s=start_s, end_s=end_s, state_code=state_code, reason_code=reason_code
    )


def _epoch_seconds(field_name: str):
    """``field`` as epoch seconds computed by PostgreSQL (no datetime objects in Python)."""
    return Cast(Extract(field_name, "epoch"), FloatField())


def _interval_rows(
    equipment_ids: Sequence[int], start: datetime, end: datetime
) -> dict[int, list[tuple]]:
    """Intervals overlapping ``[start, end)`` by equipment, in time order, as
    (start_s, end_s or None, state, reason ISO element) with epoch seconds."""
    grouped: dict[int, list[tuple]] = defaultdict(list)
    queryset = (
        EquipmentStateInterval.objects.filter(equipment_id__in=equipment_ids, start_at__lt=end)
        .filter(Q(end_at__isnull=True) | Q(end_at__gt=start))
        .order_by("equipment_id", "start_at")
    )
    if connection.vendor == "postgresql":
        rows = queryset.annotate(
            start_s=_epoch_seconds("start_at"), end_s=_epoch_seconds("end_at")
        ).values_list("equipment_id", "start_s", "end_s", "state", "reason__iso_element")
        for equipment_id, *rest in rows:
            grouped[equipment_id].append(tuple(rest))
        return grouped
    for equipment_id, start_at, end_at, state, element in queryset.values_list(
        "equipment_id", "start_at", "end_at", "state", "reason__iso_element"
    ):
        grouped[equipment_id].append(
            (start_at.timestamp(), end_at.timestamp() if end_at else None, state, element)
        )
    return grouped


@dataclass
class _CountSums:
    good: int = 0
    scrap: int = 0
    rework: int = 0
    planned_good_s: float = 0.0
    planned_scrap_s: float = 0.0
    planned_rework_s: float = 0.0
    without_run_time: int = 0

    def add(self, good: int, scrap: int, rework: int, run_time_per_unit_s: float | None) -> None:
        self.good += good
        self.scrap += scrap
        self.rework += rework
        if run_time_per_unit_s is None or not run_time_per_unit_s > 0:
            self.without_run_time += good + scrap + rework
        else:
            self.planned_good_s += run_time_per_unit_s * good
            self.planned_scrap_s += run_time_per_unit_s * scrap
            self.planned_rework_s += run_time_per_unit_s * rework

    def elements(self) -> OeeElements:
        return OeeElements(
            produced_quantity=self.good + self.scrap + self.rework,
            good_quantity=self.good,
            scrap_quantity=self.scrap,
            rework_quantity=self.rework,
            planned_time_of_produced_s=(
                self.planned_good_s + self.planned_scrap_s + self.planned_rework_s
            ),
            planned_time_of_scrap_s=self.planned_scrap_s,
            planned_time_of_rework_s=self.planned_rework_s,
        )


def _count_buckets(
    equipment_ids: Sequence[int],
    boundaries: Sequence[datetime],
    *,
    work_order_id: int | None = None,
) -> dict[tuple[int, int], list[tuple[int, int, int, float | None]]]:
    """Counts summed per (equipment, bucket, PRU); bucket k = [boundaries[k], boundaries[k+1]).

    One query: the database sums, Python only sees one row per bucket and PRU.
    """
    if len(boundaries) < 2 or not equipment_ids:
        return {}
    whens = [
        When(ts__lt=boundary, then=Value(index)) for index, boundary in enumerate(boundaries[1:-1])
    ]
    bucket = Case(*whens, default=Value(len(boundaries) - 2), output_field=IntegerField())
    queryset = ProductionCount.objects.filter(
        equipment_id__in=equipment_ids, ts__gte=boundaries[0], ts__lt=boundaries[-1]
    )
    if work_order_id is not None:
        queryset = queryset.filter(work_order_id=work_order_id)
    rows = (
        queryset.annotate(bucket=bucket)
        .values("equipment_id", "bucket", "planned_run_time_per_unit_s")
        .annotate(good_sum=Sum("good"), scrap_sum=Sum("scrap"), rework_sum=Sum("rework"))
        .order_by()
    )
    grouped: dict[tuple[int, int], list[tuple[int, int, int, float | None]]] = defaultdict(list)
    for row in rows:
        grouped[(row["equipment_id"], row["bucket"])].append(
            (
                row["good_sum"] or 0,
                row["scrap_sum"] or 0,
                row["rework_sum"] or 0,
                row["planned_run_time_per_unit_s"],
            )
        )
    return grouped


def equipment_period_compute(
    refs: Sequence[EquipmentRef],
    book: CalendarBook,
    *,
    window_start: datetime,
    window_end: datetime,
    now: datetime,
    sub_windows: dict[int, list[tuple[datetime, datetime]]] | None = None,
    work_order_id: int | None = None,
) -> dict[int, EquipmentPeriodResult]:
    """Elements of each equipment over ``[window_start, window_end)`` (capped at ``now``).

    Only shift time is planned: the window is cut at the equipment's shift instances and
    each piece is computed with that shift's breaks and planned downtime. ``sub_windows``
    narrows it further per equipment (the run of a work order's operation there);
    ``work_order_id`` keeps only the counts booked to that order. Two queries.
    """
    threshold_s = micro_stop_threshold_s()
    end = min(window_end, now)
    pieces_by_equipment: dict[int, list[_Slice]] = {}
    slice_cache: dict[tuple[int, datetime, datetime], list[_Slice]] = {}
    for ref in refs:
        resolved = book.for_line(ref.line_id)
        ranges = (
            [(window_start, end)]
            if sub_windows is None
            else [
                (max(start, window_start), min(stop, end))
                for start, stop in sub_windows.get(ref.id, [])
            ]
        )
        pieces: list[_Slice] = []
        for range_start, range_end in ranges:
            if range_end <= range_start:
                continue
            key = (id(resolved), range_start, range_end)
            if key not in slice_cache:
                slice_cache[key] = resolved.slices(range_start, range_end)
            pieces.extend(slice_cache[key])
        pieces_by_equipment[ref.id] = pieces
    equipment_ids = [ref.id for ref in refs if pieces_by_equipment[ref.id]]
    margin = timedelta(seconds=threshold_s)
    intervals = (
        _interval_rows(equipment_ids, window_start - margin, end + margin) if equipment_ids else {}
    )
    boundaries = sorted(
        {
            edge
            for ref_id in equipment_ids
            for piece in pieces_by_equipment[ref_id]
            for edge in (piece.start, piece.end)
        }
    )
    boundary_index = {moment: index for index, moment in enumerate(boundaries)}
    counts = _count_buckets(equipment_ids, boundaries, work_order_id=work_order_id)
    now_s = now.timestamp()
    results: dict[int, EquipmentPeriodResult] = {}
    for ref in refs:
        pieces = pieces_by_equipment[ref.id]
        arrays = _interval_arrays(intervals.get(ref.id, []), now_s)
        parts: list[OeeElements] = []
        minor_stop_count = 0
        needs_reason_starts: set[float] = set()
        count_sums = _CountSums()
        for piece in pieces:
            timeline = compute_time_elements_arrays(
                arrays,
                period_start_s=piece.start_s,
                period_end_s=piece.end_s,
                planned_down_windows=piece.planned_down_windows,
                micro_stop_threshold_s=threshold_s,
            )
            parts.append(timeline.elements)
            minor_stop_count += timeline.minor_stop_count
            needs_reason_starts.update(item.start_s for item in timeline.needs_reason)
            first, last = boundary_index[piece.start], boundary_index[piece.end]
            for bucket in range(first, last):
                for good, scrap, rework, run_time in counts.get((ref.id, bucket), ()):
                    count_sums.add(good, scrap, rework, run_time)
        parts.append(count_sums.elements())
        results[ref.id] = EquipmentPeriodResult(
            equipment_id=ref.id,
            elements=rollup(parts),
            minor_stop_count=minor_stop_count,
            needs_reason_count=len(needs_reason_starts),
            counts_without_run_time=count_sums.without_run_time,
        )
    return results


# --- reports: elements → KPIs, flags, six big losses --------------------------------------------

ELEMENT_FIELDS = (
    "planned_operation_time_s",
    "planned_down_time_s",
    "planned_busy_time_s",
    "actual_production_time_s",
    "actual_setup_time_s",
    "actual_processing_time_s",
    "actual_delay_time_s",
    "actual_down_time_s",
    "no_data_time_s",
    "minor_stop_time_s",
    "needs_reason_time_s",
    "produced_quantity",
    "good_quantity",
    "scrap_quantity",
    "rework_quantity",
    "planned_time_of_produced_s",
    "planned_time_of_scrap_s",
    "planned_time_of_rework_s",
)
KPI_FIELDS = (
    "availability",
    "effectiveness",
    "quality_ratio",
    "oee",
    "nee",
    "technical_efficiency",
    "setup_rate",
    "scrap_ratio",
    "rework_ratio",
    "data_coverage",
)


def oee_report(
    elements: OeeElements,
    *,
    minor_stop_count: int = 0,
    needs_reason_count: int = 0,
    counts_without_run_time: int = 0,
) -> dict[str, Any]:
    """Elements, KPIs and flags of (summed) elements as plain data for the API."""
    kpis: OeeKpis = compute_kpis(elements)
    flags = list(kpis.flags)
    if counts_without_run_time:
        flags.append("has_counts_without_run_time")
    return {
        "elements": {name: getattr(elements, name) for name in ELEMENT_FIELDS},
        "kpis": {name: getattr(kpis, name) for name in KPI_FIELDS},
        "flags": flags,
        "minor_stop_count": minor_stop_count,
        "needs_reason_count": needs_reason_count,
        "counts_without_run_time": counts_without_run_time,
    }


def _sum_results(results: Iterable[EquipmentPeriodResult]) -> dict[str, Any]:
    results = list(results)
    return oee_report(
        rollup(result.elements for result in results),
        minor_stop_count=sum(result.minor_stop_count for result in results),
        needs_reason_count=sum(result.needs_reason_count for result in results),
        counts_without_run_time=sum(result.counts_without_run_time for result in results),
    )


def six_big_losses_waterfall(elements: OeeElements) -> dict[str, Any]:
    """The six big losses as a waterfall from the observed busy time to fully productive time.

    Each step is ``{"key", "label", "iso", "duration_s"}``; steps are subtracted in order from
    ``start_s`` (PBT − no data) and end at the fully productive time. ``idle`` (ADOT) and
    ``unaccounted`` close the reconciliation; the sum of the steps equals start − end exactly.
    """
    losses = six_big_losses(elements)
    steps = [
        ("breakdowns_s", "Breakdowns", losses.breakdowns_s),
        ("setup_and_adjustments_s", "Setup and adjustments", losses.setup_and_adjustments_s),
        ("minor_stops_s", "Minor stops", losses.minor_stops_s),
        ("idle_s", "Idle (no order, starved, blocked)", losses.idle_s),
        ("reduced_speed_s", "Reduced speed", losses.reduced_speed_s),
        ("scrap_s", "Scrap", losses.scrap_s),
        ("rework_s", "Rework", losses.rework_s),
        ("unaccounted_s", "Unaccounted", losses.unaccounted_s),
    ]
    iso_terms = {
        **SIX_BIG_LOSSES_ISO_TERMS,
        "idle_s": "ADOT",
        "unaccounted_s": "PBT − (APT + AUST + ADET + ADOT + no data)",
    }
    return {
        "start_s": elements.observed_busy_time_s,
        "planned_busy_time_s": elements.planned_busy_time_s,
        "no_data_s": losses.no_data_s,
        "steps": [
            {"key": key, "label": label, "iso": iso_terms[key], "duration_s": value}
            for key, label, value in steps
        ],
        "fully_productive_s": losses.fully_productive_s,
        "needs_reason_s": losses.needs_reason_s,
    }


# --- live OEE of the open shift ----------


def _redis():
    """The Redis client of the live counters (lazy, shared per process)."""
    global _REDIS_CLIENT
    if _REDIS_CLIENT is None:
        import redis

        _REDIS_CLIENT = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=1.0, socket_connect_timeout=1.0
        )
    return _REDIS_CLIENT


_REDIS_CLIENT = None
VERSION_KEY = "mes:oee:version:{}"


@dataclass
class _LiveEntry:
    ref: EquipmentRef
    instance: pure_shifts.ShiftInstance
    next_change_at: datetime  # rebuild when the current shift ends or the next one starts
    accumulator: OpenPeriodAccumulator
    counts: _CountSums
    state: str | None
    reason_id: int | None
    state_since: datetime | None
    version: int | None
    built_monotonic_s: float


@dataclass(frozen=True, slots=True)
class LiveEquipmentOee:
    """The open (or latest) shift of one equipment, as of ``now``."""

    ref: EquipmentRef
    shift_name: str
    shift_start_at: datetime
    shift_end_at: datetime
    is_open: bool
    state: str | None
    reason_id: int | None
    state_since: datetime | None
    result: EquipmentPeriodResult


class LiveOee:
    """In-process accumulators of the open shift, one per equipment.

    The ingest service calls :meth:`apply` after each committed batch with the intervals it
    opened and the counts it stored; a read (:meth:`get`) compares each entry's version with
    the equipment's counter in Redis (one MGET) and rebuilds from the database only the
    entries that another process (or a late event, a reclassified stop) changed, that are
    older than ``OEE_LIVE_MAX_AGE_S`` or whose shift has ended. Without Redis every read
    rebuilds: slower, never wrong.
    """

    def __init__(self) -> None:
        self._entries: dict[int, _LiveEntry] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    # versions ------------------------------------------------------------------------
    @staticmethod
    def versions_bump(equipment_ids: Sequence[int]) -> dict[int, int] | None:
        """Increment the equipment's version counters (after commit); None without Redis."""
        if not equipment_ids:
            return {}
        try:
            pipeline = _redis().pipeline(transaction=False)
            for equipment_id in equipment_ids:
                pipeline.incr(VERSION_KEY.format(equipment_id))
            values = pipeline.execute()
        except Exception:
            logger.warning("OEE live counters unavailable (Redis)", exc_info=True)
            return None
        return dict(zip(equipment_ids, (int(value) for value in values), strict=True))

    @staticmethod
    def versions_read(equipment_ids: Sequence[int]) -> dict[int, int] | None:
        if not equipment_ids:
            return {}
        try:
            values = _redis().mget([VERSION_KEY.format(i) for i in equipment_ids])
        except Exception:
            logger.warning("OEE live counters unavailable (Redis)", exc_info=True)
            return None
        return {
            equipment_id: int(value) if value is not None else 0
            for equipment_id, value in zip(equipment_ids, values, strict=True)
        }

    # feeding -----------------------------------------------------------------------------
    def apply(
        self,
        equipment_id: int,
        *,
        new_version: int | None,
        state_changes: Sequence[tuple[datetime, str, str | None, int | None]],
        counts: Sequence[tuple[datetime, int, int, int, float | None]],
    ) -> bool:
        """Apply a committed batch of one equipment; False if the entry had to be dropped.

        ``state_changes`` are the intervals the batch opened (start, state, ISO element of the
        reason, reason id), in time order; ``counts`` the counts it stored. The entry is kept
        only if it was current just before this batch (version = new − 1).
        """
        with self._lock:
            entry = self._entries.get(equipment_id)
            if entry is None:
                return False
            if new_version is None or entry.version is None or entry.version != new_version - 1:
                del self._entries[equipment_id]
                return False
            try:
                for start, state, reason_element, reason_id in state_changes:
                    if start >= entry.instance.end:
                        raise LateEventError(start.timestamp(), entry.instance.end.timestamp())
                    entry.accumulator.apply(start.timestamp(), state, reason_element)
                    entry.state, entry.reason_id, entry.state_since = state, reason_id, start
                for ts, good, scrap, rework, run_time in counts:
                    if ts >= entry.instance.end:
                        raise LateEventError(ts.timestamp(), entry.instance.end.timestamp())
                    if ts >= entry.instance.start:
                        entry.counts.add(good, scrap, rework, run_time)
            except ValueError:  # late, or past the shift: rebuild on the next read
                del self._entries[equipment_id]
                return False
            entry.version = new_version
            return True

    def invalidate(self, equipment_ids: Iterable[int]) -> None:
        with self._lock:
            for equipment_id in equipment_ids:
                self._entries.pop(equipment_id, None)

    # reading -------------------------------------------------------------------------------
    def get(self, refs: Sequence[EquipmentRef], *, now: datetime) -> dict[int, LiveEquipmentOee]:
        """The live OEE of each equipment's open (or latest) shift as of ``now``."""
        versions = self.versions_read([ref.id for ref in refs])
        now_monotonic_s = monotonic_time.monotonic()
        max_age_s = live_max_age_s()
        stale: list[EquipmentRef] = []
        with self._lock:
            for ref in refs:
                entry = self._entries.get(ref.id)
                if (
                    entry is None
                    or versions is None
                    or entry.version != versions.get(ref.id)
                    or now >= entry.next_change_at
                    or now_monotonic_s - entry.built_monotonic_s > max_age_s
                    or now.timestamp() < entry.accumulator.last_event_s
                    or now < entry.instance.start
                ):
                    stale.append(ref)
        if stale:
            built = self._build(stale, now=now, versions=versions)
            with self._lock:
                self._entries.update(built)
        results: dict[int, LiveEquipmentOee] = {}
        with self._lock:
            for ref in refs:
                entry = self._entries.get(ref.id)
                if entry is None:
                    continue
                now_s = max(now.timestamp(), entry.accumulator.last_event_s)
                timeline = entry.accumulator.snapshot(now_s)
                results[ref.id] = LiveEquipmentOee(
                    ref=ref,
                    shift_name=entry.instance.shift_name,
                    shift_start_at=entry.instance.start,
                    shift_end_at=entry.instance.end,
                    is_open=entry.instance.contains(now),
                    state=entry.state,
                    reason_id=entry.reason_id,
                    state_since=entry.state_since,
                    result=EquipmentPeriodResult(
                        equipment_id=ref.id,
                        elements=timeline.elements + entry.counts.elements(),
                        minor_stop_count=timeline.minor_stop_count,
                        needs_reason_count=len(timeline.needs_reason),
                        counts_without_run_time=entry.counts.without_run_time,
                    ),
                )
        return results

    def _build(
        self, refs: Sequence[EquipmentRef], *, now: datetime, versions: dict[int, int] | None
    ) -> dict[int, _LiveEntry]:
        threshold_s = micro_stop_threshold_s()
        book = calendar_book_for(
            refs, range_start=now - timedelta(days=2), range_end=now + timedelta(days=2)
        )
        chosen: dict[int, tuple[ResolvedCalendar, pure_shifts.ShiftInstance, datetime]] = {}
        per_calendar: dict[int, tuple[pure_shifts.ShiftInstance, datetime] | None] = {}
        for ref in refs:
            resolved = book.for_line(ref.line_id)
            key = id(resolved)
            if key not in per_calendar:
                per_calendar[key] = _current_or_latest_instance(resolved, now)
            found = per_calendar[key]
            if found is not None:
                chosen[ref.id] = (resolved, *found)
        if not chosen:
            return {}
        earliest = min(instance.start for _, instance, _ in chosen.values())
        margin = timedelta(seconds=threshold_s)
        intervals = _interval_rows(list(chosen), earliest - margin, now + margin)
        count_rows: dict[int, _CountSums] = defaultdict(_CountSums)
        by_window: dict[tuple[datetime, datetime], list[int]] = defaultdict(list)
        for equipment_id, (_, instance, _) in chosen.items():
            by_window[(instance.start, instance.end)].append(equipment_id)
        for (start, end), ids in by_window.items():
            rows = (
                ProductionCount.objects.filter(equipment_id__in=ids, ts__gte=start, ts__lt=end)
                .values("equipment_id", "planned_run_time_per_unit_s")
                .annotate(good_sum=Sum("good"), scrap_sum=Sum("scrap"), rework_sum=Sum("rework"))
                .order_by()
            )
            for row in rows:
                count_rows[row["equipment_id"]].add(
                    row["good_sum"] or 0,
                    row["scrap_sum"] or 0,
                    row["rework_sum"] or 0,
                    row["planned_run_time_per_unit_s"],
                )
        open_intervals = _open_intervals(list(chosen))
        entries: dict[int, _LiveEntry] = {}
        built_s = monotonic_time.monotonic()
        for ref in refs:
            if ref.id not in chosen:
                continue
            resolved, instance, next_change_at = chosen[ref.id]
            windows = pure_shifts.shift_planned_down_windows(
                instance, resolved.planned_down_windows
            )
            accumulator, state, reason_id, since = _accumulator_from_rows(
                intervals.get(ref.id, []),
                open_intervals.get(ref.id),
                instance=instance,
                planned_down_windows=tuple(window.epoch_s() for window in windows),
                threshold_s=threshold_s,
            )
            entries[ref.id] = _LiveEntry(
                ref=ref,
                instance=instance,
                next_change_at=next_change_at,
                accumulator=accumulator,
                counts=count_rows.get(ref.id, _CountSums()),
                state=state,
                reason_id=reason_id,
                state_since=since,
                version=None if versions is None else versions.get(ref.id, 0),
                built_monotonic_s=built_s,
            )
        return entries


def _open_intervals(equipment_ids: list[int]) -> dict[int, tuple[datetime, int | None]]:
    """The open interval of each equipment: (its exact start, its reason id)."""
    return {
        equipment_id: (start_at, reason_id)
        for equipment_id, start_at, reason_id in EquipmentStateInterval.objects.filter(
            equipment_id__in=equipment_ids, end_at__isnull=True
        ).values_list("equipment_id", "start_at", "reason_id")
    }


def _current_or_latest_instance(
    resolved: ResolvedCalendar, now: datetime
) -> tuple[pure_shifts.ShiftInstance, datetime] | None:
    """The shift instance containing ``now``, else the latest one that ended (2 days back).

    Returns it with the moment the answer changes (its end, or the next instance's start).
    """
    around = resolved.instances(now - timedelta(days=2), now + timedelta(days=2))
    for instance in around:
        if instance.contains(now):
            return instance, instance.end
    ended = [instance for instance in around if instance.end <= now]
    upcoming = [instance.start for instance in around if instance.start > now]
    if not ended:
        return None
    next_change_at = min(upcoming) if upcoming else now + timedelta(hours=1)
    return ended[-1], next_change_at


def _accumulator_from_rows(
    rows: Sequence[tuple],
    open_interval: tuple[datetime, int | None] | None,
    *,
    instance: pure_shifts.ShiftInstance,
    planned_down_windows: tuple[tuple[float, float], ...],
    threshold_s: float,
) -> tuple[OpenPeriodAccumulator, str | None, int | None, datetime | None]:
    """An accumulator of the shift fed with the stored intervals (gaps are no data).

    ``rows``: (start_s, end_s or None, state, reason element) in time order. Returns it with
    the current state, its reason id and since when.
    """
    period_start_s = instance.start.timestamp()
    # Runs of touching intervals with the same state and reason are one stop; find where the
    # run holding the period start began, so its full length decides minor stop or not.
    first = next(
        (
            index
            for index, (_, end_s, _, _) in enumerate(rows)
            if end_s is None or end_s > period_start_s
        ),
        None,
    )
    accumulator_kwargs: dict[str, Any] = {}
    if first is not None and rows[first][0] <= period_start_s:
        run_start = first
        while (
            run_start > 0
            and rows[run_start - 1][1] == rows[run_start][0]
            and rows[run_start - 1][2:] == rows[first][2:]
        ):
            run_start -= 1
        accumulator_kwargs = {
            "initial_state": rows[first][2],
            "initial_reason_element": rows[first][3],
            "initial_state_since_s": rows[run_start][0],
        }
    accumulator = OpenPeriodAccumulator(
        period_start_s=period_start_s,
        period_end_s=instance.end.timestamp(),
        planned_down_windows=planned_down_windows,
        micro_stop_threshold_s=threshold_s,
        **accumulator_kwargs,
    )
    if first is None:
        return accumulator, None, None, None
    previous_end_s: float | None = None
    for index in range(first, len(rows)):
        start_s, end_s, row_state, reason_element = rows[index]
        if index > first or "initial_state" not in accumulator_kwargs:
            if previous_end_s is not None and previous_end_s < start_s:
                accumulator.apply(previous_end_s, EquipmentState.UNKNOWN)
            accumulator.apply(start_s, row_state, reason_element)
        previous_end_s = end_s
    if previous_end_s is not None:  # the last interval is closed: no data after it
        accumulator.apply(previous_end_s, EquipmentState.UNKNOWN)
        return (
            accumulator,
            EquipmentState.UNKNOWN.value,
            None,
            datetime.fromtimestamp(previous_end_s, tz=UTC),
        )
    since, reason_id = open_interval if open_interval is not None else (None, None)
    return accumulator, rows[-1][2], reason_id, since


live_oee = LiveOee()


# --- current, window and work-order OEE for the API ------------------------------------------


def _scope_refs(scope: str, scope_id: int) -> list[EquipmentRef]:
    if scope == OeeScope.EQUIPMENT:
        return equipment_refs(equipment_ids=[scope_id])
    if scope == OeeScope.LINE:
        return equipment_refs(line_ids=[scope_id])
    if scope == OeeScope.AREA:
        return equipment_refs(area_ids=[scope_id])
    return equipment_refs(site_ids=[scope_id])


def _scope_key(scope: str, ref: EquipmentRef) -> int:
    return {
        OeeScope.EQUIPMENT: ref.id,
        OeeScope.LINE: ref.line_id,
        OeeScope.AREA: ref.area_id,
        OeeScope.SITE: ref.site_id,
    }[scope]


def oee_current(
    *, scope: str, scope_ids: Sequence[int], now: datetime | None = None
) -> dict[int, dict[str, Any]]:
    """Live OEE of the open shift for each scope object (summed elements of its equipment).

    For a line the shift is the line's; an area or site sums each equipment's current shift.
    Between shifts the latest ended shift is reported (``is_open`` false). Scope objects
    without active equipment get a report of zeros and ``shift`` null.
    """
    now = now or timezone.now()
    field_name = {
        OeeScope.EQUIPMENT: "id",
        OeeScope.LINE: "line_ids",
        OeeScope.AREA: "area_ids",
        OeeScope.SITE: "site_ids",
    }[scope]
    ids = list(scope_ids)
    refs = (
        equipment_refs(equipment_ids=ids)
        if field_name == "id"
        else equipment_refs(**{field_name: ids})
    )
    live = live_oee.get(refs, now=now)
    grouped: dict[int, list[LiveEquipmentOee]] = defaultdict(list)
    for ref in refs:
        if ref.id in live:
            grouped[_scope_key(scope, ref)].append(live[ref.id])
    reports: dict[int, dict[str, Any]] = {}
    for scope_id in ids:
        members = grouped.get(scope_id, [])
        report = _sum_results(member.result for member in members)
        starts = [member.shift_start_at for member in members]
        ends = [member.shift_end_at for member in members]
        names = sorted({member.shift_name for member in members})
        report.update(
            {
                "scope": scope,
                "scope_id": scope_id,
                "period": OeePeriod.SHIFT.value,
                "shift": ", ".join(names) if names else None,
                "period_start_at": min(starts) if starts else None,
                "period_end_at": max(ends) if ends else None,
                "is_open": any(member.is_open for member in members),
                "computed_at": now,
                "equipment": [
                    {
                        "equipment_id": member.ref.id,
                        "code": member.ref.code,
                        "state": member.state,
                        "state_since": member.state_since,
                        "reason_id": member.reason_id,
                        **{
                            name: value
                            for name, value in oee_report(
                                member.result.elements,
                                minor_stop_count=member.result.minor_stop_count,
                                needs_reason_count=member.result.needs_reason_count,
                                counts_without_run_time=member.result.counts_without_run_time,
                            )["kpis"].items()
                            if name in ("availability", "effectiveness", "quality_ratio", "oee")
                        },
                    }
                    for member in members
                ],
            }
        )
        reports[scope_id] = report
    return reports


def oee_window(
    *,
    scope: str,
    scope_id: int,
    start: datetime,
    end: datetime,
    now: datetime | None = None,
) -> tuple[dict[str, Any], OeeElements]:
    """OEE of one scope object over any window, computed from the database."""
    now = now or timezone.now()
    refs = _scope_refs(scope, scope_id)
    book = calendar_book_for(refs, range_start=start, range_end=end)
    results = equipment_period_compute(refs, book, window_start=start, window_end=end, now=now)
    report = _sum_results(results.values())
    elements = rollup(result.elements for result in results.values())
    report.update(
        {
            "scope": scope,
            "scope_id": scope_id,
            "period_start_at": start,
            "period_end_at": end,
            "computed_at": now,
        }
    )
    return report, elements


def work_order_sub_windows(
    work_order: WorkOrder, *, now: datetime
) -> dict[int, list[tuple[datetime, datetime]]]:
    """Per equipment, the runs of the order's operations there (started ones)."""
    windows: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    operations = Operation.objects.filter(
        work_order=work_order,
        assigned_equipment__isnull=False,
        actual_start_at__isnull=False,
    ).values_list("assigned_equipment_id", "actual_start_at", "actual_end_at")
    for equipment_id, start_at, end_at in operations:
        windows[equipment_id].append((start_at, end_at or now))
    return windows


def oee_work_order(*, work_order: WorkOrder, now: datetime | None = None) -> dict[str, Any]:
    """OEE of a work order: each equipment over its operations' runs, the order's counts."""
    now = now or timezone.now()
    windows = work_order_sub_windows(work_order, now=now)
    refs = equipment_refs(equipment_ids=list(windows), include_inactive=True)
    start = min((s for runs in windows.values() for s, _ in runs), default=now)
    end = max((e for runs in windows.values() for _, e in runs), default=now)
    book = calendar_book_for(refs, range_start=start, range_end=end)
    results = equipment_period_compute(
        refs,
        book,
        window_start=start,
        window_end=max(end, start),
        now=now,
        sub_windows=windows,
        work_order_id=work_order.pk,
    )
    report = _sum_results(results.values())
    report.update(
        {
            "work_order_id": work_order.pk,
            "work_order_number": work_order.number,
            "period_start_at": start,
            "period_end_at": end,
            "is_open": work_order.state not in ("completed", "cancelled"),
            "computed_at": now,
        }
    )
    return report


# --- scoped reads for the API ----------


def oee_snapshot_list(*, user) -> QuerySet[OeeSnapshot]:
    """Snapshots of the scope objects the user may see (sites/areas only with the site)."""
    queryset = OeeSnapshot.objects.select_related("work_order")
    scope = scope_get(user)
    if scope.is_unrestricted:
        return queryset
    visible_equipment = equipment_list(user=user).values("id")
    visible_lines = list(scope.line_ids)
    condition = (
        Q(scope=OeeScope.EQUIPMENT, scope_id__in=visible_equipment)
        | Q(scope=OeeScope.LINE, scope_id__in=visible_lines)
        | Q(scope=OeeScope.LINE, scope_id__in=_lines_of_sites(scope.site_ids))
        | Q(scope=OeeScope.AREA, scope_id__in=_areas_of_sites(scope.site_ids))
        | Q(scope=OeeScope.SITE, scope_id__in=list(scope.site_ids))
    )
    return queryset.filter(condition)


def _lines_of_sites(site_ids: Iterable[int]):
    from production.models import Line

    return Line.objects.filter(area__site_id__in=list(site_ids)).values("id")


def _areas_of_sites(site_ids: Iterable[int]):
    from production.models import Area

    return Area.objects.filter(site_id__in=list(site_ids)).values("id")


def state_interval_list(*, user) -> QuerySet[EquipmentStateInterval]:
    """State intervals of the equipment the user may see."""
    from mes_site.scope import scope_filter

    return scope_filter(
        EquipmentStateInterval.objects.select_related("equipment", "reason", "classified_by"),
        user,
        line="equipment__cell__line_id",
        site="equipment__cell__line__area__site_id",
    )


def needs_reason_list(*, user, now: datetime | None = None) -> QuerySet[EquipmentStateInterval]:
    """Unexplained stops at least as long as the micro-stop threshold, oldest first.

    Closed ones carry the ``needs_reason`` flag; an open ``down`` interval without a reason
    joins the list once it has lasted the threshold.
    """
    now = now or timezone.now()
    threshold = timedelta(seconds=micro_stop_threshold_s())
    return (
        state_interval_list(user=user)
        .filter(
            Q(needs_reason=True)
            | Q(
                end_at__isnull=True,
                state=EquipmentState.DOWN.value,
                reason__isnull=True,
                start_at__lte=now - threshold,
            )
        )
        .order_by("start_at")
    )


def alert_list(*, user) -> QuerySet[Alert]:
    """Alerts on the equipment or lines the user may see (newest first)."""
    scope = scope_get(user)
    queryset = Alert.objects.select_related(
        "rule", "equipment", "line", "signal", "acknowledged_by"
    ).order_by("-raised_at", "-id")
    if scope.is_unrestricted:
        return queryset
    return queryset.filter(
        Q(line_id__in=scope.line_ids)
        | Q(line__area__site_id__in=scope.site_ids)
        | Q(equipment__cell__line_id__in=scope.line_ids)
        | Q(equipment__cell__line__area__site_id__in=scope.site_ids)
    )


def alert_rule_list() -> QuerySet[AlertRule]:
    return AlertRule.objects.select_related("equipment", "line")


def equipment_timeline(
    *, equipment: Equipment, start: datetime, end: datetime, now: datetime | None = None
) -> dict[str, Any]:
    """State intervals of one equipment clipped to ``[start, end)``, with its shift time.

    For charts: each interval with its state, reason and flags; the shift instances and the
    planned downtime windows (breaks included) that apply.
    """
    now = now or timezone.now()
    intervals = list(
        EquipmentStateInterval.objects.filter(equipment=equipment, start_at__lt=end)
        .filter(Q(end_at__isnull=True) | Q(end_at__gt=start))
        .select_related("reason")
        .order_by("start_at")
    )
    ref = equipment_refs(equipment_ids=[equipment.pk], include_inactive=True)[0]
    book = calendar_book_for([ref], range_start=start, range_end=end)
    resolved = book.for_line(ref.line_id)
    instances = resolved.instances(start, end)
    return {
        "equipment_id": equipment.pk,
        "start_at": start,
        "end_at": end,
        "intervals": [
            {
                "id": interval.pk,
                "start_at": max(interval.start_at, start),
                "end_at": min(interval.end_at or now, end),
                "is_open": interval.end_at is None,
                "state": interval.state,
                "reason_code": interval.reason.code if interval.reason_id else None,
                "iso_element": interval.reason.iso_element if interval.reason_id else None,
                "needs_reason": interval.needs_reason,
                "is_minor_stop": interval.is_minor_stop,
                "source": interval.source,
            }
            for interval in intervals
            if min(interval.end_at or now, end) > max(interval.start_at, start)
        ],
        "shifts": [
            {
                "name": instance.shift_name,
                "start_at": instance.start,
                "end_at": instance.end,
                "planned_down_windows": [
                    {"start_at": window.start, "end_at": window.end}
                    for window in pure_shifts.shift_planned_down_windows(
                        instance, resolved.planned_down_windows
                    )
                ],
            }
            for instance in instances
        ],
    }


def loss_pareto(
    *,
    scope: str,
    scope_id: int,
    start: datetime,
    end: datetime,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Loss time by downtime reason over ``[start, end)``, largest first, with shares.

    Counts the time of every stop (any state but producing and unknown) inside shift time and
    outside planned downtime, as the OEE elements do. Stops without a reason are grouped by
    state (``down`` without a reason is ``unclassified`` — minor stops and those needing a
    reason apart); planned stops (PDOT) are not losses and are left out.
    """
    now = now or timezone.now()
    refs = _scope_refs(scope, scope_id)
    book = calendar_book_for(refs, range_start=start, range_end=end)
    capped_end = min(end, now)
    busy_by_line: dict[int, list[tuple[float, float]]] = {}
    for ref in refs:
        if ref.line_id in busy_by_line:
            continue
        busy: list[tuple[float, float]] = []
        for piece in book.for_line(ref.line_id).slices(start, capped_end):
            cursor = piece.start_s
            for window_start, window_end in piece.planned_down_windows:
                if window_start > cursor:
                    busy.append((cursor, min(window_start, piece.end_s)))
                cursor = max(cursor, window_end)
            if cursor < piece.end_s:
                busy.append((cursor, piece.end_s))
        busy_by_line[ref.line_id] = busy
    refs_by_id = {ref.id: ref for ref in refs}
    intervals = (
        EquipmentStateInterval.objects.filter(
            equipment_id__in=list(refs_by_id), start_at__lt=capped_end
        )
        .filter(Q(end_at__isnull=True) | Q(end_at__gt=start))
        .exclude(state__in=[EquipmentState.PRODUCING.value, EquipmentState.UNKNOWN.value])
        .select_related("reason")
    )
    now_s = now.timestamp()
    totals: dict[str, dict[str, Any]] = {}
    for interval in intervals:
        if interval.reason_id is not None and interval.reason.iso_element == "PDOT":
            continue
        if interval.reason_id is None and interval.state == EquipmentState.PLANNED_STOP.value:
            continue
        interval_start_s = interval.start_at.timestamp()
        interval_end_s = (
            interval.end_at.timestamp() if interval.end_at else max(now_s, interval_start_s)
        )
        duration_s = 0.0
        for busy_start, busy_end in busy_by_line[refs_by_id[interval.equipment_id].line_id]:
            overlap = min(busy_end, interval_end_s) - max(busy_start, interval_start_s)
            if overlap > 0:
                duration_s += overlap
        if duration_s <= 0:
            continue
        if interval.reason_id is not None:
            key, label, element = (
                interval.reason.code,
                interval.reason.name,
                interval.reason.iso_element,
            )
        elif interval.state == EquipmentState.DOWN.value:
            if interval.is_minor_stop or (
                interval.end_at is not None
                and interval_end_s - interval_start_s < micro_stop_threshold_s()
            ):
                key, label, element = "minor_stop", "Minor stops (unexplained, short)", "ADET"
            else:
                key, label, element = "unclassified", "Down, reason not given yet", "ADET"
        else:
            key = f"state:{interval.state}"
            label = EquipmentState(interval.state).value.replace("_", " ").capitalize()
            element = "AUST" if interval.state == EquipmentState.SETUP.value else "ADOT"
        row = totals.setdefault(
            key,
            {
                "key": key,
                "label": label,
                "iso_element": element,
                "duration_s": 0.0,
                "stop_count": 0,
            },
        )
        row["duration_s"] += duration_s
        row["stop_count"] += 1
    rows = sorted(totals.values(), key=lambda row: (-row["duration_s"], row["key"]))
    total_s = sum(row["duration_s"] for row in rows)
    cumulative_s = 0.0
    for row in rows:
        cumulative_s += row["duration_s"]
        row["share"] = row["duration_s"] / total_s if total_s > 0 else None
        row["cumulative_share"] = cumulative_s / total_s if total_s > 0 else None
    return {
        "scope": scope,
        "scope_id": scope_id,
        "start_at": start,
        "end_at": end,
        "total_s": total_s,
        "rows": rows,
    }


def downtime_reason_by_code(codes: Iterable[str]) -> dict[str, DowntimeReason]:
    return {reason.code: reason for reason in DowntimeReason.objects.filter(code__in=set(codes))}


def operations_running(
    equipment_ids: Sequence[int], start: datetime, end: datetime
) -> dict[int, list[tuple[datetime, datetime | None, int, int, float]]]:
    """Operations that ran on each equipment within ``[start, end]``, latest start first.

    Rows: (actual start, actual end or None, operation id, work order id, PRU).
    """
    rows = (
        Operation.objects.filter(
            assigned_equipment_id__in=equipment_ids,
            actual_start_at__isnull=False,
            actual_start_at__lte=end,
            state__in=[OperationState.IN_PROGRESS, OperationState.PAUSED, OperationState.COMPLETED],
        )
        .filter(Q(actual_end_at__isnull=True) | Q(actual_end_at__gt=start))
        .order_by("assigned_equipment_id", "-actual_start_at")
        .values_list(
            "assigned_equipment_id",
            "actual_start_at",
            "actual_end_at",
            "id",
            "work_order_id",
            "planned_run_time_per_unit_s",
        )
    )
    grouped: dict[int, list[tuple[datetime, datetime | None, int, int, float]]] = defaultdict(list)
    for equipment_id, *rest in rows:
        grouped[equipment_id].append(tuple(rest))  # type: ignore[arg-type]
    return grouped


def local_hour_starts(time_zone: str, start: datetime, end: datetime) -> list[datetime]:
    """Starts of the plant-local clock hours that overlap ``[start, end)`` (UTC)."""
    zone = ZoneInfo(time_zone)
    local = start.astimezone(zone)
    offset_s = local.utcoffset().total_seconds() if local.utcoffset() else 0.0
    # Local hours start where the local clock shows :00; step in absolute time.
    first_s = math.floor((start.timestamp() + offset_s) / 3600.0) * 3600.0 - offset_s
    moments = []
    moment_s = first_s
    end_s = end.timestamp()
    while moment_s < end_s:
        moments.append(datetime.fromtimestamp(moment_s, tz=UTC))
        moment_s += 3600.0
    return moments


def local_day_bounds(time_zone: str, moment: datetime) -> tuple[datetime, datetime]:
    """The plant-local calendar day holding ``moment``: [local 00:00, next local 00:00) in UTC."""
    zone = ZoneInfo(time_zone)
    local_date = moment.astimezone(zone).date()
    start = datetime.combine(local_date, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(local_date + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


def open_alerts_for(rule_ids: Iterable[int]) -> QuerySet[Alert]:
    return Alert.objects.filter(rule_id__in=list(rule_ids)).exclude(state=AlertState.CLEARED)


def operator_intervals_after(equipment_ids: Sequence[int], moment: datetime) -> set[int]:
    """Equipment having an operator-entered interval that ends after ``moment``."""
    return set(
        EquipmentStateInterval.objects.filter(
            equipment_id__in=equipment_ids, source=StateSource.OPERATOR, end_at__gt=moment
        ).values_list("equipment_id", flat=True)
    )
