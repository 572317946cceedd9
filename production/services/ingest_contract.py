"""The contract between the ingest bridge and the monitoring services.

:class:`EquipmentEventIn` is what the bridge hands over (one batch per call),
:class:`EventIngestResult` what it gets back, :class:`RejectReason` the codes of the events
refused (never stored; the bridge dead-letters them). The validated forms
(:class:`StateEvent`, :class:`CountEvent`) and what a committed batch changed
(:class:`IngestOutcome`) are passed between the store steps.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

# An event stamped further ahead of the server clock than this is refused (a clock fault).


FUTURE_TOLERANCE = timedelta(minutes=5)
COUNT_KEYS = frozenset({"good", "scrap", "rework"})


@dataclass(frozen=True)
class EquipmentEventIn:
    equipment_path: str  # UNS path of the equipment (Equipment.uns_path)
    ts: datetime  # aware UTC
    kind: str  # "state" or "count"
    data: dict  # state: {"state": <EquipmentState value>, "reason": <DowntimeReason code or None>}
    # count: {"good": int, "scrap": int, "rework": int}


@dataclass(frozen=True)
class EventIngestResult:
    accepted: int
    rejected: list[tuple[int, str, str]]  # (index in the batch, reason code, message)


class RejectReason(StrEnum):
    """Why an equipment event was rejected (the caller dead-letters it with this code)."""

    INVALID_EVENT = "invalid_event"
    UNKNOWN_EQUIPMENT = "unknown_equipment"
    INVALID_TIMESTAMP = "invalid_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    UNKNOWN_KIND = "unknown_kind"
    UNKNOWN_STATE = "unknown_state"
    UNKNOWN_REASON = "unknown_reason"
    INACTIVE_REASON = "inactive_reason"
    INVALID_COUNT = "invalid_count"
    NEGATIVE_COUNT = "negative_count"
    CONFLICTING_EVENT = "conflicting_event"
    INSIDE_OPERATOR_INTERVAL = "inside_operator_interval"


@dataclass(frozen=True, slots=True)
class StateEvent:
    index: int
    equipment_id: int
    ts: datetime
    state: str
    reason_id: int | None


@dataclass(frozen=True, slots=True)
class CountEvent:
    index: int
    equipment_id: int
    ts: datetime
    good: int
    scrap: int
    rework: int


@dataclass
class IngestOutcome:
    """What a committed batch changed, for the live accumulators and the broadcast."""

    state_changes: dict[int, list[tuple[datetime, str, str | None, int | None]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    counts: dict[int, list[tuple[datetime, int, int, int, float | None]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    rederived: set[int] = field(default_factory=set)
    touched: set[int] = field(default_factory=set)
