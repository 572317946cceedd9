"""Shift calendars in the plant's time zone and their planned times (pure, Django-free).

Shifts are defined in plant-local wall-clock time (``zoneinfo``); everything that comes out is
aware UTC. A shift whose end time is earlier than its start time runs overnight and ends on the
next local day. ``weekdays`` are the days a shift *starts* on, 0 = Monday … 6 = Sunday (the
convention of ``date.weekday()`` and of the ``Shift.weekdays`` field).

Daylight saving time. Local times are converted with ``fold=0``: a local time that does not
exist (inside the spring-forward gap) lands after the gap (02:30 → 03:30 CEST in
Europe/Berlin); a local time that occurs twice (fall-back) is its first occurrence. This
mapping never goes backwards, so shifts that touch in local time still touch in UTC, and a
shift instance lasts its real duration: a 22:00–06:00 night shift in Europe/Berlin lasts 7 h
on the spring-forward night (2026-03-28 → 29) and 9 h on the fall-back night
(2026-10-24 → 25). An instance that would last 0 s (entirely inside a gap) is dropped.

Planned operation time (POT) of an instance is its real duration; its planned down time (PDOT)
is the union of its breaks and the planned down time windows inside it, overlaps counted once
(:func:`shift_planned_down_windows`).

Site and line windows (:func:`resolve_planned_down_windows`): the line wins where both define
windows. Every site window that overlaps a line window is dropped for that line — the line's
own window replaces it, even if shorter — while site windows that overlap no line window (a
plant-wide holiday, say) still apply to the line.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "BreakDefinition",
    "ShiftCalendar",
    "ShiftDefinition",
    "ShiftInstance",
    "TimeWindow",
    "expand_calendar",
    "find_shift_instance",
    "merge_windows",
    "planned_down_time_s",
    "resolve_planned_down_windows",
    "shift_planned_down_windows",
]

SECONDS_PER_DAY = 86_400
SECONDS_PER_WEEK = 7 * SECONDS_PER_DAY
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _require_aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be a datetime, got {value!r}.")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got the naive {value!r}.")
    return value.astimezone(UTC)


def _seconds_of_day(value: time) -> int:
    return value.hour * 3600 + value.minute * 60 + value.second


def _check_local_time(value: time, name: str) -> None:
    if not isinstance(value, time):
        raise ValueError(f"{name} must be a datetime.time, got {value!r}.")
    if value.tzinfo is not None:
        raise ValueError(f"{name} is a plant-local wall-clock time and must be naive.")
    if value.microsecond:
        raise ValueError(f"{name} must be a whole second, got {value.isoformat()}.")


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A half-open window ``[start, end)`` of aware datetimes, stored in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _require_aware(self.start, "start"))
        object.__setattr__(self, "end", _require_aware(self.end, "end"))
        if self.end < self.start:
            raise ValueError(
                f"The window ends ({self.end.isoformat()}) before it starts "
                f"({self.start.isoformat()})."
            )

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()

    def overlaps(self, other: TimeWindow) -> bool:
        """True when the windows share time (merely touching is not overlapping)."""
        return self.start < other.end and other.start < self.end

    def epoch_s(self) -> tuple[float, float]:
        """``(start, end)`` as epoch seconds, the form the timeline functions take."""
        return (self.start.timestamp(), self.end.timestamp())


@dataclass(frozen=True, slots=True)
class BreakDefinition:
    """A break inside a shift, in local wall-clock time (may cross midnight)."""

    start_local: time
    end_local: time
    name: str = "Break"

    def __post_init__(self) -> None:
        _check_local_time(self.start_local, "The break start")
        _check_local_time(self.end_local, "The break end")
        if self.start_local == self.end_local:
            raise ValueError(f"The break {self.name!r} starts and ends at the same time.")


@dataclass(frozen=True, slots=True)
class ShiftDefinition:
    """A recurring shift in plant-local time; end before start = overnight shift."""

    name: str
    start_local: time
    end_local: time
    weekdays: frozenset[int] = frozenset(range(7))
    breaks: tuple[BreakDefinition, ...] = ()

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("A shift needs a name.")
        _check_local_time(self.start_local, f"The start of shift {self.name!r}")
        _check_local_time(self.end_local, f"The end of shift {self.name!r}")
        if self.start_local == self.end_local:
            raise ValueError(f"Shift {self.name!r} must not start and end at the same time.")
        weekdays = frozenset(self.weekdays)
        if not weekdays or not weekdays <= frozenset(range(7)):
            raise ValueError(
                f"Shift {self.name!r}: weekdays must be a non-empty set of 0 (Monday) to "
                f"6 (Sunday), got {sorted(weekdays)!r}."
            )
        object.__setattr__(self, "weekdays", weekdays)
        object.__setattr__(self, "breaks", tuple(self.breaks))
        for shift_break in self.breaks:
            offset_s, length_s = self._break_offset_s(shift_break)
            if offset_s + length_s > self.length_s:
                raise ValueError(
                    f"Break {shift_break.name!r} ({shift_break.start_local.isoformat()}–"
                    f"{shift_break.end_local.isoformat()}) is not inside shift {self.name!r} "
                    f"({self.start_local.isoformat()}–{self.end_local.isoformat()})."
                )

    @property
    def length_s(self) -> int:
        """Wall-clock length (the real length differs on DST nights)."""
        return (_seconds_of_day(self.end_local) - _seconds_of_day(self.start_local)) % (
            SECONDS_PER_DAY
        )

    def _break_offset_s(self, shift_break: BreakDefinition) -> tuple[int, int]:
        """Wall-clock offset of the break from the shift start, and its length."""
        start_s = _seconds_of_day(self.start_local)
        offset_s = (_seconds_of_day(shift_break.start_local) - start_s) % SECONDS_PER_DAY
        length_s = (
            _seconds_of_day(shift_break.end_local) - _seconds_of_day(shift_break.start_local)
        ) % SECONDS_PER_DAY
        return offset_s, length_s


@dataclass(frozen=True, slots=True)
class ShiftCalendar:
    """The shifts of a site or line in its IANA time zone (e.g. ``"Europe/Berlin"``).

    Shifts must not overlap in wall-clock time on any day of the week.
    """

    time_zone: str
    shifts: tuple[ShiftDefinition, ...]

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValueError(f"Unknown time zone {self.time_zone!r}.") from None
        object.__setattr__(self, "shifts", tuple(self.shifts))
        names = [shift.name for shift in self.shifts]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"Shift names must be unique in a calendar: {duplicates!r}.")
        arcs = [
            (shift, weekday, weekday * SECONDS_PER_DAY + _seconds_of_day(shift.start_local))
            for shift in self.shifts
            for weekday in sorted(shift.weekdays)
        ]
        for position, (shift_a, weekday_a, start_a) in enumerate(arcs):
            for shift_b, weekday_b, start_b in arcs[position + 1 :]:
                if shift_a is shift_b:
                    continue  # a shift is shorter than a day, so it never meets itself
                if (start_b - start_a) % SECONDS_PER_WEEK < shift_a.length_s or (
                    start_a - start_b
                ) % SECONDS_PER_WEEK < shift_b.length_s:
                    raise ValueError(
                        f"Shift {shift_a.name!r} starting on {WEEKDAY_NAMES[weekday_a]} overlaps "
                        f"shift {shift_b.name!r} starting on {WEEKDAY_NAMES[weekday_b]}."
                    )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


@dataclass(frozen=True, slots=True)
class ShiftInstance:
    """One concrete shift: UTC start and end, the local date it starts on, its breaks (UTC)."""

    shift_name: str
    local_date: date
    start: datetime
    end: datetime
    breaks: tuple[TimeWindow, ...] = ()

    @property
    def window(self) -> TimeWindow:
        return TimeWindow(self.start, self.end)

    @property
    def planned_operation_time_s(self) -> float:
        """POT: the real duration, DST included."""
        return (self.end - self.start).total_seconds()

    def contains(self, instant: datetime) -> bool:
        instant = _require_aware(instant, "instant")
        return self.start <= instant < self.end


def _to_utc(local_wall_clock: datetime, zone: ZoneInfo) -> datetime:
    # fold=0: a time in the spring-forward gap lands after it, a repeated time is the first one.
    return local_wall_clock.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _instance(shift: ShiftDefinition, local_date: date, zone: ZoneInfo) -> ShiftInstance:
    local_start = datetime.combine(local_date, shift.start_local)
    start = _to_utc(local_start, zone)
    end = _to_utc(local_start + timedelta(seconds=shift.length_s), zone)
    breaks = []
    for shift_break in shift.breaks:
        offset_s, length_s = shift._break_offset_s(shift_break)
        break_start = _to_utc(local_start + timedelta(seconds=offset_s), zone)
        break_end = _to_utc(local_start + timedelta(seconds=offset_s + length_s), zone)
        break_start, break_end = max(break_start, start), min(break_end, end)
        if break_end > break_start:
            breaks.append(TimeWindow(break_start, break_end))
    breaks.sort(key=lambda window: window.start)
    return ShiftInstance(
        shift_name=shift.name, local_date=local_date, start=start, end=end, breaks=tuple(breaks)
    )


def expand_calendar(
    calendar: ShiftCalendar, *, range_start: datetime, range_end: datetime
) -> tuple[ShiftInstance, ...]:
    """Every shift instance that overlaps ``[range_start, range_end)``, sorted by start.

    Instances are whole (not clipped to the range); zero-length instances are dropped.
    """
    range_start = _require_aware(range_start, "range_start")
    range_end = _require_aware(range_end, "range_end")
    if range_end < range_start:
        raise ValueError(
            f"The range ends ({range_end.isoformat()}) before it starts "
            f"({range_start.isoformat()})."
        )
    zone = calendar.zone
    # A shift is at most 25 real hours, so one local day before the range is enough.
    local_day = range_start.astimezone(zone).date() - timedelta(days=1)
    last_local_day = range_end.astimezone(zone).date()
    instances = []
    while local_day <= last_local_day:
        for shift in calendar.shifts:
            if local_day.weekday() not in shift.weekdays:
                continue
            instance = _instance(shift, local_day, zone)
            if instance.end > instance.start and (
                instance.end > range_start and instance.start < range_end
            ):
                instances.append(instance)
        local_day += timedelta(days=1)
    instances.sort(key=lambda instance: instance.start)
    return tuple(instances)


def find_shift_instance(calendar: ShiftCalendar, instant: datetime) -> ShiftInstance | None:
    """The shift instance with ``start <= instant < end``, or ``None`` between shifts."""
    instant = _require_aware(instant, "instant")
    candidates = expand_calendar(
        calendar, range_start=instant, range_end=instant + timedelta(microseconds=1)
    )
    for instance in candidates:
        if instance.contains(instant):
            return instance
    return None


def merge_windows(windows: Iterable[TimeWindow]) -> tuple[TimeWindow, ...]:
    """Union of windows as sorted, disjoint windows (touching windows are joined)."""
    merged: list[TimeWindow] = []
    for window in sorted(windows, key=lambda window: (window.start, window.end)):
        if window.end == window.start:
            continue
        if merged and window.start <= merged[-1].end:
            if window.end > merged[-1].end:
                merged[-1] = TimeWindow(merged[-1].start, window.end)
        else:
            merged.append(window)
    return tuple(merged)


def resolve_planned_down_windows(
    *, site_windows: Sequence[TimeWindow], line_windows: Sequence[TimeWindow]
) -> tuple[TimeWindow, ...]:
    """Planned down time windows that apply to a line: the line wins where both define one.

    Site windows overlapping any line window are dropped; the rest of the site windows and all
    line windows apply. The result is sorted by start and not merged.
    """
    kept_site_windows = [
        site_window
        for site_window in site_windows
        if not any(site_window.overlaps(line_window) for line_window in line_windows)
    ]
    return tuple(
        sorted([*line_windows, *kept_site_windows], key=lambda window: (window.start, window.end))
    )


def shift_planned_down_windows(
    instance: ShiftInstance, planned_down_windows: Sequence[TimeWindow] = ()
) -> tuple[TimeWindow, ...]:
    """PDOT windows of a shift instance: breaks ∪ planned windows, clipped, merged."""
    clipped = []
    for window in [*instance.breaks, *planned_down_windows]:
        start, end = max(window.start, instance.start), min(window.end, instance.end)
        if end > start:
            clipped.append(TimeWindow(start, end))
    return merge_windows(clipped)


def planned_down_time_s(
    instance: ShiftInstance, planned_down_windows: Sequence[TimeWindow] = ()
) -> float:
    """PDOT of a shift instance in seconds (overlaps counted once)."""
    return sum(
        (
            window.duration_s
            for window in shift_planned_down_windows(instance, planned_down_windows)
        ),
        0.0,
    )
