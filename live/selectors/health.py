"""Machine health as the live screens show it: the latest α, δ and RUL band, and the α trend."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from live.selectors.current import iso_or_none
from maintenance.choices import RulModel
from maintenance.models import HealthSnapshot
from maintenance.selectors import health_assessed_latest, health_assessed_since
from production.selectors.plant import equipment_list
from workers.algorithms.lttb import lttb_indices


def health_latest(equipment_ids: list[int]) -> dict[int, dict]:
    """The latest assessed health snapshot of each equipment (α, δ, RUL band, advice)."""
    if not equipment_ids:
        return {}
    return {
        snapshot.equipment_id: _health_dict(snapshot)
        for snapshot in health_assessed_latest(equipment_ids=equipment_ids)
    }


def _health_dict(row: HealthSnapshot) -> dict[str, Any]:
    return {
        "equipment_id": row.equipment_id,
        "ts": iso_or_none(row.ts),
        "alpha": row.alpha,
        "delta_per_h": row.degradation_slope_per_h,
        "health_index": row.health_index,
        "rul_state": row.rul_state,
        "rul_p10_h": row.rul_p10_h,
        "rul_p50_h": row.rul_p50_h,
        "rul_p90_h": row.rul_p90_h,
        "recommendation": row.recommendation,
        "is_anomaly": row.is_anomaly,
        "rul_state_label": row.get_rul_state_display(),
        "rul_model": row.rul_model or RulModel.TREND,
        "rul_model_label": RulModel(row.rul_model or RulModel.TREND).label,
        "fleet_rul_state": row.fleet_rul_state,
        "rul_detail": row.rul_detail,
    }


def _downsampled(points: list[dict], *, max_points: int) -> list[dict]:
    """LTTB on (ts, α): the trend keeps its shape with at most ``max_points`` points."""
    if len(points) <= max_points:
        return points
    timestamps = [datetime.fromisoformat(point["ts"]).timestamp() for point in points]
    indices = lttb_indices(timestamps, [point["alpha"] for point in points], max_points)
    return [points[index] for index in indices]


def health_overview(
    *, user, site_id: int, hours: float = 72.0, trend_points: int = 120
) -> list[dict]:
    """Latest α and RUL band of each machine with health data, and its α trend."""
    machines = {
        machine.pk: machine
        for machine in equipment_list(user=user).filter(cell__line__area__site_id=site_id)
    }
    since = timezone.now() - timedelta(hours=hours)
    rows = health_assessed_since(equipment_ids=list(machines), since=since)
    trends: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        trends[row.equipment_id].append(_health_dict(row))
    for equipment_id, points in trends.items():
        trends[equipment_id] = _downsampled(points, max_points=trend_points)
    latest = health_latest(list(machines))
    overview = []
    for equipment_id, health in latest.items():
        overview.append(
            {
                "equipment_id": equipment_id,
                "code": machines[equipment_id].code,
                "latest": health,
                "trend": trends.get(equipment_id, [health]),
            }
        )
    overview.sort(key=lambda row: -(row["latest"]["alpha"] or 0.0))
    return overview
