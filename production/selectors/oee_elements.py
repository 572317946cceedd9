"""OEE elements from the database.

:func:`equipment_period_compute` computes the elements of many equipment over one window (an
hour, a shift, a day, a work order): the window is cut at the equipment's shift instances
(only shift time is planned operation time), each piece goes through
``compute_time_elements_arrays`` with the shift's breaks and planned downtime, and the counts
made inside those pieces are added. Two queries for any number of equipment. The ISO 22400-2
arithmetic lives in the pure modules (``production.algorithms.oee``, ``timeline``,
``shifts``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.db import connection
from django.db.models import Case, FloatField, IntegerField, Q, Sum, Value, When
from django.db.models.functions import Cast, Extract

from production.algorithms.oee import OeeElements, rollup
from production.algorithms.timeline import (
    NO_REASON_CODE,
    REASON_CODES,
    STATE_CODES,
    StateIntervalArrays,
    compute_time_elements_arrays,
)
from production.choices import OperationState
from production.models import EquipmentStateInterval, Operation, ProductionCount
from production.selectors.calendars import CalendarBook, EquipmentRef, ShiftSlice
from production.selectors.oee_settings import micro_stop_threshold_s


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


def interval_rows(
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
class CountSums:
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
    pieces_by_equipment: dict[int, list[ShiftSlice]] = {}
    slice_cache: dict[tuple[int, datetime, datetime], list[ShiftSlice]] = {}
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
        pieces: list[ShiftSlice] = []
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
        interval_rows(equipment_ids, window_start - margin, end + margin) if equipment_ids else {}
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
        count_sums = CountSums()
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
