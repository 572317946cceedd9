"""Writes of the monitoring area: equipment events, operator entries, OEE snapshots, alerts.

Equipment events (:func:`equipment_events_ingest`) are the contract with the ingest bridge:
one call per batch, bulk and idempotent. State events are stored as received
(``EquipmentStateEvent``, unique per equipment and instant) and the state intervals are
derived from them: an event starts a stretch of its state that lasts until the next event
with another state (a repeat of the current state, or an event without a reason during a
stop that has one, continues it). An in-order event only closes the open interval and opens
the next; a late one (older than the last event of its equipment) re-derives the interval
chain from the interval it falls into, keeping operator classifications, and asks for the
closed OEE periods it touches to be computed again (``OeeRecomputeRequest``, consumed by
:func:`oee_snapshots_maintain`). Bad events are rejected with a reason code, never stored.

After each commit the live accumulators of the open shift (``selectors.monitoring.live_oee``)
are fed, and the OEE of the touched lines is broadcast (at most once a second per line) and
checked against the OEE alert rules.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from mes_site.errors import InvalidTransition, NotFound, ValidationFailed
from mes_site.publish import broadcast, group_name
from production.algorithms.oee import OeeElements, compute_kpis, rollup
from production.choices import (
    AlertMetric,
    AlertSeverity,
    AlertState,
    Comparison,
    EquipmentState,
    IsoTimeElement,
    OeePeriod,
    OeeScope,
    StateSource,
    WorkOrderState,
)
from production.models import (
    Alert,
    AlertRule,
    DowntimeReason,
    Equipment,
    EquipmentStateInterval,
    OeeSnapshot,
    ProductionCount,
    Signal,
    Site,
    WorkOrder,
)
from production.models.monitoring import EquipmentStateEvent, OeeRecomputeRequest
from production.selectors import monitoring as monitoring_selectors
from production.selectors.monitoring import (
    CalendarInvalid,
    EquipmentPeriodResult,
    EquipmentRef,
    LiveOee,
    calendar_book_for,
    close_delay_s,
    equipment_period_compute,
    equipment_refs,
    live_oee,
    local_day_bounds,
    local_hour_starts,
    micro_stop_threshold_s,
    oee_current,
    oee_report,
    operations_running,
    work_order_sub_windows,
)
from traceability.services import audit_event_record, state_transition

logger = logging.getLogger(__name__)

__all__ = [
    "EquipmentEventIn",
    "EventIngestResult",
    "RejectReason",
    "SnapshotMaintainResult",
    "alert_acknowledge",
    "alert_rules_default_ensure",
    "alerts_evaluate_oee",
    "alerts_evaluate_signal_values",
    "equipment_events_ingest",
    "equipment_state_interval_enter",
    "equipment_stop_classify",
    "oee_lines_publish",
    "oee_snapshots_maintain",
    "oee_snapshots_rebuild",
]

# An event stamped further ahead of the server clock than this is refused (a clock fault).
FUTURE_TOLERANCE = timedelta(minutes=5)
COUNT_KEYS = frozenset({"good", "scrap", "rework"})


# --- the ingest contract ----------


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
class _StateEvent:
    index: int
    equipment_id: int
    ts: datetime
    state: str
    reason_id: int | None


@dataclass(frozen=True, slots=True)
class _CountEvent:
    index: int
    equipment_id: int
    ts: datetime
    good: int
    scrap: int
    rework: int


@dataclass
class _Reason:
    id: int
    code: str
    iso_element: str
    is_active: bool


@dataclass
class _IngestOutcome:
    """What a committed batch changed, for the live accumulators and the broadcast."""

    state_changes: dict[int, list[tuple[datetime, str, str | None, int | None]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    counts: dict[int, list[tuple[datetime, int, int, int, float | None]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    rederived: set[int] = field(default_factory=set)
    touched: set[int] = field(default_factory=set)


def equipment_events_ingest(*, events: Sequence[EquipmentEventIn]) -> EventIngestResult:
    """Store a batch of equipment events; bulk, idempotent, bad events rejected with a reason.

    A redelivered event (same equipment, instant and content) is accepted and changes
    nothing; an event at the instant of a stored one with other content is rejected as
    ``conflicting_event``. See :class:`RejectReason` for every rejection code.
    """
    now = timezone.now()
    rejected: list[tuple[int, str, str]] = []
    equipment_rows = {
        path: (equipment_id, line_id)
        for path, equipment_id, line_id in Equipment.objects.filter(
            uns_path__in={e.equipment_path for e in events if isinstance(e, EquipmentEventIn)}
        ).values_list("uns_path", "id", "cell__line_id")
    }
    reason_codes = {
        e.data.get("reason")
        for e in events
        if isinstance(e, EquipmentEventIn) and isinstance(e.data, dict) and e.kind == "state"
    }
    reasons = {
        code: _Reason(reason_id, code, element, is_active)
        for reason_id, code, element, is_active in DowntimeReason.objects.filter(
            code__in={code for code in reason_codes if isinstance(code, str) and code}
        ).values_list("id", "code", "iso_element", "is_active")
    }
    reason_elements = {reason.id: reason.iso_element for reason in reasons.values()}
    states, counts = _events_validate(events, equipment_rows, reasons, now, rejected)
    outcome = _IngestOutcome()
    line_of = dict(equipment_rows.values())
    if states or counts:
        with transaction.atomic():
            equipment_ids = sorted(
                {e.equipment_id for e in states} | {e.equipment_id for e in counts}
            )
            frontier = dict(
                Equipment.objects.select_for_update(no_key=True, of=("self",))
                .filter(id__in=equipment_ids)
                .order_by("id")
                .annotate(
                    last_event_at=Subquery(
                        EquipmentStateEvent.objects.filter(equipment_id=OuterRef("pk"))
                        .order_by("-ts")
                        .values("ts")[:1]
                    )
                )
                .values_list("id", "last_event_at")
            )
            requests: list[OeeRecomputeRequest] = []
            if states:
                _states_store(states, frontier, reason_elements, now, rejected, outcome, requests)
            if counts:
                _counts_store(counts, now, rejected, outcome, requests)
            if requests:
                OeeRecomputeRequest.objects.bulk_create(requests)
            touched = set(outcome.touched)
            transaction.on_commit(
                lambda: _after_ingest_commit(outcome, {line_of[i] for i in touched})
            )
    rejected.sort()
    return EventIngestResult(accepted=len(events) - len(rejected), rejected=rejected)


def _events_validate(
    events: Sequence[EquipmentEventIn],
    equipment_rows: dict[str, tuple[int, int]],
    reasons: dict[str, _Reason],
    now: datetime,
    rejected: list[tuple[int, str, str]],
) -> tuple[list[_StateEvent], list[_CountEvent]]:
    """Check every event; returns the valid ones (batch duplicates folded, conflicts refused)."""
    states: dict[tuple[int, datetime], _StateEvent] = {}
    counts: dict[tuple[int, datetime], _CountEvent] = {}

    def reject(index: int, reason: RejectReason, message: str) -> None:
        rejected.append((index, reason.value, message))

    for index, event in enumerate(events):
        if not isinstance(event, EquipmentEventIn) or not isinstance(event.data, dict):
            reject(
                index,
                RejectReason.INVALID_EVENT,
                "The event is not an EquipmentEventIn with a dict of data.",
            )
            continue
        row = equipment_rows.get(event.equipment_path)
        if row is None:
            reject(
                index,
                RejectReason.UNKNOWN_EQUIPMENT,
                f"No equipment has the UNS path {str(event.equipment_path)[:200]!r}.",
            )
            continue
        equipment_id = row[0]
        ts = event.ts
        if not isinstance(ts, datetime) or ts.tzinfo is None or ts.utcoffset() is None:
            reject(
                index,
                RejectReason.INVALID_TIMESTAMP,
                f"The timestamp {ts!r} is not an aware datetime.",
            )
            continue
        ts = ts.astimezone(UTC)
        if ts > now + FUTURE_TOLERANCE:
            reject(
                index,
                RejectReason.FUTURE_TIMESTAMP,
                f"The timestamp {ts.isoformat()} is more than {FUTURE_TOLERANCE} ahead of the "
                f"server clock ({now.isoformat()}).",
            )
            continue
        if event.kind == "state":
            state = event.data.get("state")
            if state not in EquipmentState.values:
                reject(
                    index,
                    RejectReason.UNKNOWN_STATE,
                    f"Unknown equipment state {str(state)[:50]!r}; use one of "
                    f"{', '.join(EquipmentState.values)}.",
                )
                continue
            code = event.data.get("reason")
            reason_id = None
            if code is not None and code != "":
                reason = reasons.get(code) if isinstance(code, str) else None
                if reason is None:
                    reject(
                        index,
                        RejectReason.UNKNOWN_REASON,
                        f"No downtime reason has the code {str(code)[:64]!r}.",
                    )
                    continue
                if not reason.is_active:
                    reject(
                        index,
                        RejectReason.INACTIVE_REASON,
                        f"The downtime reason {reason.code!r} is no longer active.",
                    )
                    continue
                reason_id = reason.id
            candidate = _StateEvent(index, equipment_id, ts, state, reason_id)
            earlier = states.get((equipment_id, ts))
            if earlier is None:
                states[(equipment_id, ts)] = candidate
            elif (earlier.state, earlier.reason_id) != (state, reason_id):
                reject(
                    index,
                    RejectReason.CONFLICTING_EVENT,
                    f"Event #{earlier.index} of this batch reports another state for the same "
                    f"equipment at {ts.isoformat()}.",
                )
        elif event.kind == "count":
            unknown_keys = set(event.data) - COUNT_KEYS
            values = {key: event.data.get(key, 0) for key in COUNT_KEYS}
            if unknown_keys or any(
                type(value) is not int
                for value in values.values()  # bool is not a count
            ):
                reject(
                    index,
                    RejectReason.INVALID_COUNT,
                    "A count has integer fields good, scrap and rework only; got "
                    f"{str(event.data)[:200]}.",
                )
                continue
            if any(value < 0 for value in values.values()):
                reject(
                    index,
                    RejectReason.NEGATIVE_COUNT,
                    f"Counts must not be negative; got {values}.",
                )
                continue
            candidate_count = _CountEvent(
                index, equipment_id, ts, values["good"], values["scrap"], values["rework"]
            )
            earlier_count = counts.get((equipment_id, ts))
            if earlier_count is None:
                counts[(equipment_id, ts)] = candidate_count
            elif (earlier_count.good, earlier_count.scrap, earlier_count.rework) != (
                values["good"],
                values["scrap"],
                values["rework"],
            ):
                reject(
                    index,
                    RejectReason.CONFLICTING_EVENT,
                    f"Event #{earlier_count.index} of this batch reports other counts for the "
                    f"same equipment at {ts.isoformat()}.",
                )
        else:
            reject(
                index,
                RejectReason.UNKNOWN_KIND,
                f"Unknown event kind {str(event.kind)[:30]!r}; use 'state' or 'count'.",
            )
    return list(states.values()), list(counts.values())


# --- state events → intervals --------------------------------------------------------------------

_DEFAULT_ELEMENT = {
    EquipmentState.PRODUCING: "APT",
    EquipmentState.SETUP: IsoTimeElement.AUST,
    EquipmentState.DOWN: IsoTimeElement.ADET,
    EquipmentState.IDLE: IsoTimeElement.ADOT,
    EquipmentState.STARVED: IsoTimeElement.ADOT,
    EquipmentState.BLOCKED: IsoTimeElement.ADOT,
    EquipmentState.PLANNED_STOP: IsoTimeElement.PDOT,
    EquipmentState.UNKNOWN: "no_data",
}


def _element_of(state: str, reason_element: str | None) -> str:
    if reason_element is None or state in (EquipmentState.PRODUCING, EquipmentState.UNKNOWN):
        return str(_DEFAULT_ELEMENT[EquipmentState(state)])
    return reason_element


def _interval_flags(
    state: str,
    reason_element: str | None,
    start_at: datetime,
    end_at: datetime | None,
    threshold_s: float,
) -> tuple[bool, bool]:
    """(needs_reason, is_minor_stop) of a closed interval; an open one has neither yet."""
    if end_at is None:
        return False, False
    length_s = (end_at - start_at).total_seconds()
    is_delay = _element_of(state, reason_element) == IsoTimeElement.ADET
    is_minor = is_delay and length_s < threshold_s
    needs_reason = (
        state == EquipmentState.DOWN and reason_element is None and length_s >= threshold_s
    )
    return needs_reason, is_minor


def _continues(
    state: str, reason_id: int | None, current_state: str, current_reason_id: int | None
) -> bool:
    """A state event continues the current stretch: same state, and no other reason given."""
    return state == current_state and (reason_id is None or reason_id == current_reason_id)


def _states_store(
    states: list[_StateEvent],
    frontier: dict[int, datetime | None],
    reason_elements: dict[int, str],
    now: datetime,
    rejected: list[tuple[int, str, str]],
    outcome: _IngestOutcome,
    requests: list[OeeRecomputeRequest],
) -> None:
    by_equipment: dict[int, list[_StateEvent]] = defaultdict(list)
    for event in states:
        by_equipment[event.equipment_id].append(event)
    equipment_ids = list(by_equipment)
    # Redelivered events: identical → nothing to do; different content → conflict.
    stored = {
        (equipment_id, ts): (state, reason_id)
        for equipment_id, ts, state, reason_id in EquipmentStateEvent.objects.filter(
            equipment_id__in=equipment_ids, ts__in={event.ts for event in states}
        ).values_list("equipment_id", "ts", "state", "reason_id")
    }
    fresh: dict[int, list[_StateEvent]] = {}
    for equipment_id, items in by_equipment.items():
        kept = []
        for event in sorted(items, key=lambda item: item.ts):
            previous = stored.get((equipment_id, event.ts))
            if previous is None:
                kept.append(event)
            elif previous != (event.state, event.reason_id):
                rejected.append(
                    (
                        event.index,
                        RejectReason.CONFLICTING_EVENT.value,
                        f"A different state was already recorded for this equipment at "
                        f"{event.ts.isoformat()}.",
                    )
                )
        if kept:
            fresh[equipment_id] = kept
    if not fresh:
        return
    threshold_s = micro_stop_threshold_s()
    earliest = min(items[0].ts for items in fresh.values())
    with_operator_after = monitoring_selectors.operator_intervals_after(list(fresh), earliest)
    open_intervals = {
        interval.equipment_id: interval
        for interval in EquipmentStateInterval.objects.filter(
            equipment_id__in=list(fresh), end_at__isnull=True
        ).select_related("reason")
    }
    to_close: list[EquipmentStateInterval] = []
    to_create: list[EquipmentStateInterval] = []
    events_to_store: list[EquipmentStateEvent] = []
    for equipment_id, items in fresh.items():
        last = frontier.get(equipment_id)
        current = open_intervals.get(equipment_id)
        # In order: after the last stored event and after the open interval's start (an
        # interval without its event, e.g. from before events were kept, counts too).
        in_order = (last is None or items[0].ts > last) and (
            current is None or items[0].ts > current.start_at
        )
        if not in_order or equipment_id in with_operator_after:
            kept = _states_rederive(
                equipment_id, items, reason_elements, now, threshold_s, rejected, requests
            )
            events_to_store.extend(_event_row(event) for event in kept)
            if kept:
                outcome.rederived.add(equipment_id)
                outcome.touched.add(equipment_id)
            continue
        current_element = current.reason.iso_element if current and current.reason_id else None
        for event in items:
            events_to_store.append(_event_row(event))
            if current is not None and _continues(
                event.state, event.reason_id, current.state, current.reason_id
            ):
                continue
            if current is not None:
                current.end_at = event.ts
                current.needs_reason, current.is_minor_stop = _interval_flags(
                    current.state, current_element, current.start_at, event.ts, threshold_s
                )
                if current.pk is not None:
                    to_close.append(current)
            current = EquipmentStateInterval(
                equipment_id=equipment_id,
                start_at=event.ts,
                state=event.state,
                reason_id=event.reason_id,
                source=StateSource.EVENT,
            )
            current_element = reason_elements.get(event.reason_id) if event.reason_id else None
            to_create.append(current)
            outcome.state_changes[equipment_id].append(
                (event.ts, event.state, current_element, event.reason_id)
            )
        outcome.touched.add(equipment_id)
    _intervals_update(to_close, ["end_at", "needs_reason", "is_minor_stop"])
    if to_create:
        EquipmentStateInterval.objects.bulk_create(to_create)
    if events_to_store:
        EquipmentStateEvent.objects.bulk_create(events_to_store)


def _intervals_update(intervals: list[EquipmentStateInterval], fields: list[str]) -> None:
    """Save ``fields`` of many intervals in one statement (PostgreSQL: UPDATE … FROM VALUES).

    Django's ``bulk_update`` builds one CASE per field and row, which costs more than the
    write itself for a hundred rows; other databases still use it.
    """
    if not intervals:
        return
    if connection.vendor != "postgresql":
        EquipmentStateInterval.objects.bulk_update(intervals, fields)
        return
    meta = EquipmentStateInterval._meta
    columns = [meta.pk, *(meta.get_field(name) for name in fields)]
    row_sql = "(" + ", ".join(f"CAST(%s AS {c.db_type(connection)})" for c in columns) + ")"
    params: list[Any] = []
    for interval in intervals:
        for column in columns:
            params.append(column.get_db_prep_save(getattr(interval, column.attname), connection))
    names = ", ".join(f'"{column.column}"' for column in columns)
    assignments = ", ".join(f'"{column.column}" = v."{column.column}"' for column in columns[1:])
    # Only the model's own table and column names go into the text; values are parameters.
    sql = (
        f'UPDATE "{meta.db_table}" AS t SET {assignments} '  # noqa: S608
        f"FROM (VALUES {', '.join([row_sql] * len(intervals))}) AS v({names}) "
        f'WHERE t."{meta.pk.column}" = v."{meta.pk.column}"'
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _event_row(event: _StateEvent) -> EquipmentStateEvent:
    return EquipmentStateEvent(
        equipment_id=event.equipment_id, ts=event.ts, state=event.state, reason_id=event.reason_id
    )


@dataclass
class _Segment:
    start_at: datetime
    state: str
    reason_id: int | None
    end_at: datetime | None = None


def _states_rederive(
    equipment_id: int,
    new_events: list[_StateEvent],
    reason_elements: dict[int, str],
    now: datetime,
    threshold_s: float,
    rejected: list[tuple[int, str, str]],
    requests: list[OeeRecomputeRequest],
) -> list[_StateEvent]:
    """Place late (or operator-bounded) events: re-derive the chain from where they fall.

    Returns the events kept (the rest are rejected). Operator-entered intervals are fixed:
    an event inside one is rejected and the derived stretches stop where one begins.
    Classifications on re-derived intervals are kept where the state is unchanged.
    """
    earliest = new_events[0].ts
    operator_intervals = list(
        EquipmentStateInterval.objects.filter(
            equipment_id=equipment_id, source=StateSource.OPERATOR, end_at__gt=earliest
        ).order_by("start_at")
    )
    kept: list[_StateEvent] = []
    for event in new_events:
        inside = next(
            (
                interval
                for interval in operator_intervals
                if interval.start_at <= event.ts < interval.end_at
            ),
            None,
        )
        if inside is None:
            kept.append(event)
        else:
            rejected.append(
                (
                    event.index,
                    RejectReason.INSIDE_OPERATOR_INTERVAL.value,
                    f"{event.ts.isoformat()} lies inside the state entered by an operator "
                    f"from {inside.start_at.isoformat()} to {inside.end_at.isoformat()}.",
                )
            )
    if not kept:
        return []
    earliest = kept[0].ts
    anchor = (
        EquipmentStateInterval.objects.filter(equipment_id=equipment_id, start_at__lte=earliest)
        .order_by("-start_at")
        .first()
    )
    if (
        anchor is not None
        and anchor.source == StateSource.EVENT
        and (anchor.end_at is None or anchor.end_at > earliest)
    ):
        range_start = anchor.start_at
    else:
        range_start = earliest
    stored_events = list(
        EquipmentStateEvent.objects.filter(
            equipment_id=equipment_id, ts__gte=range_start
        ).values_list("ts", "state", "reason_id")
    )
    old_intervals = list(
        EquipmentStateInterval.objects.filter(
            equipment_id=equipment_id, source=StateSource.EVENT, start_at__gte=range_start
        )
        .select_related("reason")
        .order_by("start_at")
    )
    timeline = sorted(
        [*stored_events, *((event.ts, event.state, event.reason_id) for event in kept)],
        key=lambda item: item[0],
    )
    # An interval whose own event is missing (data from before events were kept) stands for
    # the event that started it.
    known = {ts for ts, _, _ in timeline}
    missing = [
        (interval.start_at, interval.state, interval.reason_id)
        for interval in old_intervals
        if interval.start_at not in known
    ]
    if missing:
        timeline = sorted([*timeline, *missing], key=lambda item: item[0])
    barriers = [
        (interval.start_at, interval.end_at)
        for interval in operator_intervals
        if interval.start_at >= range_start
    ]
    segments = _segments_derive(timeline, barriers)
    missing_elements = {
        segment.reason_id
        for segment in segments
        if segment.reason_id is not None and segment.reason_id not in reason_elements
    } | {
        interval.reason_id
        for interval in old_intervals
        if interval.reason_id is not None and interval.reason_id not in reason_elements
    }
    if missing_elements:
        reason_elements = {
            **reason_elements,
            **dict(
                DowntimeReason.objects.filter(id__in=missing_elements).values_list(
                    "id", "iso_element"
                )
            ),
        }
    old_by_start = {interval.start_at: interval for interval in old_intervals}
    classified = [interval for interval in old_intervals if interval.classified_at is not None]
    to_update: list[EquipmentStateInterval] = []
    to_create: list[EquipmentStateInterval] = []
    for segment in segments:
        interval = old_by_start.pop(segment.start_at, None)
        carried = _classification_carried(segment, interval, classified)
        if interval is None:
            interval = EquipmentStateInterval(
                equipment_id=equipment_id, start_at=segment.start_at, source=StateSource.EVENT
            )
            to_create.append(interval)
        else:
            to_update.append(interval)
        interval.end_at = segment.end_at
        interval.state = segment.state
        if carried is not None:
            interval.reason_id = carried.reason_id
            interval.classified_by_id = carried.classified_by_id
            interval.classified_at = carried.classified_at
        else:
            interval.reason_id = segment.reason_id
            interval.classified_by_id = None
            interval.classified_at = None
        element = reason_elements.get(interval.reason_id) if interval.reason_id else None
        interval.needs_reason, interval.is_minor_stop = _interval_flags(
            interval.state, element, interval.start_at, interval.end_at, threshold_s
        )
    if old_by_start:
        EquipmentStateInterval.objects.filter(
            pk__in=[interval.pk for interval in old_by_start.values()]
        ).delete()
    _intervals_update(
        to_update,
        [
            "end_at",
            "state",
            "reason",
            "classified_by",
            "classified_at",
            "needs_reason",
            "is_minor_stop",
        ],
    )
    if to_create:
        EquipmentStateInterval.objects.bulk_create(to_create)
    if range_start < now - timedelta(seconds=close_delay_s()):
        requests.append(
            OeeRecomputeRequest(
                equipment_id=equipment_id,
                range_start_at=range_start,
                range_end_at=max(now, range_start + timedelta(seconds=1)),
                requested_at=now,
            )
        )
    return kept


def _segments_derive(
    timeline: list[tuple[datetime, str, int | None]],
    barriers: list[tuple[datetime, datetime]],
) -> list[_Segment]:
    """Stretches of state from time-ordered events; operator intervals (barriers) cut them."""
    segments: list[_Segment] = []
    current: _Segment | None = None
    for ts, state, reason_id in timeline:
        if any(start <= ts < end for start, end in barriers):
            continue  # inside an operator interval: not used
        if current is not None:
            cut = next((start for start, _ in barriers if current.start_at < start <= ts), None)
            if cut is not None:
                current.end_at = cut
                segments.append(current)
                current = None
        if current is not None and _continues(state, reason_id, current.state, current.reason_id):
            continue
        if current is not None:
            current.end_at = ts
            segments.append(current)
        current = _Segment(start_at=ts, state=state, reason_id=reason_id)
    if current is not None:
        following = [start for start, _ in barriers if start > current.start_at]
        current.end_at = min(following) if following else None
        segments.append(current)
    return segments


def _classification_carried(
    segment: _Segment,
    same_start: EquipmentStateInterval | None,
    classified: list[EquipmentStateInterval],
) -> EquipmentStateInterval | None:
    """The operator classification a re-derived stretch keeps, if any.

    The interval that started at the same instant with the same state keeps its reason; a
    stretch that now starts elsewhere keeps the reason of the classified interval with the
    same state it overlaps most.
    """
    if same_start is not None and same_start.classified_at is not None:
        return same_start if same_start.state == segment.state else None
    best, best_overlap_s = None, 0.0
    far_future = datetime.max.replace(tzinfo=UTC)
    for interval in classified:
        if interval.state != segment.state:
            continue
        overlap_s = (
            min(segment.end_at or far_future, interval.end_at or far_future)
            - max(segment.start_at, interval.start_at)
        ).total_seconds()
        if overlap_s > best_overlap_s:
            best, best_overlap_s = interval, overlap_s
    return best


# --- counts ----------


def _counts_store(
    counts: list[_CountEvent],
    now: datetime,
    rejected: list[tuple[int, str, str]],
    outcome: _IngestOutcome,
    requests: list[OeeRecomputeRequest],
) -> None:
    equipment_ids = sorted({count.equipment_id for count in counts})
    stored = {
        (equipment_id, ts): (good, scrap, rework)
        for equipment_id, ts, good, scrap, rework in ProductionCount.objects.filter(
            equipment_id__in=equipment_ids, ts__in={count.ts for count in counts}
        ).values_list("equipment_id", "ts", "good", "scrap", "rework")
    }
    fresh = []
    for count in counts:
        previous = stored.get((count.equipment_id, count.ts))
        if previous is None:
            fresh.append(count)
        elif previous != (count.good, count.scrap, count.rework):
            rejected.append(
                (
                    count.index,
                    RejectReason.CONFLICTING_EVENT.value,
                    f"Other counts were already recorded for this equipment at "
                    f"{count.ts.isoformat()}: good {previous[0]}, scrap {previous[1]}, "
                    f"rework {previous[2]}.",
                )
            )
    if not fresh:
        return
    running = operations_running(equipment_ids, min(c.ts for c in fresh), max(c.ts for c in fresh))
    late_before = now - timedelta(seconds=close_delay_s())
    rows = []
    for count in fresh:
        operation = next(
            (
                candidate
                for candidate in running.get(count.equipment_id, [])
                if candidate[0] <= count.ts and (candidate[1] is None or count.ts < candidate[1])
            ),
            None,
        )
        run_time = operation[4] if operation is not None and operation[4] > 0 else None
        rows.append(
            ProductionCount(
                equipment_id=count.equipment_id,
                ts=count.ts,
                work_order_id=operation[3] if operation else None,
                operation_id=operation[2] if operation else None,
                good=count.good,
                scrap=count.scrap,
                rework=count.rework,
                planned_run_time_per_unit_s=run_time,
            )
        )
        outcome.counts[count.equipment_id].append(
            (count.ts, count.good, count.scrap, count.rework, run_time)
        )
        outcome.touched.add(count.equipment_id)
        if count.ts < late_before:
            requests.append(
                OeeRecomputeRequest(
                    equipment_id=count.equipment_id,
                    range_start_at=count.ts,
                    range_end_at=count.ts + timedelta(seconds=1),
                    requested_at=now,
                )
            )
    ProductionCount.objects.bulk_create(rows)


# --- after commit: live accumulators, broadcast, OEE alerts ----------


def _after_ingest_commit(outcome: _IngestOutcome, line_ids: set[int]) -> None:
    try:
        touched = sorted(outcome.touched)
        versions = LiveOee.versions_bump(touched)
        for equipment_id in touched:
            if equipment_id in outcome.rederived:
                live_oee.invalidate([equipment_id])
                continue
            live_oee.apply(
                equipment_id,
                new_version=None if versions is None else versions.get(equipment_id),
                state_changes=outcome.state_changes.get(equipment_id, []),
                counts=outcome.counts.get(equipment_id, []),
            )
        oee_lines_publish(line_ids=sorted(line_ids))
    except Exception:  # the batch is stored; a live screen must never fail it
        logger.exception("OEE live update after ingest failed")


PUBLISH_SLOT_KEY = "mes:oee:publish:line:{}"
PUBLISH_PENDING_KEY = "mes:oee:publish-pending:line:{}"
PUBLISH_SITE_SLOT_KEY = "mes:oee:publish:site:{}"


def _publish_slot_take(key: str) -> bool:
    """True when the line (or site) may publish now: once a second, shared by processes."""
    try:
        client = monitoring_selectors._redis()
        return bool(client.set(key, 1, nx=True, px=1000))
    except Exception:
        logger.warning("OEE publish rate limiter unavailable (Redis)", exc_info=True)
        return True


def _publish_later(line_id: int) -> None:
    """Schedule one trailing publish so the last change of a burst is not lost."""
    try:
        client = monitoring_selectors._redis()
        if not client.set(PUBLISH_PENDING_KEY.format(line_id), 1, nx=True, px=2000):
            return
        from production.tasks import oee_line_publish

        oee_line_publish.apply_async((line_id,), countdown=1.0)
    except Exception:
        logger.warning("Could not schedule the trailing OEE publish", exc_info=True)


def oee_lines_publish(
    *, line_ids: Sequence[int], now: datetime | None = None, is_trailing: bool = False
) -> list[int]:
    """Broadcast the live OEE of lines and check their OEE alert rules (≤ 1 Hz per line).

    One ``oee`` event per line to the line's group: the line's KPIs, flags and shift, and a
    compact row per equipment (state, since, A, E, Q, OEE) — equipment screens take their
    row from it. The sites of these lines get one ``oee`` event each (at most once a second
    per site): the site's KPIs and a row per line. Lines that published less than a second
    ago get one trailing publish scheduled instead. Returns the lines published now.
    """
    now = now or timezone.now()
    if is_trailing:
        for line_id in line_ids:
            try:
                monitoring_selectors._redis().delete(PUBLISH_PENDING_KEY.format(line_id))
            except Exception:
                logger.warning("OEE publish rate limiter unavailable (Redis)", exc_info=True)
    allowed = []
    for line_id in line_ids:
        if _publish_slot_take(PUBLISH_SLOT_KEY.format(line_id)):
            allowed.append(line_id)
        else:
            _publish_later(line_id)
    if not allowed:
        return []
    reports = oee_current(scope=OeeScope.LINE, scope_ids=allowed, now=now)
    values = []
    for line_id, report in reports.items():
        broadcast([group_name("line", line_id)], "oee", _oee_payload(report))
        observed_s = (
            report["elements"]["planned_busy_time_s"] - report["elements"]["no_data_time_s"]
        )
        if observed_s < alert_min_observed_s():
            continue  # too early in the shift for the OEE to mean much
        if report["kpis"]["oee"] is not None:
            values.append((OeeScope.LINE.value, line_id, report["kpis"]["oee"], now))
        values.extend(
            (OeeScope.EQUIPMENT.value, member["equipment_id"], member["oee"], now)
            for member in report["equipment"]
            if member["oee"] is not None
        )
    _sites_publish(allowed, now)
    if values:
        alerts_evaluate_oee(values=values)
    return allowed


def _sites_publish(line_ids: Sequence[int], now: datetime) -> None:
    """One ``oee`` aggregate per site of ``line_ids``: site KPIs and a row per line."""
    from production.models import Line

    site_ids = set(Line.objects.filter(id__in=line_ids).values_list("area__site_id", flat=True))
    sites = [
        site_id
        for site_id in sorted(site_ids)
        if _publish_slot_take(PUBLISH_SITE_SLOT_KEY.format(site_id))
    ]
    if not sites:
        return
    site_lines: dict[int, list[int]] = defaultdict(list)
    for line_id, site_id in Line.objects.filter(area__site_id__in=sites).values_list(
        "id", "area__site_id"
    ):
        site_lines[site_id].append(line_id)
    line_reports = oee_current(
        scope=OeeScope.LINE,
        scope_ids=[line_id for ids in site_lines.values() for line_id in ids],
        now=now,
    )
    for site_id in sites:
        members = [line_reports[line_id] for line_id in site_lines[site_id]]
        total = oee_report(
            rollup(_elements_of(member["elements"]) for member in members),
            minor_stop_count=sum(member["minor_stop_count"] for member in members),
            needs_reason_count=sum(member["needs_reason_count"] for member in members),
            counts_without_run_time=sum(member["counts_without_run_time"] for member in members),
        )
        broadcast(
            [group_name("site", site_id)],
            "oee",
            {
                "scope": OeeScope.SITE.value,
                "scope_id": site_id,
                "computed_at": now.isoformat(),
                **total["kpis"],
                "flags": total["flags"],
                "lines": [
                    {
                        "line_id": member["scope_id"],
                        "shift": member["shift"],
                        "is_open": member["is_open"],
                        **{
                            name: member["kpis"][name]
                            for name in ("availability", "effectiveness", "quality_ratio", "oee")
                        },
                        "flags": member["flags"],
                    }
                    for member in members
                ],
            },
        )


def _elements_of(values: dict[str, float]) -> OeeElements:
    """OeeElements from a report's element dict (its derived PBT and AUPT left out)."""
    return OeeElements(
        **{
            name: value
            for name, value in values.items()
            if name not in ("planned_busy_time_s", "actual_processing_time_s")
        }
    )


def alert_min_observed_s() -> float:
    """OEE alerts wait until the shift has this much observed busy time (default 15 min)."""
    return float(getattr(settings, "OEE_ALERT_MIN_OBSERVED_S", 900.0))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _oee_payload(report: dict[str, Any]) -> dict[str, Any]:
    """A small aggregate for live screens: KPIs, flags, shift and per-equipment KPIs."""
    return {
        "scope": report["scope"],
        "scope_id": report["scope_id"],
        "shift": report["shift"],
        "period_start_at": _iso(report["period_start_at"]),
        "period_end_at": _iso(report["period_end_at"]),
        "is_open": report["is_open"],
        "computed_at": _iso(report["computed_at"]),
        **report["kpis"],
        "flags": report["flags"],
        "good_quantity": report["elements"]["good_quantity"],
        "produced_quantity": report["elements"]["produced_quantity"],
        "equipment": [
            {
                **member,
                "state_since": _iso(member["state_since"]),
            }
            for member in report["equipment"]
        ],
    }


# --- operator entries ----------


def _reason_for_entry(reason_code: str | None) -> DowntimeReason | None:
    if reason_code is None or reason_code == "":
        return None
    reason = DowntimeReason.objects.filter(code=reason_code).first()
    if reason is None:
        raise ValidationFailed(
            f"No downtime reason has the code {reason_code!r}.",
            code="unknown_reason",
            detail={"reason_code": reason_code},
        )
    if not reason.is_active:
        raise ValidationFailed(
            f"The downtime reason {reason.code!r} is no longer active; pick another one.",
            code="inactive_reason",
            detail={"reason_code": reason_code},
        )
    return reason


def _recompute_request_if_past(
    equipment_id: int, start: datetime, end: datetime, now: datetime
) -> None:
    if start < now - timedelta(seconds=close_delay_s()):
        OeeRecomputeRequest.objects.create(
            equipment_id=equipment_id,
            range_start_at=start,
            range_end_at=max(end, start + timedelta(seconds=1)),
            requested_at=now,
        )


def _after_interval_change(equipment_id: int, line_id: int) -> None:
    def run() -> None:
        try:
            LiveOee.versions_bump([equipment_id])
            live_oee.invalidate([equipment_id])
            oee_lines_publish(line_ids=[line_id])
        except Exception:
            logger.exception("OEE live update after a state change failed")

    transaction.on_commit(run)


@transaction.atomic
def equipment_stop_classify(
    *, interval_id: int, reason_code: str, actor, note: str = ""
) -> EquipmentStateInterval:
    """Give a stop its downtime reason (from the active tree); audited.

    The reason's ISO element books the stop from then on (a reason with element AUST turns a
    stop into setup time, for instance). Producing and unknown intervals are not stops.
    Closed periods the stop touches are computed again.
    """
    interval = (
        EquipmentStateInterval.objects.select_for_update(of=("self",))
        .select_related("equipment__cell", "reason")
        .filter(pk=interval_id)
        .first()
    )
    if interval is None:
        raise NotFound(f"No state interval {interval_id}.")
    if interval.state in (EquipmentState.PRODUCING, EquipmentState.UNKNOWN):
        raise InvalidTransition(
            f"Only stops can be classified; this interval is {interval.state!r}.",
            detail={"current_state": interval.state},
        )
    reason = _reason_for_entry(reason_code)
    if reason is None:
        raise ValidationFailed("A reason code is required.", detail={"reason_code": reason_code})
    now = timezone.now()
    old_code = interval.reason.code if interval.reason_id else ""
    interval.reason = reason
    interval.classified_by = actor if getattr(actor, "is_authenticated", False) else None
    interval.classified_at = now
    interval.needs_reason, interval.is_minor_stop = _interval_flags(
        interval.state,
        reason.iso_element,
        interval.start_at,
        interval.end_at,
        micro_stop_threshold_s(),
    )
    interval.save(
        update_fields=["reason", "classified_by", "classified_at", "needs_reason", "is_minor_stop"]
    )
    audit_event_record(
        actor=actor,
        obj=interval,
        action="classify",
        old_value=old_code,
        new_value=reason.code,
        reason=note,
        data={"iso_element": reason.iso_element},
        at=now,
    )
    _recompute_request_if_past(
        interval.equipment_id, interval.start_at, interval.end_at or now, now
    )
    _after_interval_change(interval.equipment_id, interval.equipment.cell.line_id)
    return interval


@transaction.atomic
def equipment_state_interval_enter(
    *,
    equipment_id: int,
    start_at: datetime,
    end_at: datetime,
    state: str,
    reason_code: str | None = None,
    actor,
    note: str = "",
) -> EquipmentStateInterval:
    """Record a state an operator observed (for equipment without events); audited.

    The interval must be closed, in the past, and must not overlap any interval of the
    equipment (an open one counts as lasting until now and beyond).
    """
    for name, value in (("start_at", start_at), ("end_at", end_at)):
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValidationFailed(
                f"{name} must be a date and time with a time zone.", detail={name: str(value)}
            )
    if end_at <= start_at:
        raise ValidationFailed(
            f"The interval ends ({end_at.isoformat()}) before or when it starts "
            f"({start_at.isoformat()}).",
            code="reversed_interval",
            detail={"start_at": start_at.isoformat(), "end_at": end_at.isoformat()},
        )
    now = timezone.now()
    if end_at > now + FUTURE_TOLERANCE:
        raise ValidationFailed(
            "An entered interval must have ended; it ends in the future.",
            code="future_interval",
            detail={"end_at": end_at.isoformat(), "now": now.isoformat()},
        )
    if state not in EquipmentState.values:
        raise ValidationFailed(
            f"Unknown equipment state {state!r}.",
            code="unknown_state",
            detail={"state": state, "allowed": EquipmentState.values},
        )
    reason = _reason_for_entry(reason_code)
    equipment = (
        Equipment.objects.select_for_update(no_key=True, of=("self",))
        .select_related("cell")
        .filter(pk=equipment_id)
        .first()
    )
    if equipment is None:
        raise NotFound(f"No equipment {equipment_id}.")
    overlapping = list(
        EquipmentStateInterval.objects.filter(equipment=equipment, start_at__lt=end_at)
        .filter(Q(end_at__isnull=True) | Q(end_at__gt=start_at))
        .order_by("start_at")[:5]
    )
    if overlapping:
        raise ValidationFailed(
            f"The interval overlaps {len(overlapping)} recorded state interval(s) of "
            f"{equipment.code}; change those instead.",
            code="overlapping_interval",
            detail={
                "overlapping": [
                    {
                        "id": interval.pk,
                        "start_at": interval.start_at.isoformat(),
                        "end_at": _iso(interval.end_at),
                        "state": interval.state,
                    }
                    for interval in overlapping
                ]
            },
        )
    threshold_s = micro_stop_threshold_s()
    needs_reason, is_minor = _interval_flags(
        state, reason.iso_element if reason else None, start_at, end_at, threshold_s
    )
    is_user = getattr(actor, "is_authenticated", False)
    interval = EquipmentStateInterval.objects.create(
        equipment=equipment,
        start_at=start_at,
        end_at=end_at,
        state=state,
        reason=reason,
        needs_reason=needs_reason,
        is_minor_stop=is_minor,
        source=StateSource.OPERATOR,
        classified_by=actor if reason and is_user else None,
        classified_at=now if reason else None,
    )
    audit_event_record(
        actor=actor,
        obj=interval,
        action="enter state",
        new_value=f"{state} {start_at.isoformat()}–{end_at.isoformat()}",
        reason=note,
        data={"reason_code": reason.code if reason else None},
        at=now,
    )
    _recompute_request_if_past(equipment.pk, start_at, end_at, now)
    _after_interval_change(equipment.pk, equipment.cell.line_id)
    return interval


# --- OEE snapshots ----------


@dataclass(frozen=True, slots=True)
class _Period:
    """One OEE period to store: a window of a site (hour, day, site shift), a line's own
    shift, or a work order."""

    kind: str
    site_id: int
    start: datetime
    end: datetime
    label: str
    line_id: int | None = None  # a shift of a line's own calendar
    work_order_id: int | None = None


@dataclass(frozen=True)
class SnapshotMaintainResult:
    requests_processed: int
    periods_written: int
    snapshots_written: int


def _snapshot_values(
    elements: OeeElements, *, is_closed: bool, label: str, now: datetime
) -> dict[str, Any]:
    kpis = compute_kpis(elements)
    return {
        "is_closed": is_closed,
        "label": label[:100],
        "planned_operation_time_s": elements.planned_operation_time_s,
        "planned_down_time_s": elements.planned_down_time_s,
        "planned_busy_time_s": elements.planned_busy_time_s,
        "actual_production_time_s": elements.actual_production_time_s,
        "actual_setup_time_s": elements.actual_setup_time_s,
        "actual_delay_time_s": elements.actual_delay_time_s,
        "actual_down_time_s": elements.actual_down_time_s,
        "no_data_time_s": elements.no_data_time_s,
        "minor_stop_time_s": elements.minor_stop_time_s,
        "needs_reason_time_s": elements.needs_reason_time_s,
        "planned_time_of_produced_s": elements.planned_time_of_produced_s,
        "planned_time_of_scrap_s": elements.planned_time_of_scrap_s,
        "planned_time_of_rework_s": elements.planned_time_of_rework_s,
        "produced_quantity": round(elements.produced_quantity),
        "good_quantity": round(elements.good_quantity),
        "scrap_quantity": round(elements.scrap_quantity),
        "rework_quantity": round(elements.rework_quantity),
        "availability": kpis.availability,
        "effectiveness": kpis.effectiveness,
        "quality_ratio": kpis.quality_ratio,
        "oee": kpis.oee,
        "nee": kpis.nee,
        "computed_at": now,
    }


SNAPSHOT_VALUE_FIELDS = tuple(
    _snapshot_values(OeeElements(), is_closed=True, label="", now=datetime.now(tz=UTC))
)


@dataclass(frozen=True)
class _SiteContext:
    """The active equipment of a site and its calendars over a range, loaded once per run."""

    site: Site
    refs: list[EquipmentRef]
    book: monitoring_selectors.CalendarBook
    range_start: datetime
    range_end: datetime


def _site_context(site: Site, range_start: datetime, range_end: datetime) -> _SiteContext:
    refs = equipment_refs(site_ids=[site.pk])
    line_sites = {ref.line_id: site.pk for ref in refs}
    book = monitoring_selectors.calendar_book_load(
        line_ids=line_sites,
        site_ids=[site.pk],
        site_time_zones={site.pk: site.time_zone},
        line_sites=line_sites,
        range_start=range_start,
        range_end=range_end,
    )
    return _SiteContext(site, refs, book, range_start, range_end)


def _period_rows(
    period: _Period, now: datetime, *, is_closed: bool, context: _SiteContext | None = None
) -> list[tuple[tuple[str, int], dict[str, Any]]]:
    """Compute one period; returns ((scope, scope id), values) for each row to store."""
    work_order = None
    sub_windows = None
    book = None
    if period.work_order_id is not None:
        work_order = WorkOrder.objects.get(pk=period.work_order_id)
        sub_windows = work_order_sub_windows(work_order, now=now)
        refs = equipment_refs(equipment_ids=list(sub_windows), include_inactive=True)
    elif (
        context is not None
        and context.range_start <= period.start
        and period.end <= context.range_end
    ):
        refs = [
            ref for ref in context.refs if period.line_id is None or ref.line_id == period.line_id
        ]
        book = context.book
    elif period.line_id is not None:
        refs = equipment_refs(line_ids=[period.line_id])
    else:
        refs = equipment_refs(site_ids=[period.site_id])
    if book is None and refs:
        book = calendar_book_for(refs, range_start=period.start, range_end=period.end)
    results: dict[int, EquipmentPeriodResult] = (
        equipment_period_compute(
            refs,
            book,
            window_start=period.start,
            window_end=period.end,
            now=now,
            sub_windows=sub_windows,
            work_order_id=period.work_order_id,
        )
        if refs and book is not None
        else {}
    )

    def values(parts: Iterable[EquipmentPeriodResult]) -> dict[str, Any]:
        return _snapshot_values(
            rollup(part.elements for part in parts),
            is_closed=is_closed,
            label=period.label,
            now=now,
        )

    def has_content(parts: list[EquipmentPeriodResult]) -> bool:
        total = rollup(part.elements for part in parts)
        return total.planned_operation_time_s > 0 or total.produced_quantity > 0

    rows: list[tuple[tuple[str, int], dict[str, Any]]] = []
    if work_order is not None:
        for ref in refs:
            rows.append(((OeeScope.EQUIPMENT, ref.id), values([results[ref.id]])))
        marker = (
            (OeeScope.LINE, work_order.line_id)
            if work_order.line_id
            else (OeeScope.SITE, work_order.site_id)
        )
        rows.append((marker, values(results.values())))
        return rows
    # Lines whose equipment belong to this period: for a site shift only the lines that
    # follow the site calendar (lines with their own calendar get their own shift rows).
    member_refs = refs
    if period.kind == OeePeriod.SHIFT and period.line_id is None and book is not None:
        member_refs = [ref for ref in refs if not book.for_line(ref.line_id).is_line_calendar]
    by_line: dict[int, list[EquipmentPeriodResult]] = defaultdict(list)
    for ref in member_refs:
        part = results[ref.id]
        by_line[ref.line_id].append(part)
        if has_content([part]):
            rows.append(((OeeScope.EQUIPMENT, ref.id), values([part])))
    for line_id, parts in by_line.items():
        if has_content(parts) or line_id == period.line_id:
            rows.append(((OeeScope.LINE, line_id), values(parts)))
    if period.line_id is not None:
        if not by_line:
            rows.append(((OeeScope.LINE, period.line_id), values([])))
        return rows
    by_area: dict[int, list[EquipmentPeriodResult]] = defaultdict(list)
    for ref in refs:
        by_area[ref.area_id].append(results[ref.id])
    for area_id, parts in by_area.items():
        if has_content(parts):
            rows.append(((OeeScope.AREA, area_id), values(parts)))
    rows.append(((OeeScope.SITE, period.site_id), values(results.values())))
    return rows


def _period_write(
    period: _Period,
    now: datetime,
    *,
    is_closed: bool = True,
    context: _SiteContext | None = None,
) -> int:
    """Compute and upsert the rows of one period (idempotent). Returns the rows written."""
    rows = _period_rows(period, now, is_closed=is_closed, context=context)
    if not rows:
        return 0
    with transaction.atomic():
        existing = {
            (snapshot.scope, snapshot.scope_id): snapshot
            for snapshot in OeeSnapshot.objects.select_for_update()
            .filter(
                period=period.kind,
                period_start_at=period.start,
                work_order_id=period.work_order_id,
                scope__in={scope for (scope, _), _ in rows},
                scope_id__in={scope_id for (_, scope_id), _ in rows},
            )
            .order_by("pk")
        }
        to_update, to_create = [], []
        for (scope, scope_id), values in rows:
            snapshot = existing.get((scope, scope_id))
            if snapshot is None:
                snapshot = OeeSnapshot(
                    scope=scope,
                    scope_id=scope_id,
                    period=period.kind,
                    period_start_at=period.start,
                    work_order_id=period.work_order_id,
                )
                to_create.append(snapshot)
            else:
                to_update.append(snapshot)
            snapshot.period_end_at = period.end
            for name, value in values.items():
                setattr(snapshot, name, value)
        if to_update:
            OeeSnapshot.objects.bulk_update(to_update, [*SNAPSHOT_VALUE_FIELDS, "period_end_at"])
        if to_create:
            OeeSnapshot.objects.bulk_create(to_create)
    return len(rows)


def _site_periods(
    site: Site,
    *,
    range_start: datetime,
    range_end: datetime,
    closable_end: datetime,
    line_ids: Iterable[int] | None = None,
    context: _SiteContext | None = None,
) -> list[_Period]:
    """Hours, days and shifts of a site overlapping the range and ended by ``closable_end``."""
    periods: list[_Period] = []
    for hour_start in local_hour_starts(site.time_zone, range_start, range_end):
        hour_end = hour_start + timedelta(hours=1)
        if hour_end <= closable_end:
            label = hour_start.astimezone(_zone(site.time_zone)).strftime("%Y-%m-%d %H:00")
            periods.append(_Period(OeePeriod.HOUR, site.pk, hour_start, hour_end, label))
    day_start, day_end = local_day_bounds(site.time_zone, range_start)
    while day_start < range_end:
        if day_end <= closable_end:
            label = day_start.astimezone(_zone(site.time_zone)).date().isoformat()
            periods.append(_Period(OeePeriod.DAY, site.pk, day_start, day_end, label))
        day_start, day_end = local_day_bounds(site.time_zone, day_end)
    if context is None:
        context = _site_context(
            site, range_start - timedelta(days=1), range_end + timedelta(days=1)
        )
    book = context.book
    line_sites = {ref.line_id: site.pk for ref in context.refs}
    for instance in book.for_site(site.pk).instances(range_start, range_end):
        if instance.end <= closable_end:
            periods.append(
                _Period(
                    OeePeriod.SHIFT,
                    site.pk,
                    instance.start,
                    instance.end,
                    f"{instance.shift_name} {instance.local_date.isoformat()}",
                )
            )
    wanted_lines = set(line_sites) if line_ids is None else set(line_ids)
    for line_id in sorted(wanted_lines & set(line_sites)):
        resolved = book.for_line(line_id)
        if not resolved.is_line_calendar:
            continue
        for instance in resolved.instances(range_start, range_end):
            if instance.end <= closable_end:
                periods.append(
                    _Period(
                        OeePeriod.SHIFT,
                        site.pk,
                        instance.start,
                        instance.end,
                        f"{instance.shift_name} {instance.local_date.isoformat()}",
                        line_id=line_id,
                    )
                )
    return periods


def _zone(time_zone: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(time_zone)


def _work_order_periods(work_orders: Iterable[WorkOrder], closable_end: datetime) -> list[_Period]:
    periods = []
    for work_order in work_orders:
        if work_order.state != WorkOrderState.COMPLETED or work_order.completed_at is None:
            continue
        if work_order.completed_at > closable_end or work_order.started_at is None:
            continue
        periods.append(
            _Period(
                OeePeriod.WORK_ORDER,
                work_order.site_id,
                work_order.started_at,
                work_order.completed_at,
                work_order.number,
                work_order_id=work_order.pk,
            )
        )
    return periods


MAINTAIN_LOCK_KEY = "mes:oee:maintain-lock"


def oee_snapshots_maintain(*, now: datetime | None = None) -> SnapshotMaintainResult:
    """The periodic OEE job: recompute what late data changed, then close ended periods.

    1. Every ``OeeRecomputeRequest`` (late event, late count, reclassified stop, operator
       entry) → the closed hours, days, shifts and work orders it touches are computed again.
    2. Every hour, day and shift (site calendar and lines' own calendars) that ended at least
       ``OEE_CLOSE_DELAY_S`` ago within ``OEE_SNAPSHOT_LOOKBACK_S`` and has no closed snapshot
       yet, and every work order completed since, is computed and stored (``is_closed``).
    3. The open shift and hour of each site are stored with ``is_closed`` false, so readers
       of ``OeeSnapshot`` see the current period too.

    Idempotent (upserts); concurrent runs are serialised by a Redis lock.
    """
    now = now or timezone.now()
    lock_held = False
    try:
        lock_held = bool(monitoring_selectors._redis().set(MAINTAIN_LOCK_KEY, 1, nx=True, ex=600))
        if not lock_held:
            logger.info("OEE snapshot maintenance already running; skipped")
            return SnapshotMaintainResult(0, 0, 0)
    except Exception:
        logger.warning("OEE maintenance lock unavailable (Redis); running anyway", exc_info=True)
    try:
        return _snapshots_maintain(now)
    finally:
        if lock_held:
            try:
                monitoring_selectors._redis().delete(MAINTAIN_LOCK_KEY)
            except Exception:
                logger.warning("Could not release the OEE maintenance lock", exc_info=True)


def snapshot_lookback_s() -> float:
    return float(getattr(settings, "OEE_SNAPSHOT_LOOKBACK_S", 2 * 86_400.0))


def _snapshots_maintain(now: datetime) -> SnapshotMaintainResult:
    closable_end = now - timedelta(seconds=close_delay_s())
    periods_written = snapshots_written = 0
    # 1. recompute requests
    with transaction.atomic():
        requests = list(
            OeeRecomputeRequest.objects.select_for_update(skip_locked=True).order_by("pk")[:5000]
        )
        periods = _periods_for_requests(requests, closable_end)
        contexts = _contexts_for(periods)
        for period in periods:
            try:
                snapshots_written += _period_write(
                    period, now, context=contexts.get(period.site_id)
                )
            except CalendarInvalid as error:  # logged; fix the calendar, then rebuild
                logger.error("OEE period %s skipped: %s", period, error.message)
                continue
            periods_written += 1
        OeeRecomputeRequest.objects.filter(pk__in=[request.pk for request in requests]).delete()
    # 2. close ended periods, 3. the open ones
    lookback_start = now - timedelta(seconds=snapshot_lookback_s())
    for site in Site.objects.order_by("pk"):
        try:
            written = _site_close(site, now, lookback_start, closable_end)
        except CalendarInvalid as error:
            logger.error("OEE snapshots of site %s skipped: %s", site.code, error.message)
            continue
        periods_written += written[0]
        snapshots_written += written[1]
    return SnapshotMaintainResult(len(requests), periods_written, snapshots_written)


def _site_close(
    site: Site, now: datetime, lookback_start: datetime, closable_end: datetime
) -> tuple[int, int]:
    """Close the ended periods of one site and store its open ones; (periods, rows)."""
    periods_written = snapshots_written = 0
    context = _site_context(site, lookback_start - timedelta(days=1), now + timedelta(days=1))
    candidates = _site_periods(
        site,
        range_start=lookback_start,
        range_end=closable_end,
        closable_end=closable_end,
        context=context,
    )
    done = set(
        OeeSnapshot.objects.filter(
            Q(scope=OeeScope.SITE, scope_id=site.pk)
            | Q(scope=OeeScope.LINE, scope_id__in=[p.line_id for p in candidates if p.line_id]),
            period__in=[OeePeriod.HOUR, OeePeriod.DAY, OeePeriod.SHIFT],
            period_start_at__gte=lookback_start - timedelta(days=1),
            is_closed=True,
            work_order__isnull=True,
        ).values_list("scope", "scope_id", "period", "period_start_at")
    )
    for period in candidates:
        marker = (
            (OeeScope.LINE.value, period.line_id)
            if period.line_id is not None
            else (OeeScope.SITE.value, site.pk)
        )
        if (*marker, period.kind, period.start) in done:
            continue
        snapshots_written += _period_write(period, now, context=context)
        periods_written += 1
    completed = WorkOrder.objects.filter(
        site=site,
        state=WorkOrderState.COMPLETED,
        completed_at__gt=lookback_start,
        completed_at__lte=closable_end,
    ).exclude(
        pk__in=OeeSnapshot.objects.filter(
            period=OeePeriod.WORK_ORDER, work_order__isnull=False, is_closed=True
        ).values("work_order_id")
    )
    for period in _work_order_periods(completed, closable_end):
        snapshots_written += _period_write(period, now)
        periods_written += 1
    for period in _open_periods(site, now, context):
        snapshots_written += _period_write(period, now, is_closed=False, context=context)
    return periods_written, snapshots_written


def _open_periods(site: Site, now: datetime, context: _SiteContext) -> list[_Period]:
    """The site's current hour and current shifts (site calendar and lines' own)."""
    periods = []
    hour_start = local_hour_starts(site.time_zone, now, now + timedelta(microseconds=1))[0]
    label = hour_start.astimezone(_zone(site.time_zone)).strftime("%Y-%m-%d %H:00")
    periods.append(
        _Period(OeePeriod.HOUR, site.pk, hour_start, hour_start + timedelta(hours=1), label)
    )
    for period in _site_periods(
        site,
        range_start=now,
        range_end=now + timedelta(microseconds=1),
        closable_end=datetime.max.replace(tzinfo=UTC),
        context=context,
    ):
        if period.kind == OeePeriod.SHIFT:
            periods.append(period)
    return periods


def _periods_for_requests(
    requests: Sequence[OeeRecomputeRequest], closable_end: datetime
) -> list[_Period]:
    if not requests:
        return []
    refs = {
        ref.id: ref
        for ref in equipment_refs(
            equipment_ids={request.equipment_id for request in requests}, include_inactive=True
        )
    }
    sites = {
        site.pk: site for site in Site.objects.filter(pk__in={r.site_id for r in refs.values()})
    }
    periods: dict[tuple, _Period] = {}
    for request in requests:
        ref = refs.get(request.equipment_id)
        if ref is None:
            continue
        for period in _site_periods(
            sites[ref.site_id],
            range_start=request.range_start_at,
            range_end=request.range_end_at,
            closable_end=closable_end,
            line_ids=[ref.line_id],
        ):
            periods[(period.kind, period.site_id, period.start, period.line_id, None)] = period
        work_orders = (
            WorkOrder.objects.filter(
                operations__assigned_equipment_id=ref.id,
                operations__actual_start_at__lt=request.range_end_at,
            )
            .filter(
                Q(operations__actual_end_at__isnull=True)
                | Q(operations__actual_end_at__gt=request.range_start_at)
            )
            .distinct()
        )
        for period in _work_order_periods(work_orders, closable_end):
            periods[(period.kind, period.site_id, period.start, None, period.work_order_id)] = (
                period
            )
    return list(periods.values())


def _contexts_for(periods: Sequence[_Period]) -> dict[int, _SiteContext]:
    """One context per site covering all of its periods (a day of margin each side)."""
    spans: dict[int, tuple[datetime, datetime]] = {}
    for period in periods:
        start, end = spans.get(period.site_id, (period.start, period.end))
        spans[period.site_id] = (min(start, period.start), max(end, period.end))
    sites = {site.pk: site for site in Site.objects.filter(pk__in=list(spans))}
    return {
        site_id: _site_context(sites[site_id], start - timedelta(days=1), end + timedelta(days=1))
        for site_id, (start, end) in spans.items()
    }


def oee_snapshots_rebuild(
    *, start: datetime, end: datetime, site_ids: Sequence[int] | None = None, now=None
) -> SnapshotMaintainResult:
    """Compute and store every closed period of the sites overlapping ``[start, end)``.

    For backfills and repairs (``manage.py oee_snapshots_rebuild``); idempotent.
    """
    now = now or timezone.now()
    closable_end = min(end, now - timedelta(seconds=close_delay_s()))
    sites = Site.objects.order_by("pk")
    if site_ids is not None:
        sites = sites.filter(pk__in=site_ids)
    periods_written = snapshots_written = 0
    for site in sites:
        context = _site_context(site, start - timedelta(days=1), end + timedelta(days=1))
        periods = _site_periods(
            site, range_start=start, range_end=end, closable_end=closable_end, context=context
        )
        periods += _work_order_periods(
            WorkOrder.objects.filter(site=site, completed_at__gte=start, completed_at__lt=end),
            closable_end,
        )
        for period in periods:
            snapshots_written += _period_write(period, now, context=context)
            periods_written += 1
    return SnapshotMaintainResult(0, periods_written, snapshots_written)


# --- alerts ----------

DEFAULT_ALERT_RULES = [
    # (name, metric, signal name, comparison, threshold, hysteresis, severity)
    ("OEE below 75 %", AlertMetric.OEE, "", Comparison.BELOW, 0.75, 0.02, AlertSeverity.WARNING),
    (
        "Temperature above 80 °C",
        AlertMetric.SIGNAL,
        "temperature",
        Comparison.ABOVE,
        80.0,
        2.0,
        AlertSeverity.CRITICAL,
    ),
    (
        "Vibration above 10 mm/s",
        AlertMetric.SIGNAL,
        "vibration_rms",
        Comparison.ABOVE,
        10.0,
        0.5,
        AlertSeverity.WARNING,
    ),
]


@transaction.atomic
def alert_rules_default_ensure() -> list[AlertRule]:
    """Create the plant-wide default rules if missing (idempotent; edits are kept).

    OEE below 75 % (warning, per line), temperature above 80 °C (critical) and vibration
    (``vibration_rms``) above 10 mm/s (warning) on every equipment that has the signal.
    """
    rules = []
    for (
        name,
        metric,
        signal_name,
        comparison,
        threshold,
        hysteresis,
        severity,
    ) in DEFAULT_ALERT_RULES:
        rule, _ = AlertRule.objects.get_or_create(
            name=name,
            equipment=None,
            line=None,
            defaults={
                "metric": metric,
                "signal_name": signal_name,
                "comparison": comparison,
                "threshold": threshold,
                "hysteresis": hysteresis,
                "severity": severity,
            },
        )
        rules.append(rule)
    return rules


def _breaches(rule: AlertRule, value: float) -> bool:
    if rule.comparison == Comparison.ABOVE:
        return value > rule.threshold
    return value < rule.threshold


def _recovered(rule: AlertRule, value: float) -> bool:
    """Past the threshold by the hysteresis, back on the good side: the alert clears."""
    if rule.comparison == Comparison.ABOVE:
        return value <= rule.threshold - rule.hysteresis
    return value >= rule.threshold + rule.hysteresis


def _alert_payload(alert: Alert, site_id: int | None) -> dict[str, Any]:
    return {
        "id": alert.pk,
        "rule_id": alert.rule_id,
        "severity": alert.severity,
        "state": alert.state,
        "message": alert.message,
        "value": alert.value,
        "raised_at": _iso(alert.raised_at),
        "acknowledged_at": _iso(alert.acknowledged_at),
        "acknowledged_by": (
            alert.acknowledged_by.get_username() if alert.acknowledged_by_id else None
        ),
        "cleared_at": _iso(alert.cleared_at),
        "equipment_id": alert.equipment_id,
        "line_id": alert.line_id,
        "site_id": site_id,
    }


def _alert_broadcast(alert: Alert, site_id: int | None) -> None:
    groups = []
    if alert.equipment_id:
        groups.append(group_name("equipment", alert.equipment_id))
    if alert.line_id:
        groups.append(group_name("line", alert.line_id))
    if site_id:
        groups.append(group_name("site", site_id))
    broadcast(groups, "alert", _alert_payload(alert, site_id))


def _format_value(value: float, unit: str) -> str:
    text = f"{value:.4g}"
    return f"{text} {unit}".strip()


@dataclass(frozen=True, slots=True)
class _AlertCheck:
    """One value checked against one rule for one target."""

    rule: AlertRule
    open_alert: Alert | None
    equipment_id: int | None
    line_id: int | None
    signal_id: int | None
    value: float
    ts: datetime
    message: str
    site_id: int | None


def _alerts_apply(checks: list[_AlertCheck]) -> list[Alert]:
    """Raise (no open alert, value breaches) or clear (value recovered past the hysteresis)."""
    changed = []
    for check in checks:
        rule, open_alert, value, ts = check.rule, check.open_alert, check.value, check.ts
        equipment_id, line_id, signal_id = check.equipment_id, check.line_id, check.signal_id
        message, site_id = check.message, check.site_id
        if open_alert is None:
            if not _breaches(rule, value):
                continue
            try:
                with transaction.atomic():
                    alert = Alert.objects.create(
                        rule=rule,
                        equipment_id=equipment_id,
                        line_id=line_id,
                        signal_id=signal_id,
                        severity=rule.severity,
                        state=AlertState.ACTIVE,
                        message=message[:400],
                        value=value,
                        raised_at=ts,
                    )
            except IntegrityError:  # raised concurrently by another worker: one alert only
                continue
            _alert_broadcast(alert, site_id)
            changed.append(alert)
        elif _recovered(rule, value) and ts >= open_alert.raised_at:
            updated = (
                Alert.objects.filter(pk=open_alert.pk)
                .exclude(state=AlertState.CLEARED)
                .update(state=AlertState.CLEARED, cleared_at=ts)
            )
            if updated:
                open_alert.state, open_alert.cleared_at = AlertState.CLEARED, ts
                _alert_broadcast(open_alert, site_id)
                changed.append(open_alert)
    return changed


@transaction.atomic
def alerts_evaluate_signal_values(
    *, values: Sequence[tuple[int, str, float, datetime]]
) -> list[Alert]:
    """Check signal values against the active signal rules; raise or clear alerts.

    ``values``: (equipment id, signal name, value, ts), the latest per signal of a batch.
    A rule applies to its equipment, to every equipment of its line, or (neither set) to
    every equipment. Raised when the value crosses the threshold, cleared only once it is
    back past threshold ∓ hysteresis; one open alert per rule and equipment (a breach while
    one is open changes nothing). Returns the alerts raised or cleared.
    """
    values = [
        (equipment_id, name, float(value), ts)
        for equipment_id, name, value, ts in values
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]
    if not values:
        return []
    names = {name for _, name, _, _ in values}
    rules = list(
        AlertRule.objects.filter(
            is_active=True, metric=AlertMetric.SIGNAL, signal_name__in=names
        ).order_by("pk")
    )
    if not rules:
        return []
    equipment = {
        row[0]: row
        for row in Equipment.objects.filter(id__in={v[0] for v in values}).values_list(
            "id", "code", "cell__line_id", "cell__line__area__site_id"
        )
    }
    signals = {
        (equipment_id, name): (signal_id, unit)
        for signal_id, equipment_id, name, unit in Signal.objects.filter(
            equipment_id__in=list(equipment), name__in=names
        ).values_list("id", "equipment_id", "name", "unit")
    }
    open_alerts = {
        (alert.rule_id, alert.equipment_id): alert
        for alert in Alert.objects.select_for_update()
        .filter(rule__in=rules, equipment_id__in=list(equipment))
        .exclude(state=AlertState.CLEARED)
    }
    decisions = []
    for equipment_id, name, value, ts in values:
        row = equipment.get(equipment_id)
        if row is None:
            continue
        _, code, line_id, site_id = row
        for rule in rules:
            if rule.signal_name != name:
                continue
            if rule.equipment_id is not None and rule.equipment_id != equipment_id:
                continue
            if rule.line_id is not None and rule.line_id != line_id:
                continue
            signal_id, unit = signals.get((equipment_id, name), (None, ""))
            comparison = "above" if rule.comparison == Comparison.ABOVE else "below"
            message = (
                f"{code}: {name} {_format_value(value, unit)} {comparison} "
                f"{_format_value(rule.threshold, unit)} ({rule.name})"
            )
            decisions.append(
                _AlertCheck(
                    rule,
                    open_alerts.get((rule.pk, equipment_id)),
                    equipment_id,
                    line_id,
                    signal_id,
                    value,
                    ts,
                    message,
                    site_id,
                )
            )
    return _alerts_apply(decisions)


@transaction.atomic
def alerts_evaluate_oee(*, values: Sequence[tuple[str, int, float, datetime]]) -> list[Alert]:
    """Check OEE values against the active OEE rules; raise or clear alerts.

    ``values``: (scope "line" or "equipment", id, OEE as a fraction, ts). A rule with an
    equipment watches that equipment's OEE, a rule with a line that line's, a rule with
    neither every line's. Hysteresis and de-duplication as for signals.
    """
    rules = list(AlertRule.objects.filter(is_active=True, metric=AlertMetric.OEE).order_by("pk"))
    if not rules or not values:
        return []
    line_ids = {scope_id for scope, scope_id, _, _ in values if scope == OeeScope.LINE}
    equipment_ids = {scope_id for scope, scope_id, _, _ in values if scope == OeeScope.EQUIPMENT}
    from production.models import Line

    lines = {
        row[0]: row
        for row in Line.objects.filter(id__in=line_ids).values_list("id", "code", "area__site_id")
    }
    machines = {
        row[0]: row
        for row in Equipment.objects.filter(id__in=equipment_ids).values_list(
            "id", "code", "cell__line_id", "cell__line__area__site_id"
        )
    }
    open_alerts = {
        (alert.rule_id, alert.equipment_id, alert.line_id): alert
        for alert in Alert.objects.select_for_update()
        .filter(rule__in=rules)
        .exclude(state=AlertState.CLEARED)
    }
    decisions = []
    for scope, scope_id, value, ts in values:
        for rule in rules:
            if scope == OeeScope.LINE:
                if rule.equipment_id is not None or (
                    rule.line_id is not None and rule.line_id != scope_id
                ):
                    continue
                row = lines.get(scope_id)
                if row is None:
                    continue
                equipment_id, line_id, code, site_id = None, scope_id, row[1], row[2]
            else:
                if rule.equipment_id != scope_id:
                    continue
                machine = machines.get(scope_id)
                if machine is None:
                    continue
                equipment_id, line_id, code, site_id = scope_id, machine[2], machine[1], machine[3]
            comparison = "above" if rule.comparison == Comparison.ABOVE else "below"
            message = f"{code}: OEE {value:.1%} {comparison} {rule.threshold:.0%} ({rule.name})"
            decisions.append(
                _AlertCheck(
                    rule,
                    open_alerts.get((rule.pk, equipment_id, line_id)),
                    equipment_id,
                    line_id,
                    None,
                    value,
                    ts,
                    message,
                    site_id,
                )
            )
    return _alerts_apply(decisions)


@transaction.atomic
def alert_acknowledge(*, alert_id: int, actor, note: str = "") -> Alert:
    """Acknowledge an active alert (who and when are kept); audited. It stays open until
    its value recovers."""
    now = timezone.now()
    if not Alert.objects.filter(pk=alert_id).exists():
        raise NotFound(f"No alert {alert_id}.")
    alert = state_transition(
        model=Alert,
        pk=alert_id,
        allowed_from={AlertState.ACTIVE},
        to_state=AlertState.ACKNOWLEDGED,
        actor=actor,
        action="acknowledge",
        reason=note,
        updates={
            "acknowledged_by": actor if getattr(actor, "is_authenticated", False) else None,
            "acknowledged_at": now,
        },
    )
    site_id = None
    if alert.line_id:
        site_id = alert.line.area.site_id
    elif alert.equipment_id:
        site_id = alert.equipment.cell.line.area.site_id
    _alert_broadcast(alert, site_id)
    return alert
