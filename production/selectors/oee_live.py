"""Live OEE of the open shift, kept in memory per process.

:class:`LiveOee` keeps the open shift of each equipment in an ``OpenPeriodAccumulator`` (per
process), fed by the ingest service and checked against a per-equipment version counter in
Redis, so any process answers "current OEE" from memory and rebuilds from the database only
what changed elsewhere.
"""

from __future__ import annotations

import logging
import threading
import time as monotonic_time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Sum

from mes_site.redis import redis_client
from production.algorithms import shifts as pure_shifts
from production.algorithms.timeline import EquipmentState, LateEventError, OpenPeriodAccumulator
from production.models import EquipmentStateInterval, ProductionCount
from production.selectors.calendars import (
    EquipmentRef,
    ResolvedCalendar,
    calendar_book_for,
)
from production.selectors.oee_elements import CountSums, EquipmentPeriodResult, interval_rows
from production.selectors.oee_settings import live_max_age_s, micro_stop_threshold_s

logger = logging.getLogger(__name__)

VERSION_KEY = "mes:oee:version:{}"


@dataclass
class _LiveEntry:
    ref: EquipmentRef
    instance: pure_shifts.ShiftInstance
    next_change_at: datetime  # rebuild when the current shift ends or the next one starts
    accumulator: OpenPeriodAccumulator
    counts: CountSums
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
            pipeline = redis_client().pipeline(transaction=False)
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
            values = redis_client().mget([VERSION_KEY.format(i) for i in equipment_ids])
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
        intervals = interval_rows(list(chosen), earliest - margin, now + margin)
        count_rows: dict[int, CountSums] = defaultdict(CountSums)
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
                counts=count_rows.get(ref.id, CountSums()),
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
