"""Pages of the live screens: dashboard panels, operator HMI, equipment page.

Pages are server-rendered; charts are SVG drawn here (no charting library, no build step).
Each dashboard panel is one template under ``templates/live/panels/``: the dashboard renders
all of them, and ``panel_fragment`` renders one again when a live event says it changed.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.csrf import ensure_csrf_cookie

from autonomy.choices import AutonomyMode
from live.selectors.actions import (
    explanation_text,
    proposed_actions_open,
    proposed_actions_recent,
)
from live.selectors.current import alerts_open, equipment_states, stops_recent
from live.selectors.dashboard import dashboard_site_get, lines_overview, loss_pareto, oee_trend
from live.selectors.health import health_overview
from live.selectors.schedule import dispatch_overview, schedule_gantt
from live.selectors.stations import station_list, station_view, telemetry_urls
from maintenance.selectors import maintenance_work_order_list
from production import selectors
from production.choices import OeeScope
from production.selectors.plant import downtime_reason_tree

PANELS = (
    "lines",
    "alerts",
    "stops",
    "pareto",
    "trend",
    "health",
    "gantt",
    "dispatch",
    "actions",
    "work_orders",
)
SCRAP_REASONS = (
    "Dimension out of tolerance",
    "Surface defect",
    "Material defect",
    "Setup / first part",
    "Handling damage",
    "Other",
)
SERIES_COLOURS = ("#1f6feb", "#c2410c", "#1a7f37", "#8250df", "#b76e00", "#0e7490")


# --- SVG chart geometry ----------------------------------------------------------------


def _time_ticks(start: datetime, end: datetime, zone: ZoneInfo, *, count: int = 6) -> list:
    """Whole-hour ticks between ``start`` and ``end`` labelled in plant-local time."""
    span_h = max((end - start).total_seconds() / 3600.0, 1e-9)
    step_h = next((step for step in (1, 2, 3, 4, 6, 12, 24, 48) if span_h / step <= count), 96)
    first = start.astimezone(zone).replace(minute=0, second=0, microsecond=0)
    ticks = []
    tick = first
    while tick <= end:
        if tick >= start and tick.hour % min(step_h, 24) == 0:
            ticks.append(tick)
        tick = (tick + timedelta(hours=1)).astimezone(zone)
    return ticks


def pareto_chart(pareto: dict[str, Any], *, width: int = 560, height: int = 230) -> dict:
    """Bars of lost time (largest first) and the cumulative share as a line."""
    rows = pareto["rows"][:8]
    left, right, top, bottom = 46, 40, 12, 62
    plot_w, plot_h = width - left - right, height - top - bottom
    longest_s = max((row["duration_s"] for row in rows), default=0.0) or 1.0
    unit, divisor = ("h", 3600.0) if longest_s >= 3 * 3600 else ("min", 60.0)
    slot = plot_w / max(len(rows), 1)
    bars, points = [], []
    for index, row in enumerate(rows):
        bar_h = plot_h * row["duration_s"] / longest_s
        x = left + index * slot + slot * 0.15
        bars.append(
            {
                "x": round(x, 1),
                "y": round(top + plot_h - bar_h, 1),
                "w": round(slot * 0.7, 1),
                "h": round(bar_h, 1),
                "label": row["label"],
                "short_label": row["label"] if len(row["label"]) <= 16 else row["label"][:15] + "…",
                "value": f"{row['duration_s'] / divisor:.1f}",
                "label_x": round(x + slot * 0.35, 1),
                "label_y": height - bottom + 14,
            }
        )
        points.append(f"{x + slot * 0.35:.1f},{top + plot_h * (1 - row['cumulative_share']):.1f}")
    axis = [
        {"y": round(top + plot_h * (1 - share), 1), "label": f"{share * longest_s / divisor:.0f}"}
        for share in (0.0, 0.5, 1.0)
    ]
    return {
        "width": width,
        "height": height,
        "left": left,
        "right_x": width - right,
        "top": top,
        "bottom_y": top + plot_h,
        "bars": bars,
        "cumulative": " ".join(points),
        "axis": axis,
        "unit": unit,
        "total": f"{pareto['total_s'] / divisor:.1f} {unit}",
    }


def oee_trend_chart(
    series: list[dict], *, start: datetime, end: datetime, zone: ZoneInfo, width=560, height=210
) -> dict:
    """One OEE line per series (0–100 %) over time, with hour ticks in plant time."""
    left, right, top, bottom = 40, 12, 10, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    span_s = max((end - start).total_seconds(), 1.0)

    def x_of(moment: datetime) -> float:
        return left + plot_w * min(max((moment - start).total_seconds() / span_s, 0.0), 1.0)

    def y_of(value: float) -> float:
        return top + plot_h * (1 - min(max(value, 0.0), 1.2) / 1.2)

    lines = []
    for index, item in enumerate(series):
        points = []
        for row in item["rows"]:
            if row["oee"] is None:
                continue
            moment = datetime.fromisoformat(row["period_start_at"])
            period_end = datetime.fromisoformat(row["period_end_at"])
            middle = moment + (period_end - moment) / 2
            points.append((round(x_of(middle), 1), round(y_of(row["oee"]), 1), row))
        lines.append(
            {
                "label": item["label"],
                "colour": SERIES_COLOURS[index % len(SERIES_COLOURS)],
                "points": " ".join(f"{x},{y}" for x, y, _ in points),
                "dots": [
                    {"x": x, "y": y, "title": f"{item['label']}: {row['oee']:.1%}"}
                    for x, y, row in points
                ],
                "latest": points[-1][2]["oee"] if points else None,
            }
        )
    grid = [{"y": round(y_of(value), 1), "label": f"{value:.0%}"} for value in (0, 0.5, 0.85, 1.0)]
    ticks = [
        {"x": round(x_of(tick), 1), "label": tick.strftime("%H:%M")}
        for tick in _time_ticks(start, end, zone)
    ]
    return {
        "width": width,
        "height": height,
        "left": left,
        "right_x": width - right,
        "top": top,
        "bottom_y": top + plot_h,
        "lines": lines,
        "grid": grid,
        "ticks": ticks,
        "has_points": any(line["points"] for line in lines),
    }


def gantt_chart(gantt: dict[str, Any], *, zone: ZoneInfo, width: int = 1100) -> dict | None:
    """Rows per machine, bars per planned operation, a 'now' marker and hour ticks."""
    if gantt is None or not gantt["rows"]:
        return None
    row_h, left, right, top = 30, 150, 16, 24
    now = timezone.now()
    start = min(gantt["start_at"], now)
    end = max(gantt["end_at"], start + timedelta(hours=1))
    plot_w = width - left - right
    span_s = max((end - start).total_seconds(), 1.0)

    def x_of(moment: datetime) -> float:
        return left + plot_w * (moment - start).total_seconds() / span_s

    rows = []
    for index, row in enumerate(gantt["rows"]):
        y = top + index * row_h
        bars = []
        for bar in row["bars"]:
            x = x_of(bar["start_at"])
            bar_w = max(x_of(bar["end_at"]) - x, 2.0)
            bars.append(
                {
                    **bar,
                    "x": round(x, 1),
                    "w": round(bar_w, 1),
                    "y": y + 4,
                    "h": row_h - 8,
                    "text_x": round(x + 4, 1),
                    "text_y": y + row_h / 2 + 4,
                    "show_label": bar_w > 58,
                    "title": _bar_title(bar, zone),
                }
            )
        rows.append({"code": row["code"], "y": y, "label_y": y + row_h / 2 + 4, "bars": bars})
    height = top + len(rows) * row_h + 6
    ticks = [
        {"x": round(x_of(tick), 1), "label": tick.strftime("%a %H:%M")}
        for tick in _time_ticks(start, end, zone, count=10)
    ]
    return {
        "width": width,
        "height": height,
        "left": left,
        "right_x": width - right,
        "top": top,
        "bottom_y": height - 6,
        "rows": rows,
        "ticks": ticks,
        "now_x": round(x_of(now), 1) if start <= now <= end else None,
    }


def _bar_title(bar: dict, zone: ZoneInfo) -> str:
    start = bar["start_at"].astimezone(zone).strftime("%a %H:%M")
    end = bar["end_at"].astimezone(zone).strftime("%H:%M")
    title = f"{bar['label']} {bar['name']} {start}–{end}"
    if bar["priority"] is not None:
        title += f" · priority {bar['priority']:.3g}"
    why = explanation_text(bar["explanation"])
    return f"{title} · {why}" if why else title


def sparkline(values: list[float | None], *, width: int = 120, height: int = 28) -> str:
    """SVG polyline points of ``values`` scaled into [0, 1] × the box."""
    present = [value for value in values if value is not None]
    if not present:
        return ""
    count = len(values)
    points = []
    for index, value in enumerate(values):
        if value is None:
            continue
        x = width * (index / (count - 1) if count > 1 else 0.5)
        y = height - 2 - (height - 4) * min(max(value, 0.0), 1.0)
        points.append(f"{x:.1f},{y:.1f}")
    return " ".join(points)


def rul_band(latest: dict, *, scale_h: float, width: int = 160) -> dict | None:
    """Where p10, p50 and p90 of the remaining useful life sit on a bar of ``width``."""
    p10, p50, p90 = latest.get("rul_p10_h"), latest.get("rul_p50_h"), latest.get("rul_p90_h")
    if p50 is None or not math.isfinite(p50):
        return None

    def x_of(hours: float | None) -> float:
        if hours is None or not math.isfinite(hours):
            return float(width)
        return round(width * min(max(hours, 0.0) / scale_h, 1.0), 1)

    return {
        "width": width,
        "x10": x_of(p10),
        "x50": x_of(p50),
        "x90": x_of(p90),
        "w": max(x_of(p90) - x_of(p10), 2.0),
        "p10_d": p10 / 24 if p10 is not None else None,
        "p50_d": p50 / 24,
        "p90_d": p90 / 24 if p90 is not None and math.isfinite(p90) else None,
    }


# --- dashboard -------------------------------------------------------------------------


def _zone(site) -> ZoneInfo:
    try:
        return ZoneInfo(site.time_zone)
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


def panel_context(panel: str, *, user, site) -> dict[str, Any]:
    """What one dashboard panel shows (every read scoped to ``user``)."""
    zone = _zone(site)
    if panel == "lines":
        return {"lines": lines_overview(user=user, site_id=site.pk)}
    if panel == "alerts":
        return {
            "alerts": alerts_open(user=user, site_id=site.pk, limit=20),
            "can_acknowledge": user.has_perm("production.acknowledge_alert"),
        }
    if panel == "stops":
        return {"stops": stops_recent(user=user, site_id=site.pk, limit=12)}
    if panel == "pareto":
        pareto = loss_pareto(user=user, site_id=site.pk)
        return {"pareto": pareto, "pareto_chart": pareto_chart(pareto)}
    if panel == "trend":
        lines = list(selectors.line_list(user=user).filter(area__site_id=site.pk).order_by("code"))
        trend = oee_trend(scope=OeeScope.LINE, scope_ids=[line.pk for line in lines])
        end = timezone.now()
        series = [{"label": line.code, "rows": trend[line.pk]} for line in lines]
        starts = [
            datetime.fromisoformat(row["period_start_at"])
            for item in series
            for row in item["rows"]
        ]
        start = min([*starts, end - timedelta(hours=24)])
        return {"trend_chart": oee_trend_chart(series, start=start, end=end, zone=zone)}
    if panel == "health":
        overview = health_overview(user=user, site_id=site.pk)
        scale_h = 90 * 24.0
        for row in overview:
            row["alpha_points"] = sparkline([point["alpha"] for point in row["trend"]])
            row["rul"] = rul_band(row["latest"], scale_h=scale_h)
        return {"health": overview, "rul_scale_d": scale_h / 24}
    if panel == "gantt":
        gantt = schedule_gantt(user=user, site_id=site.pk)
        return {"gantt": gantt, "gantt_chart": gantt_chart(gantt, zone=zone)}
    if panel == "dispatch":
        return {"dispatch_areas": dispatch_overview(user=user, site_id=site.pk)}
    if panel == "actions":
        site.refresh_from_db(fields=["autonomy_mode"])
        return {
            "actions_open": proposed_actions_open(site_id=site.pk),
            "actions_recent": proposed_actions_recent(site_id=site.pk),
            "can_decide": user.has_perm("autonomy.approve_proposedaction"),
            "can_set_mode": user.has_perm("autonomy.set_autonomy_mode"),
            "autonomy_modes": AutonomyMode.choices,
        }
    if panel == "work_orders":
        work_orders = (
            selectors.work_order_list(user=user)
            .filter(site_id=site.pk)
            .exclude(state__in=["completed", "cancelled"])
            .order_by("due_at", "priority")[:30]
        )
        return {"work_orders": list(work_orders)}
    raise Http404(f"No panel {panel!r}.")


def dashboard_context(*, user, site, panels=PANELS) -> dict[str, Any]:
    context: dict[str, Any] = {
        "site": site,
        "panels": list(panels),
        "now": timezone.now(),
        "plant_zone": str(_zone(site)),
    }
    for panel in panels:
        context.update(panel_context(panel, user=user, site=site))
    return context


def site_param(request: HttpRequest) -> int | None:
    value = request.GET.get("site", "")
    return int(value) if value.isdigit() else None


@login_required
def panel_fragment(request: HttpRequest, panel: str) -> HttpResponse:
    """One dashboard panel, rendered again (the dashboard fetches it on a live event)."""
    if panel not in PANELS:
        raise Http404("No such panel.")
    site = dashboard_site_get(user=request.user, site_id=site_param(request))
    if site is None:
        raise Http404("No site in your scope.")
    context = dashboard_context(user=request.user, site=site, panels=[panel])
    return render(request, f"live/panels/{panel}.html", context)


# --- operator HMI ----------------------------------------------------------------------


@login_required
@ensure_csrf_cookie
def hmi_stations(request: HttpRequest) -> HttpResponse:
    return render(request, "hmi/stations.html", {"lines": station_list(user=request.user)})


def _station_equipment(request: HttpRequest, equipment_id: int):
    return get_object_or_404(selectors.equipment_list(user=request.user), pk=equipment_id)


def station_context(request: HttpRequest, equipment) -> dict[str, Any]:
    view = station_view(equipment=equipment, user=request.user)
    return {
        **view,
        "can_operate": request.user.has_perm("production.operate_operation"),
        "can_start_work_order": request.user.has_perm("production.operate_workorder"),
        "can_classify": request.user.has_perm("production.change_equipmentstateinterval"),
        "can_acknowledge": request.user.has_perm("production.acknowledge_alert"),
        "scrap_reasons": SCRAP_REASONS,
    }


@login_required
@ensure_csrf_cookie
def hmi_station(request: HttpRequest, equipment_id: int) -> HttpResponse:
    equipment = _station_equipment(request, equipment_id)
    context = station_context(request, equipment)
    context["reason_tree"] = downtime_reason_tree()
    return render(request, "hmi/station.html", context)


@login_required
def hmi_station_fragment(request: HttpRequest, equipment_id: int) -> HttpResponse:
    equipment = _station_equipment(request, equipment_id)
    return render(request, "hmi/station_body.html", station_context(request, equipment))


# --- equipment page --------------------------------------------------------------------


@login_required
@ensure_csrf_cookie
def equipment_detail(request: HttpRequest, equipment_id: int) -> HttpResponse:
    equipment = _station_equipment(request, equipment_id)
    site = equipment.cell.line.area.site
    zone = _zone(site)
    health = health_overview(user=request.user, site_id=site.pk, hours=24 * 14)
    health_row = next((row for row in health if row["equipment_id"] == equipment.pk), None)
    if health_row is not None:
        health_row["alpha_points"] = sparkline(
            [point["alpha"] for point in health_row["trend"]], width=520, height=90
        )
        health_row["rul"] = rul_band(health_row["latest"], scale_h=90 * 24.0, width=520)
    maintenance = (
        maintenance_work_order_list(user=request.user)
        .filter(equipment=equipment)
        .order_by("-requested_at")[:20]
    )
    return render(
        request,
        "live/equipment.html",
        {
            "equipment": equipment,
            "site": site,
            "plant_zone": str(zone),
            "signals": list(equipment.signals.order_by("name")),
            "state": equipment_states([equipment.pk]).get(equipment.pk),
            "stops": stops_recent(user=request.user, equipment_id=equipment.pk, limit=10),
            "health": health_row,
            "maintenance": list(maintenance),
            "telemetry": telemetry_urls(equipment.pk),
        },
    )


@login_required
@ensure_csrf_cookie
def supervisor_home(request: HttpRequest) -> HttpResponse:
    """The supervisor dashboard of one site (``?site=<id>``, else the first in scope).

    Every panel is also served alone by ``live.views.panel_fragment``; the page's
    script re-fetches a panel when a live event says it changed.

    The quality role (signs dispositions, decides no proposed actions) lands on the quality
    overview instead; ``?site=`` still opens the dashboard for them.
    """
    if (
        not request.GET
        and request.user.has_perm("quality.add_disposition")
        and not request.user.has_perm("autonomy.approve_proposedaction")
    ):
        return redirect("quality-overview")
    site = dashboard_site_get(user=request.user, site_id=site_param(request))
    if site is None:
        return render(
            request, "supervisor/dashboard.html", {"site": None, "plant_tree": [], "panels": []}
        )
    context = dashboard_context(user=request.user, site=site)
    context["sites"] = list(selectors.site_list(user=request.user).order_by("code"))
    context["live_targets"] = _live_targets(request.user, site)
    return render(request, "supervisor/dashboard.html", context)


def _live_targets(user, site) -> list[str]:
    """The groups the dashboard listens to: the site (when in scope) and its lines.

    Services send line-level news to line groups (and site-level news to the site), so the
    dashboard needs no equipment group: a plant of a thousand machines is a few subscriptions.
    """
    lines = selectors.line_list(user=user).filter(area__site=site).values_list("id", flat=True)
    targets = [f"line.{line_id}" for line_id in lines]
    if selectors.scope_get(user).covers_site(site.pk):
        targets.insert(0, f"site.{site.pk}")
    return targets
