"""Small helpers the planning services share: settings with their defaults, times as ISO
text and from epoch seconds, and the scheduler's dataclasses as JSON-able data."""

from __future__ import annotations

import math
from dataclasses import fields, is_dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from django.conf import settings

__all__ = ["iso_text", "jsonable", "setting", "utc_at"]


def setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def iso_text(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def utc_at(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, tz=UTC)


def jsonable(value: Any) -> Any:
    """Dataclasses, enums, tuples and non-finite floats as JSON-able data (inf/NaN → None)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {item.name: jsonable(getattr(value, item.name)) for item in fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(item) for item in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return value.isoformat()
    return value
