"""The SPC pages: the quality overview (charts out of control, Cpk below 1.33) and one
chart per characteristic, drawn as server-rendered SVG like the Gantt (planning/gantt_svg.py):
points, centre line, limits, zones, violations highlighted, and a capability box with a
histogram against the specification. No script and no style block (CSP): colours are SVG
presentation attributes."""

from __future__ import annotations

from typing import Any

import numpy as np
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from mes_site.errors import ValidationFailed
from quality import spc
from quality.selectors import (
    chart_capability,
    chart_points_list,
    chart_status_list,
    control_chart_list,
    limit_set_list,
)
from quality.selectors.spc import CAPABILITY_TARGET

CHART_WIDTH, CHART_HEIGHT = 900, 320
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 60, 20, 16, 28
HISTOGRAM_WIDTH, HISTOGRAM_HEIGHT, HISTOGRAM_BINS = 420, 200, 20
POINTS_SHOWN = 100
ZONE_FILL = {"a": "#fde2e1", "b": "#fef3c7", "c": "#dcfce7"}


def _scale(low: float, high: float, start: float, end: float):
    span = (high - low) or 1.0

    def scaled(value: float) -> float:
        return round(start + (value - low) / span * (end - start), 1)

    return scaled


def chart_svg_context(points: list, limit_set) -> dict[str, Any]:
    """Geometry of the control chart: the last points with their limits and zones."""
    plotted = [point for point in points if point.statistic is not None]
    raw = [p for p in points if p.statistic is None]
    values = [p.statistic for p in plotted] + [_raw_statistic(p) for p in raw]
    bounds = [value for value in values if value is not None]
    if limit_set is not None:
        limits = [p.lower_limit for p in plotted] + [p.upper_limit for p in plotted]
        bounds += [limit for limit in limits if limit is not None]
        bounds.append(limit_set.center_line)
    if not bounds:
        return {"is_empty": True, "width": CHART_WIDTH, "height": CHART_HEIGHT}
    low, high = min(bounds), max(bounds)
    pad = (high - low) * 0.08 or 1.0
    y_of = _scale(low - pad, high + pad, CHART_HEIGHT - MARGIN_BOTTOM, MARGIN_TOP)
    count = max(len(points), 2)
    x_of = _scale(0, count - 1, MARGIN_LEFT, CHART_WIDTH - MARGIN_RIGHT)
    drawn = []
    for position, point in enumerate(points):
        value = point.statistic if point.statistic is not None else _raw_statistic(point)
        if value is None:
            continue
        rules = sorted({violation.rule for violation in point.violations.all()})
        drawn.append(
            {
                "x": x_of(position),
                "y": y_of(value),
                "index": point.index,
                "value": value,
                "rules": ", ".join(rules),
                "is_violation": bool(rules),
                "is_unplotted": point.statistic is None,
            }
        )
    context: dict[str, Any] = {
        "is_empty": False,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": MARGIN_LEFT,
        "right": CHART_WIDTH - MARGIN_RIGHT,
        "polyline": " ".join(f"{p['x']},{p['y']}" for p in drawn),
        "points": drawn,
        "axis": [
            {"y": y_of(value), "label": f"{value:.4g}"}
            for value in np.linspace(low - pad, high + pad, 5)
        ],
    }
    if limit_set is not None and plotted:
        context["lines"] = _limit_lines(points, limit_set, x_of, y_of)
        context["zones"] = _zones(plotted, limit_set, y_of)
    return context


def _raw_statistic(point) -> float | None:
    if point.values:
        return float(np.mean(point.values))
    if point.defect_count is not None and point.inspected_count:
        return point.defect_count
    return None


def _limit_lines(points, limit_set, x_of, y_of) -> list[dict[str, Any]]:
    def path(attribute: str) -> str:
        return " ".join(
            f"{x_of(position)},{y_of(getattr(point, attribute))}"
            for position, point in enumerate(points)
            if getattr(point, attribute) is not None
        )

    center = y_of(limit_set.center_line)
    return [
        {"name": "UCL", "points": path("upper_limit"), "colour": "#dc2626", "dash": "6 3"},
        {"name": "LCL", "points": path("lower_limit"), "colour": "#dc2626", "dash": "6 3"},
        {
            "name": "CL",
            "points": f"{MARGIN_LEFT},{center} {CHART_WIDTH - MARGIN_RIGHT},{center}",
            "colour": "#166534",
            "dash": "",
        },
    ]


def _zones(plotted, limit_set, y_of) -> list[dict[str, Any]]:
    """The zone bands A, B, C on both sides, from the newest point's sigma."""
    sigma = plotted[-1].sigma or 0.0
    center = limit_set.center_line
    bands = []
    for name, inner, outer in (("c", 0, 1), ("b", 1, 2), ("a", 2, 3)):
        for side in (1, -1):
            top = y_of(center + side * (outer if side > 0 else inner) * sigma)
            bottom = y_of(center + side * (inner if side > 0 else outer) * sigma)
            bands.append(
                {
                    "y": min(top, bottom),
                    "height": round(abs(bottom - top), 1),
                    "fill": ZONE_FILL[name],
                    "label": name.upper(),
                }
            )
    return bands


def histogram_svg_context(values: list[float], characteristic) -> dict[str, Any]:
    """A histogram of the values against LSL, USL and the target."""
    marks = [
        (name, limit)
        for name, limit in (
            ("LSL", characteristic.lower_spec_limit),
            ("T", characteristic.target),
            ("USL", characteristic.upper_spec_limit),
        )
        if limit is not None
    ]
    if not values:
        return {"is_empty": True}
    low = min([*values, *(limit for _, limit in marks)])
    high = max([*values, *(limit for _, limit in marks)])
    if high == low:
        high = low + 1.0
    counts, edges = np.histogram(values, bins=HISTOGRAM_BINS, range=(low, high))
    x_of = _scale(low, high, 10, HISTOGRAM_WIDTH - 10)
    tallest = max(int(counts.max()), 1)
    base = HISTOGRAM_HEIGHT - 20
    bars = [
        {
            "x": x_of(edges[i]),
            "width": max(round(x_of(edges[i + 1]) - x_of(edges[i]) - 1, 1), 1),
            "y": round(base - count / tallest * (base - 10), 1),
            "height": round(count / tallest * (base - 10), 1),
            "title": f"{edges[i]:.4g} … {edges[i + 1]:.4g}: {count}",
            "is_outside": any(
                (name == "LSL" and edges[i + 1] <= limit) or (name == "USL" and edges[i] >= limit)
                for name, limit in marks
            ),
        }
        for i, count in enumerate(counts.tolist())
    ]
    return {
        "is_empty": False,
        "width": HISTOGRAM_WIDTH,
        "height": HISTOGRAM_HEIGHT,
        "base": base,
        "bars": bars,
        "marks": [{"name": name, "x": x_of(limit)} for name, limit in marks],
    }


@login_required
def spc_overview(request: HttpRequest) -> HttpResponse:
    """Every chart in scope: out of control (a violation among the last points) and Cpk."""
    statuses = chart_status_list(user=request.user)
    return render(
        request,
        "quality/spc_overview.html",
        {
            "statuses": statuses,
            "out_of_control": [s for s in statuses if s.recent_violations],
            "not_capable": [s for s in statuses if s.cpk is not None and s.cpk < CAPABILITY_TARGET],
            "capability_target": CAPABILITY_TARGET,
        },
    )


@login_required
def spc_chart(request: HttpRequest, chart_id: int) -> HttpResponse:
    chart = get_object_or_404(control_chart_list(user=request.user), pk=chart_id)
    points = list(chart_points_list(chart=chart).order_by("-index")[:POINTS_SHOWN])[::-1]
    limit_sets = list(limit_set_list(chart=chart)[:5])
    current = limit_sets[0] if limit_sets else None
    capability, capability_error = None, ""
    try:
        capability = chart_capability(chart=chart)
    except ValidationFailed as error:
        capability_error = error.message
    values = [value for point in points for value in point.values]
    violations = [
        (point, violation) for point in reversed(points) for violation in point.violations.all()
    ]
    return render(
        request,
        "quality/spc_chart.html",
        {
            "chart": chart,
            "characteristic": chart.characteristic,
            "limit_sets": limit_sets,
            "current": current,
            "svg": chart_svg_context(points, current),
            "histogram": histogram_svg_context(values, chart.characteristic),
            "capability": capability,
            "capability_error": capability_error,
            "capability_target": CAPABILITY_TARGET,
            "violations": [
                {
                    "index": point.index,
                    "rule": violation.rule,
                    "description": spc.RunRule(violation.rule).description,
                    "zone": violation.zone,
                    "points": violation.point_indices,
                    "detected_at": violation.detected_at,
                }
                for point, violation in violations[:20]
            ],
        },
    )
