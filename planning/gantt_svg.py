"""The Gantt chart of a plan as a server-rendered SVG (no script, no style block, no CDN:
its colours are presentation attributes, which the Content-Security-Policy allows).

:func:`gantt_svg_context` turns the Gantt data (``planning.selectors.gantt.gantt_data``) into
the geometry the ``scheduling/gantt.svg`` template draws: one row per machine with its bars,
running work and maintenance block, hour ticks and the "now" line. :class:`SvgRenderer`
serves it (and an error as a small SVG with the message).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.template.loader import render_to_string
from rest_framework import renderers

__all__ = ["SvgRenderer", "gantt_svg_context"]

LABEL_WIDTH = 170
TOP = 28
ROW_HEIGHT = 30
TICK_STEPS_H = (1, 2, 3, 4, 6, 12, 24, 48, 168)


class SvgRenderer(renderers.BaseRenderer):
    media_type = "image/svg+xml"
    format = "svg"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, str):
            return data.encode(self.charset)
        message = data.get("message", "error") if isinstance(data, dict) else str(data)
        return render_to_string("scheduling/gantt_message.svg", {"message": message}).encode(
            self.charset
        )


def gantt_svg_context(
    data: dict[str, Any], *, zone: ZoneInfo, now: datetime, width: int = 1100
) -> dict[str, Any]:
    """Geometry of the Gantt SVG: one row per machine, bars, maintenance blocks, hour ticks."""
    plot_width = width - LABEL_WIDTH - 10
    start, end = _time_span(data, now)
    span_s = max((end - start).total_seconds(), 3600.0)

    def x_of(moment: datetime) -> float:
        seconds = (moment - start).total_seconds()
        return round(LABEL_WIDTH + plot_width * min(max(seconds / span_s, 0.0), 1.0), 1)

    rows = [
        _row(machine, TOP + index * ROW_HEIGHT, x_of, zone=zone, end=end)
        for index, machine in enumerate(data["machines"])
    ]
    height = TOP + len(rows) * ROW_HEIGHT + 10
    return {
        "width": width,
        "height": height,
        "label_width": LABEL_WIDTH,
        "top": TOP,
        "bottom": height - 10,
        "ticks": _ticks(start, end, span_s, x_of, zone=zone),
        "rows": rows,
        "now_x": x_of(now),
        "run": data["run"],
        "bar_height": ROW_HEIGHT - 8,
    }


def _time_span(data: dict[str, Any], now: datetime) -> tuple[datetime, datetime]:
    """From the earliest start (or now) to the latest end (at least an hour after now)."""
    starts = [now]
    ends = [now + timedelta(hours=1)]
    for machine in data["machines"]:
        for bar in machine["bars"]:
            starts.append(bar["start_at"])
            ends.append(bar["end_at"])
        for item in machine["running"]:
            starts.append(datetime.fromisoformat(item["start_at"]))
    return min(starts), max(ends)


def _ticks(
    start: datetime,
    end: datetime,
    span_s: float,
    x_of: Callable[[datetime], float],
    *,
    zone: ZoneInfo,
) -> list[dict[str, Any]]:
    """Hour ticks in plant time, at most about a dozen over the span."""
    step_h = next(h for h in TICK_STEPS_H if span_s / 3600.0 / h <= 12)
    tick = start.astimezone(zone).replace(minute=0, second=0, microsecond=0)
    ticks = []
    while tick.astimezone(UTC) <= end:
        if tick.astimezone(UTC) >= start:
            ticks.append({"x": x_of(tick.astimezone(UTC)), "label": tick.strftime("%a %H:%M")})
        tick += timedelta(hours=step_h)
    return ticks


def _row(
    machine: dict[str, Any],
    y: int,
    x_of: Callable[[datetime], float],
    *,
    zone: ZoneInfo,
    end: datetime,
) -> dict[str, Any]:
    """One machine's row: its planned bars, running work and maintenance block."""
    health = machine.get("health") or {}
    return {
        "y": y,
        "bar_y": y + 4,
        "text_y": y + 19,
        "code": machine["code"],
        "is_in_anomaly": bool(health.get("is_in_anomaly")),
        "health_title": _health_title(health),
        "left_out": machine.get("left_out", ""),
        "bars": [_bar(bar, x_of, zone=zone) for bar in machine["bars"]],
        "running": [_running(item, x_of, zone=zone) for item in machine["running"]],
        "block": _block(machine["block"], x_of, end=end) if machine.get("block") else None,
    }


def _health_title(health: dict[str, Any]) -> str:
    if not health:
        return "no health data"
    return f"α {health['alpha']:.2f}, δ {health['degradation_per_h']:.3g}/h" + (
        f", RUL p10 {health['rul_p10_h']:.0f} h" if health.get("rul_p10_h") else ""
    )


def _bar(
    bar: dict[str, Any], x_of: Callable[[datetime], float], *, zone: ZoneInfo
) -> dict[str, Any]:
    x1, x2 = x_of(bar["start_at"]), x_of(bar["end_at"])
    pending = bar.get("pending_action")
    return {
        "x": x1,
        "width": max(x2 - x1, 1.5),
        "label": bar["label"],
        "is_high_stress": bar["is_high_stress"],
        "is_pending": pending is not None,
        "title": (
            f"{bar['label']} {bar['name']} ({bar['force_kn']:g} kN) "
            f"{bar['start_at'].astimezone(zone):%a %H:%M}–"
            f"{bar['end_at'].astimezone(zone):%H:%M}"
            + (f" — {pending['kind']} {pending['status']}" if pending else "")
            + (f"\n{bar['message']}" if bar["message"] else "")
        ),
    }


def _running(
    item: dict[str, Any], x_of: Callable[[datetime], float], *, zone: ZoneInfo
) -> dict[str, Any]:
    started = datetime.fromisoformat(item["start_at"])
    ends_at = datetime.fromisoformat(item["expected_end_at"])
    return {
        "x": x_of(started),
        "width": max(x_of(ends_at) - x_of(started), 1.5),
        "title": f"{item['label']} running, expected end {ends_at.astimezone(zone):%a %H:%M}",
    }


def _block(
    block: dict[str, Any], x_of: Callable[[datetime], float], *, end: datetime
) -> dict[str, Any]:
    block_start = datetime.fromisoformat(block["start_at"])
    block_end = datetime.fromisoformat(block["end_at"]) if block["end_at"] else end
    return {
        "x": x_of(block_start),
        "width": max(x_of(block_end) - x_of(block_start), 1.5),
        "title": block["reason"],
    }
