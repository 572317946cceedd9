"""Shift calendars: expansion across DST, breaks, planned down time, and OEE over a shift."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from production.algorithms.oee import IsoTimeElement, OeeElements, compute_kpis
from production.algorithms.shifts import (
    BreakDefinition,
    ShiftCalendar,
    ShiftDefinition,
    ShiftInstance,
    TimeWindow,
    expand_calendar,
    find_shift_instance,
    merge_windows,
    planned_down_time_s,
    resolve_planned_down_windows,
    shift_planned_down_windows,
)
from production.algorithms.timeline import EquipmentState, StateInterval, compute_time_elements

BERLIN = "Europe/Berlin"
WEEKDAYS_MONDAY_TO_FRIDAY = frozenset(range(5))


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def only_instance(calendar: ShiftCalendar, start: datetime, end: datetime) -> ShiftInstance:
    instances = expand_calendar(calendar, range_start=start, range_end=end)
    assert len(instances) == 1, instances
    return instances[0]


EARLY = ShiftDefinition(
    "early",
    time(6),
    time(14),
    breaks=(BreakDefinition(time(9), time(9, 15)), BreakDefinition(time(12), time(12, 30))),
)
NIGHT = ShiftDefinition("night", time(22), time(6), breaks=(BreakDefinition(time(1), time(1, 30)),))


def test_eight_hour_shift_with_two_breaks_feeds_the_timeline() -> None:
    calendar = ShiftCalendar(BERLIN, (EARLY,))

    instance = only_instance(calendar, utc(2026, 6, 16, 0), utc(2026, 6, 16, 23))
    windows = shift_planned_down_windows(instance)

    assert instance == ShiftInstance(
        shift_name="early",
        local_date=date(2026, 6, 16),
        start=utc(2026, 6, 16, 4),
        end=utc(2026, 6, 16, 12),
        breaks=(
            TimeWindow(utc(2026, 6, 16, 7), utc(2026, 6, 16, 7, 15)),
            TimeWindow(utc(2026, 6, 16, 10), utc(2026, 6, 16, 10, 30)),
        ),
    )
    assert instance.planned_operation_time_s == 28_800
    assert planned_down_time_s(instance) == 2_700
    assert windows == instance.breaks

    result = compute_time_elements(
        [
            StateInterval(
                utc(2026, 6, 16, 4).timestamp(),
                utc(2026, 6, 16, 11).timestamp(),
                EquipmentState.PRODUCING,
            )
        ],
        period_start_s=instance.start.timestamp(),
        period_end_s=instance.end.timestamp(),
        planned_down_windows=[window.epoch_s() for window in windows],
    )
    assert result.elements == OeeElements(
        planned_operation_time_s=28_800,
        planned_down_time_s=2_700,
        actual_production_time_s=25_200 - 2_700,
        no_data_time_s=3_600,
    )


def night_shift_oee(
    instance: ShiftInstance, stop_start: datetime, produced_quantity: int
) -> tuple[OeeElements, float | None]:
    """A night of production with one 20-minute breakdown; PRU = 60 s, all units good."""
    stop_end = stop_start + timedelta(minutes=20)
    intervals = [
        StateInterval(instance.start.timestamp(), stop_start.timestamp(), EquipmentState.PRODUCING),
        StateInterval(
            stop_start.timestamp(),
            stop_end.timestamp(),
            EquipmentState.DOWN,
            IsoTimeElement.ADET,
        ),
        StateInterval(stop_end.timestamp(), instance.end.timestamp(), EquipmentState.PRODUCING),
    ]
    result = compute_time_elements(
        intervals,
        period_start_s=instance.start.timestamp(),
        period_end_s=instance.end.timestamp(),
        planned_down_windows=[window.epoch_s() for window in shift_planned_down_windows(instance)],
    )
    elements = result.elements + OeeElements.from_counts(
        planned_run_time_per_unit_s=60,
        produced_quantity=produced_quantity,
        good_quantity=produced_quantity,
    )
    return elements, compute_kpis(elements).oee


def test_night_shift_on_the_spring_forward_night_lasts_seven_hours() -> None:
    calendar = ShiftCalendar(BERLIN, (NIGHT,))

    # Saturday 2026-03-28 22:00 CET → Sunday 06:00 CEST
    instance = only_instance(calendar, utc(2026, 3, 28, 12), utc(2026, 3, 29, 3))
    elements, oee = night_shift_oee(instance, utc(2026, 3, 28, 23), produced_quantity=370)

    assert instance.local_date == date(2026, 3, 28)
    assert instance.start == utc(2026, 3, 28, 21)
    assert instance.end == utc(2026, 3, 29, 4)
    assert instance.planned_operation_time_s == 7 * 3600
    assert instance.breaks == (TimeWindow(utc(2026, 3, 29, 0), utc(2026, 3, 29, 0, 30)),)
    assert elements == OeeElements(
        planned_operation_time_s=25_200,
        planned_down_time_s=1_800,
        actual_production_time_s=22_200,
        actual_delay_time_s=1_200,
        produced_quantity=370,
        good_quantity=370,
        planned_time_of_produced_s=22_200,
    )
    assert oee == 22_200 / 23_400  # A = 37/39, E = 1, Q = 1


def test_night_shift_on_the_fall_back_night_lasts_nine_hours() -> None:
    calendar = ShiftCalendar(BERLIN, (NIGHT,))

    # Saturday 2026-10-24 22:00 CEST → Sunday 06:00 CET; the stop is at 02:00 CET (2nd 02:00)
    instance = only_instance(calendar, utc(2026, 10, 24, 12), utc(2026, 10, 25, 4))
    elements, oee = night_shift_oee(instance, utc(2026, 10, 25, 1), produced_quantity=441)

    assert instance.local_date == date(2026, 10, 24)
    assert instance.start == utc(2026, 10, 24, 20)
    assert instance.end == utc(2026, 10, 25, 5)
    assert instance.planned_operation_time_s == 9 * 3600
    assert instance.breaks == (TimeWindow(utc(2026, 10, 24, 23), utc(2026, 10, 24, 23, 30)),)
    assert elements == OeeElements(
        planned_operation_time_s=32_400,
        planned_down_time_s=1_800,
        actual_production_time_s=29_400,
        actual_delay_time_s=1_200,
        produced_quantity=441,
        good_quantity=441,
        planned_time_of_produced_s=26_460,
    )
    assert oee == pytest.approx(29_400 / 30_600 * 0.9, rel=1e-12)


def test_break_in_the_spring_forward_gap_lands_after_the_gap() -> None:
    night = ShiftDefinition(
        "night", time(22), time(6), breaks=(BreakDefinition(time(2), time(2, 30)),)
    )
    calendar = ShiftCalendar(BERLIN, (night,))

    instance = only_instance(calendar, utc(2026, 3, 28, 12), utc(2026, 3, 29, 3))

    # 02:00 does not exist that night: the break is 03:00–03:30 CEST.
    assert instance.breaks == (TimeWindow(utc(2026, 3, 29, 1), utc(2026, 3, 29, 1, 30)),)


def test_break_in_the_repeated_hour_is_its_first_occurrence() -> None:
    night = ShiftDefinition(
        "night", time(22), time(6), breaks=(BreakDefinition(time(2), time(2, 30)),)
    )
    calendar = ShiftCalendar(BERLIN, (night,))

    instance = only_instance(calendar, utc(2026, 10, 24, 12), utc(2026, 10, 25, 4))

    assert instance.breaks == (TimeWindow(utc(2026, 10, 25, 0), utc(2026, 10, 25, 0, 30)),)


def test_shift_entirely_inside_the_spring_forward_gap_is_dropped() -> None:
    calendar = ShiftCalendar(BERLIN, (ShiftDefinition("gap", time(2), time(3)),))

    instances = expand_calendar(
        calendar, range_start=utc(2026, 3, 27, 0), range_end=utc(2026, 3, 31, 0)
    )

    assert [instance.local_date for instance in instances] == [
        date(2026, 3, 27),
        date(2026, 3, 28),
        date(2026, 3, 30),
    ]
    assert find_shift_instance(calendar, utc(2026, 3, 29, 1)) is None


def test_weekdays_are_the_days_a_shift_starts_on() -> None:
    night = ShiftDefinition("night", time(22), time(6), weekdays=WEEKDAYS_MONDAY_TO_FRIDAY)
    calendar = ShiftCalendar(BERLIN, (night,))

    # Monday 2026-06-15 to Monday 2026-06-22 (local midnight, CEST)
    instances = expand_calendar(
        calendar, range_start=utc(2026, 6, 14, 22), range_end=utc(2026, 6, 21, 22)
    )

    assert [instance.local_date for instance in instances] == [
        date(2026, 6, 15),
        date(2026, 6, 16),
        date(2026, 6, 17),
        date(2026, 6, 18),
        date(2026, 6, 19),
    ]
    assert instances[-1].end == utc(2026, 6, 20, 4)  # Friday's night ends on Saturday


def test_find_shift_instance_is_start_inclusive_end_exclusive() -> None:
    calendar = ShiftCalendar(BERLIN, (NIGHT, ShiftDefinition("early", time(6), time(14))))

    in_repeated_hour = find_shift_instance(calendar, utc(2026, 10, 25, 1, 30))  # 02:30 CET
    at_early_start = find_shift_instance(calendar, utc(2026, 10, 25, 5))  # 06:00 CET
    just_before = find_shift_instance(calendar, utc(2026, 10, 25, 4, 59, 59))
    between_shifts = find_shift_instance(calendar, utc(2026, 10, 25, 15))

    assert in_repeated_hour is not None
    assert (in_repeated_hour.shift_name, in_repeated_hour.local_date) == (
        "night",
        date(2026, 10, 24),
    )
    assert at_early_start is not None
    assert (at_early_start.shift_name, at_early_start.local_date) == ("early", date(2026, 10, 25))
    assert just_before is not None
    assert just_before.shift_name == "night"
    assert between_shifts is None


def test_naive_datetimes_are_rejected() -> None:
    calendar = ShiftCalendar(BERLIN, (NIGHT,))

    with pytest.raises(ValueError, match="must be timezone-aware"):
        find_shift_instance(calendar, datetime(2026, 6, 16, 12))
    with pytest.raises(ValueError, match="must be timezone-aware"):
        TimeWindow(datetime(2026, 6, 16, 12), utc(2026, 6, 16, 13))


def test_time_window_is_stored_in_utc_and_rejects_reversal() -> None:
    plus_two = timezone(timedelta(hours=2))

    window = TimeWindow(datetime(2026, 6, 16, 8, tzinfo=plus_two), utc(2026, 6, 16, 7))

    assert window.start == utc(2026, 6, 16, 6)
    assert window.start.tzinfo is UTC
    assert window.duration_s == 3_600
    with pytest.raises(ValueError, match=r"ends .* before it starts"):
        TimeWindow(utc(2026, 6, 16, 8), utc(2026, 6, 16, 7))


def test_overlapping_shifts_are_rejected() -> None:
    with pytest.raises(ValueError, match="'early' starting on Monday overlaps shift 'late'"):
        ShiftCalendar(
            BERLIN,
            (
                ShiftDefinition("early", time(6), time(14)),
                ShiftDefinition("late", time(13), time(21)),
            ),
        )
    with pytest.raises(ValueError, match="'night' starting on Friday overlaps shift 'saturday'"):
        ShiftCalendar(
            BERLIN,
            (
                ShiftDefinition("night", time(22), time(6), weekdays=frozenset({4})),
                ShiftDefinition("saturday", time(5), time(13), weekdays=frozenset({5})),
            ),
        )


def test_touching_shifts_across_the_week_boundary_are_accepted() -> None:
    calendar = ShiftCalendar(
        BERLIN,
        (
            ShiftDefinition("sunday night", time(22), time(6), weekdays=frozenset({6})),
            ShiftDefinition("monday early", time(6), time(14), weekdays=frozenset({0})),
        ),
    )

    instances = expand_calendar(
        calendar, range_start=utc(2026, 6, 14, 0), range_end=utc(2026, 6, 15, 12)
    )

    assert [instance.shift_name for instance in instances] == ["sunday night", "monday early"]
    assert instances[0].end == instances[1].start


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: ShiftCalendar("Mars/Olympus", (NIGHT,)), "Unknown time zone 'Mars/Olympus'"),
        (lambda: ShiftCalendar(BERLIN, (NIGHT, NIGHT)), "names must be unique"),
        (lambda: ShiftDefinition("x", time(6), time(6)), "must not start and end at the same"),
        (
            lambda: ShiftDefinition("x", time(6), time(14), weekdays=frozenset({7})),
            "weekdays must be a non-empty set",
        ),
        (
            lambda: ShiftDefinition("x", time(6), time(14), weekdays=frozenset()),
            "weekdays must be a non-empty set",
        ),
        (
            lambda: ShiftDefinition(
                "x", time(6), time(14), breaks=(BreakDefinition(time(13, 45), time(14, 15)),)
            ),
            "is not inside shift 'x'",
        ),
        (
            lambda: ShiftDefinition(
                "x", time(22), time(6), breaks=(BreakDefinition(time(21), time(21, 30)),)
            ),
            "is not inside shift 'x'",
        ),
        (
            lambda: ShiftDefinition("x", time(6, tzinfo=UTC), time(14)),
            "must be naive",
        ),
        (lambda: BreakDefinition(time(9), time(9)), "starts and ends at the same time"),
    ],
)
def test_invalid_calendars_are_rejected(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]


def test_break_across_midnight_inside_a_night_shift() -> None:
    night = ShiftDefinition(
        "night", time(22), time(6), breaks=(BreakDefinition(time(23, 45), time(0, 15)),)
    )
    calendar = ShiftCalendar(BERLIN, (night,))

    instance = only_instance(calendar, utc(2026, 6, 16, 12), utc(2026, 6, 17, 3))

    assert instance.breaks == (TimeWindow(utc(2026, 6, 16, 21, 45), utc(2026, 6, 16, 22, 15)),)


def test_line_windows_replace_overlapping_site_windows() -> None:
    site_maintenance = TimeWindow(utc(2026, 6, 16, 6), utc(2026, 6, 16, 10))
    site_holiday = TimeWindow(utc(2026, 6, 19, 0), utc(2026, 6, 20, 0))
    site_touching = TimeWindow(utc(2026, 6, 16, 4), utc(2026, 6, 16, 6))
    line_maintenance = TimeWindow(utc(2026, 6, 16, 6), utc(2026, 6, 16, 8))

    windows = resolve_planned_down_windows(
        site_windows=[site_holiday, site_maintenance, site_touching],
        line_windows=[line_maintenance],
    )

    assert windows == (site_touching, line_maintenance, site_holiday)
    assert site_maintenance not in windows


def test_site_windows_apply_when_the_line_has_none() -> None:
    site_window = TimeWindow(utc(2026, 6, 16, 6), utc(2026, 6, 16, 10))

    assert resolve_planned_down_windows(site_windows=[site_window], line_windows=[]) == (
        site_window,
    )


def test_planned_down_time_counts_overlaps_once_and_clips_to_the_shift() -> None:
    calendar = ShiftCalendar(BERLIN, (EARLY,))
    instance = only_instance(calendar, utc(2026, 6, 16, 0), utc(2026, 6, 16, 23))
    windows = [
        TimeWindow(utc(2026, 6, 16, 7, 10), utc(2026, 6, 16, 7, 30)),  # overlaps the 09:00 break
        TimeWindow(utc(2026, 6, 16, 11, 30), utc(2026, 6, 16, 13)),  # reaches past the shift
        TimeWindow(utc(2026, 6, 16, 14), utc(2026, 6, 16, 15)),  # outside the shift
    ]

    merged = shift_planned_down_windows(instance, windows)

    assert merged == (
        TimeWindow(utc(2026, 6, 16, 7), utc(2026, 6, 16, 7, 30)),
        TimeWindow(utc(2026, 6, 16, 10), utc(2026, 6, 16, 10, 30)),
        TimeWindow(utc(2026, 6, 16, 11, 30), utc(2026, 6, 16, 12)),
    )
    assert planned_down_time_s(instance, windows) == 1_800 + 1_800 + 1_800


def test_merge_windows_joins_touching_and_drops_empty_windows() -> None:
    first = TimeWindow(utc(2026, 1, 1, 0), utc(2026, 1, 1, 1))
    touching = TimeWindow(utc(2026, 1, 1, 1), utc(2026, 1, 1, 2))
    empty = TimeWindow(utc(2026, 1, 1, 5), utc(2026, 1, 1, 5))

    assert merge_windows([touching, empty, first]) == (
        TimeWindow(utc(2026, 1, 1, 0), utc(2026, 1, 1, 2)),
    )


# ---------------------------------------------------------------- properties

THREE_SHIFTS = ShiftCalendar(
    BERLIN,
    (
        ShiftDefinition("early", time(6), time(14)),
        ShiftDefinition("late", time(14), time(22)),
        ShiftDefinition("night", time(22), time(6)),
    ),
)


@settings(deadline=None, max_examples=60)
@given(
    st.sampled_from([BERLIN, "America/New_York", "Australia/Sydney", "Asia/Kolkata"]),
    st.integers(0, 365 * 24 * 3600),
    st.integers(1, 4 * 24 * 3600),
)
def test_three_shift_calendar_tiles_time_without_gaps_or_overlaps(
    time_zone: str, offset_s: int, length_s: int
) -> None:
    calendar = ShiftCalendar(time_zone, THREE_SHIFTS.shifts)
    range_start = utc(2026, 1, 1) + timedelta(seconds=offset_s)
    range_end = range_start + timedelta(seconds=length_s)

    instances = expand_calendar(calendar, range_start=range_start, range_end=range_end)

    assert instances[0].start <= range_start
    assert instances[-1].end >= range_end
    for earlier, later in itertools.pairwise(instances):
        assert earlier.end == later.start
    for instance in instances:
        assert 7 * 3600 <= instance.planned_operation_time_s <= 9 * 3600
    found = find_shift_instance(calendar, range_start)
    assert found is not None
    assert found.contains(range_start)
