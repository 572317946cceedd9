"""Operator entries on the state timeline: classify a stop, enter an observed state.

Both are audited, ask for the closed OEE periods they touch to be computed again and, after
commit, refresh the live OEE of the equipment's line.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from mes_site.errors import InvalidTransition, NotFound, ValidationFailed
from production.choices import EquipmentState, StateSource
from production.models import DowntimeReason, Equipment, EquipmentStateInterval
from production.models.monitoring import OeeRecomputeRequest
from production.selectors.oee_live import LiveOee, live_oee
from production.selectors.oee_settings import close_delay_s, micro_stop_threshold_s
from production.services.ingest_contract import FUTURE_TOLERANCE
from production.services.live_payloads import iso_or_none
from production.services.oee_publish import oee_lines_publish
from production.services.state_intervals import interval_flags
from traceability.services import audit_event_record

logger = logging.getLogger(__name__)


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
    interval.needs_reason, interval.is_minor_stop = interval_flags(
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
                        "end_at": iso_or_none(interval.end_at),
                        "state": interval.state,
                    }
                    for interval in overlapping
                ]
            },
        )
    threshold_s = micro_stop_threshold_s()
    needs_reason, is_minor = interval_flags(
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
