"""Equipment and shift calendars as the OEE computation sees them.

:func:`calendar_book_load` turns the shift calendars of sites and lines into pure calendars —
a line's own calendar if it has one, else its site's; planned downtime where the line's
windows win over the site's (``resolve_planned_down_windows``); the site's time zone.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Q

from mes_site.errors import Conflict
from production.algorithms import shifts as pure_shifts
from production.models import Equipment, PlannedDowntime, ShiftCalendar


class CalendarInvalid(Conflict):
    """A shift calendar in the database cannot be expanded (overlapping shifts, bad break)."""

    code = "calendar_invalid"

    def __init__(self, message: str, *, calendar_id: int | None) -> None:
        super().__init__(message, detail={"calendar_id": calendar_id})
        self.calendar_id = calendar_id


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

    def slices(self, start: datetime, end: datetime) -> list[ShiftSlice]:
        """The shift time inside ``[start, end)``: one piece per shift instance."""
        pieces = []
        for instance in self.instances(start, end):
            piece_start, piece_end = max(instance.start, start), min(instance.end, end)
            if piece_end <= piece_start:
                continue
            windows = pure_shifts.shift_planned_down_windows(instance, self.planned_down_windows)
            pieces.append(
                ShiftSlice(
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
class ShiftSlice:
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
