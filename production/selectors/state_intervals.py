"""Equipment state intervals: the scoped list, stops that need a reason, one equipment's
timeline for charts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from mes_site.scope import scope_filter
from production.algorithms import shifts as pure_shifts
from production.choices import EquipmentState, StateSource
from production.models import Equipment, EquipmentStateInterval
from production.selectors.calendars import calendar_book_for, equipment_refs
from production.selectors.oee_settings import micro_stop_threshold_s


def state_interval_list(*, user) -> QuerySet[EquipmentStateInterval]:
    """State intervals of the equipment the user may see."""
    return scope_filter(
        EquipmentStateInterval.objects.select_related("equipment", "reason", "classified_by"),
        user,
        line="equipment__cell__line_id",
        site="equipment__cell__line__area__site_id",
    )


def needs_reason_list(*, user, now: datetime | None = None) -> QuerySet[EquipmentStateInterval]:
    """Unexplained stops at least as long as the micro-stop threshold, oldest first.

    Closed ones carry the ``needs_reason`` flag; an open ``down`` interval without a reason
    joins the list once it has lasted the threshold.
    """
    now = now or timezone.now()
    threshold = timedelta(seconds=micro_stop_threshold_s())
    return (
        state_interval_list(user=user)
        .filter(
            Q(needs_reason=True)
            | Q(
                end_at__isnull=True,
                state=EquipmentState.DOWN.value,
                reason__isnull=True,
                start_at__lte=now - threshold,
            )
        )
        .order_by("start_at")
    )


def equipment_timeline(
    *, equipment: Equipment, start: datetime, end: datetime, now: datetime | None = None
) -> dict[str, Any]:
    """State intervals of one equipment clipped to ``[start, end)``, with its shift time.

    For charts: each interval with its state, reason and flags; the shift instances and the
    planned downtime windows (breaks included) that apply.
    """
    now = now or timezone.now()
    intervals = list(
        EquipmentStateInterval.objects.filter(equipment=equipment, start_at__lt=end)
        .filter(Q(end_at__isnull=True) | Q(end_at__gt=start))
        .select_related("reason")
        .order_by("start_at")
    )
    ref = equipment_refs(equipment_ids=[equipment.pk], include_inactive=True)[0]
    book = calendar_book_for([ref], range_start=start, range_end=end)
    resolved = book.for_line(ref.line_id)
    instances = resolved.instances(start, end)
    return {
        "equipment_id": equipment.pk,
        "start_at": start,
        "end_at": end,
        "intervals": [
            {
                "id": interval.pk,
                "start_at": max(interval.start_at, start),
                "end_at": min(interval.end_at or now, end),
                "is_open": interval.end_at is None,
                "state": interval.state,
                "reason_code": interval.reason.code if interval.reason_id else None,
                "iso_element": interval.reason.iso_element if interval.reason_id else None,
                "needs_reason": interval.needs_reason,
                "is_minor_stop": interval.is_minor_stop,
                "source": interval.source,
            }
            for interval in intervals
            if min(interval.end_at or now, end) > max(interval.start_at, start)
        ],
        "shifts": [
            {
                "name": instance.shift_name,
                "start_at": instance.start,
                "end_at": instance.end,
                "planned_down_windows": [
                    {"start_at": window.start, "end_at": window.end}
                    for window in pure_shifts.shift_planned_down_windows(
                        instance, resolved.planned_down_windows
                    )
                ],
            }
            for instance in instances
        ],
    }


def operator_intervals_after(equipment_ids: Sequence[int], moment: datetime) -> set[int]:
    """Equipment having an operator-entered interval that ends after ``moment``."""
    return set(
        EquipmentStateInterval.objects.filter(
            equipment_id__in=equipment_ids, source=StateSource.OPERATOR, end_at__gt=moment
        ).values_list("equipment_id", flat=True)
    )
