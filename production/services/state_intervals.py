"""State events → state intervals.

State events are stored as received (``EquipmentStateEvent``, unique per equipment and
instant) and the state intervals are derived from them: an event starts a stretch of its
state that lasts until the next event with another state (a repeat of the current state, or
an event without a reason during a stop that has one, continues it). An in-order event only
closes the open interval and opens the next; a late one (older than the last event of its
equipment) re-derives the interval chain from the interval it falls into, keeping operator
classifications, and asks for the closed OEE periods it touches to be computed again
(``OeeRecomputeRequest``, consumed by ``oee_snapshots.oee_snapshots_maintain``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection

from production.choices import EquipmentState, IsoTimeElement, StateSource
from production.models import DowntimeReason, EquipmentStateInterval
from production.models.monitoring import EquipmentStateEvent, OeeRecomputeRequest
from production.selectors.oee_settings import close_delay_s, micro_stop_threshold_s
from production.selectors.state_intervals import operator_intervals_after
from production.services.ingest_contract import IngestOutcome, RejectReason, StateEvent

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


def interval_flags(
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


def state_events_store(
    states: list[StateEvent],
    frontier: dict[int, datetime | None],
    reason_elements: dict[int, str],
    now: datetime,
    rejected: list[tuple[int, str, str]],
    outcome: IngestOutcome,
    requests: list[OeeRecomputeRequest],
) -> None:
    by_equipment: dict[int, list[StateEvent]] = defaultdict(list)
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
    fresh: dict[int, list[StateEvent]] = {}
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
    with_operator_after = operator_intervals_after(list(fresh), earliest)
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
                current.needs_reason, current.is_minor_stop = interval_flags(
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


def _event_row(event: StateEvent) -> EquipmentStateEvent:
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
    new_events: list[StateEvent],
    reason_elements: dict[int, str],
    now: datetime,
    threshold_s: float,
    rejected: list[tuple[int, str, str]],
    requests: list[OeeRecomputeRequest],
) -> list[StateEvent]:
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
    kept: list[StateEvent] = []
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
        interval.needs_reason, interval.is_minor_stop = interval_flags(
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
