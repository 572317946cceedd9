"""Equipment events in: the ingest service the bridge calls, one call per batch.

:func:`equipment_events_ingest` is bulk and idempotent: the batch is validated (bad events
are rejected with a :class:`~production.services.ingest_contract.RejectReason`, never
stored), state events become state intervals (``state_intervals``), counts are booked to the
operation running on their equipment. After each commit the live accumulators of the open
shift (``selectors.oee_live.live_oee``) are fed, and the OEE of the touched lines is
broadcast and checked against the OEE alert rules (``oee_publish``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from production.choices import EquipmentState
from production.models import DowntimeReason, Equipment, ProductionCount
from production.models.monitoring import EquipmentStateEvent, OeeRecomputeRequest
from production.selectors.oee_elements import operations_running
from production.selectors.oee_live import LiveOee, live_oee
from production.selectors.oee_settings import close_delay_s
from production.services.ingest_contract import (
    COUNT_KEYS,
    FUTURE_TOLERANCE,
    CountEvent,
    EquipmentEventIn,
    EventIngestResult,
    IngestOutcome,
    RejectReason,
    StateEvent,
)
from production.services.oee_publish import oee_lines_publish
from production.services.state_intervals import state_events_store

logger = logging.getLogger(__name__)


@dataclass
class _Reason:
    id: int
    code: str
    iso_element: str
    is_active: bool


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
    outcome = IngestOutcome()
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
                state_events_store(
                    states, frontier, reason_elements, now, rejected, outcome, requests
                )
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


class _Rejected(Exception):
    """An event of the batch is refused (caught per event by :func:`_events_validate`)."""

    def __init__(self, reason: RejectReason, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def _events_validate(
    events: Sequence[EquipmentEventIn],
    equipment_rows: dict[str, tuple[int, int]],
    reasons: dict[str, _Reason],
    now: datetime,
    rejected: list[tuple[int, str, str]],
) -> tuple[list[StateEvent], list[CountEvent]]:
    """Check every event; returns the valid ones (batch duplicates folded, conflicts refused)."""
    states: dict[tuple[int, datetime], StateEvent] = {}
    counts: dict[tuple[int, datetime], CountEvent] = {}
    for index, event in enumerate(events):
        try:
            equipment_id, ts = _event_target_check(event, equipment_rows, now)
            if event.kind == "state":
                _state_event_add(index, event, equipment_id, ts, reasons, states)
            elif event.kind == "count":
                _count_event_add(index, event, equipment_id, ts, counts)
            else:
                raise _Rejected(
                    RejectReason.UNKNOWN_KIND,
                    f"Unknown event kind {str(event.kind)[:30]!r}; use 'state' or 'count'.",
                )
        except _Rejected as error:
            rejected.append((index, error.reason.value, error.message))
    return list(states.values()), list(counts.values())


def _event_target_check(
    event: EquipmentEventIn, equipment_rows: dict[str, tuple[int, int]], now: datetime
) -> tuple[int, datetime]:
    """The event's equipment id and UTC timestamp, or why the event is refused."""
    if not isinstance(event, EquipmentEventIn) or not isinstance(event.data, dict):
        raise _Rejected(
            RejectReason.INVALID_EVENT,
            "The event is not an EquipmentEventIn with a dict of data.",
        )
    row = equipment_rows.get(event.equipment_path)
    if row is None:
        raise _Rejected(
            RejectReason.UNKNOWN_EQUIPMENT,
            f"No equipment has the UNS path {str(event.equipment_path)[:200]!r}.",
        )
    ts = event.ts
    if not isinstance(ts, datetime) or ts.tzinfo is None or ts.utcoffset() is None:
        raise _Rejected(
            RejectReason.INVALID_TIMESTAMP, f"The timestamp {ts!r} is not an aware datetime."
        )
    ts = ts.astimezone(UTC)
    if ts > now + FUTURE_TOLERANCE:
        raise _Rejected(
            RejectReason.FUTURE_TIMESTAMP,
            f"The timestamp {ts.isoformat()} is more than {FUTURE_TOLERANCE} ahead of the "
            f"server clock ({now.isoformat()}).",
        )
    return row[0], ts


def _state_reason_id(code: object, reasons: dict[str, _Reason]) -> int | None:
    """The id of an active downtime reason given by code (none given: None)."""
    if code is None or code == "":
        return None
    reason = reasons.get(code) if isinstance(code, str) else None
    if reason is None:
        raise _Rejected(
            RejectReason.UNKNOWN_REASON, f"No downtime reason has the code {str(code)[:64]!r}."
        )
    if not reason.is_active:
        raise _Rejected(
            RejectReason.INACTIVE_REASON,
            f"The downtime reason {reason.code!r} is no longer active.",
        )
    return reason.id


def _state_event_add(
    index: int,
    event: EquipmentEventIn,
    equipment_id: int,
    ts: datetime,
    reasons: dict[str, _Reason],
    states: dict[tuple[int, datetime], StateEvent],
) -> None:
    state = event.data.get("state")
    if state not in EquipmentState.values:
        raise _Rejected(
            RejectReason.UNKNOWN_STATE,
            f"Unknown equipment state {str(state)[:50]!r}; use one of "
            f"{', '.join(EquipmentState.values)}.",
        )
    reason_id = _state_reason_id(event.data.get("reason"), reasons)
    earlier = states.get((equipment_id, ts))
    if earlier is None:
        states[(equipment_id, ts)] = StateEvent(index, equipment_id, ts, state, reason_id)
    elif (earlier.state, earlier.reason_id) != (state, reason_id):
        raise _Rejected(
            RejectReason.CONFLICTING_EVENT,
            f"Event #{earlier.index} of this batch reports another state for the same "
            f"equipment at {ts.isoformat()}.",
        )


def _count_event_add(
    index: int,
    event: EquipmentEventIn,
    equipment_id: int,
    ts: datetime,
    counts: dict[tuple[int, datetime], CountEvent],
) -> None:
    unknown_keys = set(event.data) - COUNT_KEYS
    values = {key: event.data.get(key, 0) for key in COUNT_KEYS}
    if unknown_keys or any(type(value) is not int for value in values.values()):  # not bool
        raise _Rejected(
            RejectReason.INVALID_COUNT,
            f"A count has integer fields good, scrap and rework only; got {str(event.data)[:200]}.",
        )
    if any(value < 0 for value in values.values()):
        raise _Rejected(RejectReason.NEGATIVE_COUNT, f"Counts must not be negative; got {values}.")
    good, scrap, rework = values["good"], values["scrap"], values["rework"]
    earlier = counts.get((equipment_id, ts))
    if earlier is None:
        counts[(equipment_id, ts)] = CountEvent(index, equipment_id, ts, good, scrap, rework)
    elif (earlier.good, earlier.scrap, earlier.rework) != (good, scrap, rework):
        raise _Rejected(
            RejectReason.CONFLICTING_EVENT,
            f"Event #{earlier.index} of this batch reports other counts for the "
            f"same equipment at {ts.isoformat()}.",
        )


def _counts_store(
    counts: list[CountEvent],
    now: datetime,
    rejected: list[tuple[int, str, str]],
    outcome: IngestOutcome,
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


def _after_ingest_commit(outcome: IngestOutcome, line_ids: set[int]) -> None:
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
