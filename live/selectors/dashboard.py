"""The supervisor dashboard's plant panels: lines overview, loss Pareto and OEE trend."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from live.selectors.current import (
    equipment_dict,
    equipment_states,
    oee_current,
    oee_dict,
    work_orders_current,
)
from production.choices import AlertState, OeePeriod, OeeScope
from production.models import OeeSnapshot, Site
from production.selectors import losses
from production.selectors.alerts import alert_list
from production.selectors.plant import equipment_list, line_list, scope_get, site_list


def dashboard_site_get(*, user, site_id: int | None) -> Site | None:
    """The site the dashboard shows: the requested one if in scope, else the first."""
    sites = site_list(user=user).order_by("code")
    if site_id is not None:
        chosen = sites.filter(pk=site_id).first()
        if chosen is not None:
            return chosen
    return sites.first()


def lines_overview(*, user, site_id: int) -> list[dict]:
    """Each line of the site in scope: equipment tiles with states, OEE, work orders, alerts."""
    now = timezone.now()
    lines = list(line_list(user=user).filter(area__site_id=site_id).order_by("area__code", "code"))
    line_ids = [line.pk for line in lines]
    machines = list(
        equipment_list(user=user).filter(cell__line_id__in=line_ids).order_by("uns_path")
    )
    states = equipment_states([machine.pk for machine in machines], now=now)
    oee = oee_current(OeeScope.LINE, line_ids)
    work_orders = work_orders_current(line_ids)
    alert_counts: dict[int, int] = defaultdict(int)
    for alert in (
        alert_list(user=user)
        .exclude(state=AlertState.CLEARED)
        .filter(Q(line_id__in=line_ids) | Q(equipment__cell__line_id__in=line_ids))
        .values("line_id", "equipment__cell__line_id")
    ):
        line_id = alert["line_id"] or alert["equipment__cell__line_id"]
        if line_id is not None:
            alert_counts[line_id] += 1
    by_line: dict[int, list[dict]] = defaultdict(list)
    for machine in machines:
        state = states.get(machine.pk)
        by_line[machine.cell.line_id].append(
            {
                **equipment_dict(machine),
                "state": state["state"] if state else "unknown",
                "state_label": state["state_label"] if state else "No data",
                "since": state["start_at"] if state else None,
                "needs_reason": bool(state and state["needs_reason"]),
            }
        )
    return [
        {
            "id": line.pk,
            "code": line.code,
            "name": line.name,
            "area": line.area.name,
            "equipment": by_line.get(line.pk, []),
            "oee": oee.get(line.pk),
            "work_orders": work_orders.get(line.pk, []),
            "open_alerts": alert_counts.get(line.pk, 0),
        }
        for line in lines
    ]


def loss_pareto(*, user, site_id: int, hours: float = 24.0) -> dict[str, Any]:
    """Lost time by reason over the last ``hours``, largest first (monitoring's definition:
    shift time only, planned downtime excluded, unexplained stops grouped by state).

    A user scoped to some lines of the site gets the sum over those lines only.
    """
    now = timezone.now()
    since = now - timedelta(hours=hours)
    is_site_wide = scope_get(user).covers_site(site_id)
    if is_site_wide:
        parts = [losses.loss_pareto(scope="site", scope_id=site_id, start=since, end=now)]
    else:
        line_ids = line_list(user=user).filter(area__site_id=site_id).values_list("id", flat=True)
        parts = [
            losses.loss_pareto(scope="line", scope_id=line_id, start=since, end=now)
            for line_id in line_ids
        ]
    totals: dict[str, dict[str, Any]] = {}
    for part in parts:
        for row in part["rows"]:
            merged = totals.setdefault(
                row["key"], {"label": row["label"], "duration_s": 0.0, "stop_count": 0}
            )
            merged["duration_s"] += row["duration_s"]
            merged["stop_count"] += row["stop_count"]
    ordered = sorted(totals.values(), key=lambda row: (-row["duration_s"], row["label"]))
    total_s = sum(row["duration_s"] for row in ordered)
    cumulative = 0.0
    rows = []
    for row in ordered:
        cumulative += row["duration_s"]
        rows.append({**row, "cumulative_share": cumulative / total_s if total_s else 0.0})
    return {
        "since": since,
        "until": now,
        "hours": hours,
        "rows": rows,
        "total_s": total_s,
        "is_site_wide": is_site_wide,
    }


def oee_trend(*, scope: str, scope_ids: list[int], hours: float = 24.0) -> dict[int, list[dict]]:
    """Hourly OEE of each scope object over the last ``hours`` (shift snapshots if no hours)."""
    since = timezone.now() - timedelta(hours=hours)
    trend: dict[int, list[dict]] = {scope_id: [] for scope_id in scope_ids}
    for period, window in ((OeePeriod.HOUR, since), (OeePeriod.SHIFT, since - timedelta(days=6))):
        snapshots = OeeSnapshot.objects.filter(
            scope=scope, scope_id__in=scope_ids, period=period, period_start_at__gte=window
        ).order_by("period_start_at")
        for snapshot in snapshots:
            if period == OeePeriod.SHIFT and any(
                row["period"] == OeePeriod.HOUR for row in trend[snapshot.scope_id]
            ):
                continue
            trend[snapshot.scope_id].append(oee_dict(snapshot))
    return trend
