"""Formatting filters of the live screens: percentages, durations, plant-local times."""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def percent(value, digits: int = 0) -> str:
    """0.853 → "85 %"; None or NaN → "–"."""
    if value is None:
        return "–"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "–"
    if not math.isfinite(number):
        return "–"
    return f"{number * 100:.{int(digits)}f} %"


@register.filter
def duration(seconds) -> str:
    """Seconds → "45 s", "12 min", "3 h 05 min", "2 d 4 h"."""
    if seconds is None:
        return "–"
    total = int(max(float(seconds), 0.0))
    if total < 60:
        return f"{total} s"
    minutes, _ = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


@register.filter
def plant_time(value, zone_name: str = "UTC") -> str:
    """An aware datetime (or ISO text) as plant-local "14:05", with the day if not today."""
    if value in (None, ""):
        return "–"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    try:
        zone = ZoneInfo(zone_name)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    local = moment.astimezone(zone)
    if local.date() == timezone.now().astimezone(zone).date():
        return local.strftime("%H:%M")
    return local.strftime("%a %d %b %H:%M")


@register.filter
def iso(value) -> str:
    """Datetime → ISO 8601 (for data attributes the page script reads)."""
    if value in (None, ""):
        return ""
    return value if isinstance(value, str) else value.isoformat()
