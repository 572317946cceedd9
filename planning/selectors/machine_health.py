"""Reads of what the scheduler must know about each machine: its latest assessed health
(the maintenance app's health snapshots), its maintenance block (the maintenance app's open
orders) and whether it is down (production's state intervals)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from maintenance.choices import MaintenanceState, RulState
from maintenance.selectors import (
    anomaly_episode_open_equipment_ids,
    health_assessed_latest,
    maintenance_work_order_open_list,
)
from production.choices import EquipmentState
from production.models import EquipmentStateInterval

__all__ = [
    "HEALTH_CLASSES",
    "EquipmentHealth",
    "MaintenanceBlock",
    "equipment_down_ids",
    "equipment_health_latest",
    "equipment_open_episode_ids",
    "health_class_of",
    "maintenance_blocks_get",
]


@dataclass(frozen=True, slots=True)
class EquipmentHealth:
    """The latest assessed health of one equipment (``rul_p10_h`` counts from ``ts``)."""

    equipment_id: int
    snapshot_id: int
    ts: datetime
    anomaly_score: float
    degradation_per_h: float
    is_anomaly: bool
    rul_p10_h: float | None
    recommendation: str

    def rul_p10_s_at(self, now: datetime) -> float | None:
        """RUL p10 as seconds from ``now`` (never negative), None when unbounded."""
        if self.rul_p10_h is None:
            return None
        return max(0.0, self.rul_p10_h * 3600.0 - (now - self.ts).total_seconds())


def equipment_health_latest(
    *, equipment_ids: Iterable[int], now: datetime | None = None
) -> dict[int, EquipmentHealth]:
    """The latest assessed health snapshot per equipment (younger than the max age).

    Without a snapshot a machine counts as healthy. ``SCHEDULING_HEALTH_MAX_AGE_H`` (default
    168 h) ignores stale ones.
    """
    ids = list(equipment_ids)
    if not ids:
        return {}
    now = now or timezone.now()
    max_age_h = float(getattr(settings, "SCHEDULING_HEALTH_MAX_AGE_H", 168.0))
    snapshots = health_assessed_latest(
        equipment_ids=ids, since=now - timedelta(hours=max_age_h), until=now
    )
    result: dict[int, EquipmentHealth] = {}
    for row in snapshots.values(
        "pk",
        "equipment_id",
        "ts",
        "alpha",
        "degradation_slope_per_h",
        "is_anomaly",
        "rul_state",
        "rul_p10_h",
        "recommendation",
    ):
        alpha = row["alpha"]
        if alpha is None or not math.isfinite(alpha):
            continue
        result[row["equipment_id"]] = _equipment_health(row, alpha)
    return result


def _equipment_health(row: dict[str, Any], alpha: float) -> EquipmentHealth:
    slope = row["degradation_slope_per_h"]
    if row["rul_state"] == RulState.PAST_THRESHOLD:
        rul_p10_h: float | None = 0.0
    elif row["rul_state"] == RulState.ESTIMATED and row["rul_p10_h"] is not None:
        rul_p10_h = max(0.0, float(row["rul_p10_h"]))
    else:
        rul_p10_h = None
    return EquipmentHealth(
        equipment_id=row["equipment_id"],
        snapshot_id=row["pk"],
        ts=row["ts"],
        anomaly_score=min(1.0, max(0.0, float(alpha))),
        degradation_per_h=max(0.0, float(slope)) if slope and math.isfinite(slope) else 0.0,
        is_anomaly=bool(row["is_anomaly"]),
        rul_p10_h=rul_p10_h,
        recommendation=row["recommendation"] or "",
    )


HEALTH_CLASSES = ("healthy", "degrading", "failing")


def health_class_of(health: EquipmentHealth | None, *, is_in_open_episode: bool) -> str:
    """The machine's health class, what the plan's stability rules look at.

    * ``failing``: in an open anomaly episode, flagged anomalous, or α above
      ``SCHEDULING_ANOMALY_THRESHOLD`` (0.6);
    * ``degrading``: α above ``SCHEDULING_DEGRADING_ALPHA`` (0.4), or a maintenance
      recommendation of high or critical;
    * ``healthy`` otherwise (and without health data).

    A machine that is not healthy takes no new work, and no high-stress operation (above its
    stress limit, 10 kN) stays on it; light work already there may stay until its
    maintenance window.
    """
    if is_in_open_episode:
        return "failing"
    if health is None:
        return "healthy"
    threshold = float(getattr(settings, "SCHEDULING_ANOMALY_THRESHOLD", 0.6))
    if health.is_anomaly or health.anomaly_score > threshold:
        return "failing"
    degrading = float(getattr(settings, "SCHEDULING_DEGRADING_ALPHA", 0.4))
    if health.anomaly_score > degrading or health.recommendation in ("high", "critical"):
        return "degrading"
    return "healthy"


def equipment_open_episode_ids(*, equipment_ids: Iterable[int]) -> set[int]:
    """Machines with an open anomaly episode (the maintenance app's)."""
    return anomaly_episode_open_equipment_ids(equipment_ids=list(equipment_ids))


@dataclass(frozen=True, slots=True)
class MaintenanceBlock:
    """When a machine must not run for maintenance (``end_at`` None: until further notice)."""

    equipment_id: int
    start_at: datetime
    end_at: datetime | None
    work_order_number: str
    reason: str


def maintenance_blocks_get(
    *, equipment_ids: Iterable[int], now: datetime
) -> dict[int, MaintenanceBlock]:
    """The earliest maintenance block of each equipment, from its open maintenance orders.

    * scheduled: the window is the planned slot — blocked from its start to its end;
    * in progress: blocked from now to the window end (or the estimated duration from now);
    * requested with a window end (e.g. a predictive order "before RUL p10"): the job may
      happen any time in the window, at the latest it starts ``estimated_duration_h`` before
      the end — blocked from that latest start to the end;
    * requested without a window: no date yet, no block.
    """
    ids = list(equipment_ids)
    if not ids:
        return {}
    blocks: dict[int, MaintenanceBlock] = {}
    rows = maintenance_work_order_open_list(equipment_ids=ids).values(
        "equipment_id",
        "number",
        "state",
        "window_start_at",
        "window_end_at",
        "estimated_duration_h",
    )
    for row in rows:
        block = _maintenance_block(row, now)
        if block is None:
            continue
        known = blocks.get(row["equipment_id"])
        if known is None or block.start_at < known.start_at:
            blocks[row["equipment_id"]] = block
    return blocks


def _maintenance_block(row: dict[str, Any], now: datetime) -> MaintenanceBlock | None:
    """The block one open maintenance order puts on its machine (None: no date yet)."""
    duration = timedelta(hours=max(0.0, float(row["estimated_duration_h"] or 0.0)))
    start, end = row["window_start_at"], row["window_end_at"]
    if row["state"] == MaintenanceState.SCHEDULED:
        if start is None or (end is not None and end <= now):
            return None
        reason = f"{row['number']} scheduled {start:%Y-%m-%d %H:%M}"
    elif row["state"] == MaintenanceState.IN_PROGRESS:
        start = now
        end = end if end is not None and end > now else now + duration
        reason = f"{row['number']} in progress"
    else:
        if end is None or end <= now:
            return None
        start = max(now, end - duration)
        reason = f"{row['number']} requested, due by {end:%Y-%m-%d %H:%M}"
    return MaintenanceBlock(row["equipment_id"], start, end, row["number"], reason + " UTC")


def equipment_down_ids(*, equipment_ids: Iterable[int]) -> set[int]:
    """Equipment whose open state interval is ``down`` (a breakdown: not schedulable)."""
    return set(
        EquipmentStateInterval.objects.filter(
            equipment_id__in=list(equipment_ids), end_at__isnull=True, state=EquipmentState.DOWN
        ).values_list("equipment_id", flat=True)
    )
