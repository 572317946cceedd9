"""Losses: lost time by downtime reason (the loss Pareto)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q
from django.utils import timezone

from production.choices import EquipmentState
from production.models import EquipmentStateInterval
from production.selectors.calendars import calendar_book_for
from production.selectors.oee import scope_refs
from production.selectors.oee_settings import micro_stop_threshold_s


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
    refs = scope_refs(scope, scope_id)
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
