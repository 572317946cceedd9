"""Retention of the monitoring history: state events, cleared alerts, hourly OEE snapshots.

Run hourly by beat (``production.tasks.monitoring_retention_apply``); each kind has its
``RETENTION_*_DAYS`` setting (0 or empty keeps forever) and goes in short batches
(``mes_site.retention``). What is kept:

- state events: those newer than the cut-off, and the newest event of each equipment (the
  state it is in now). The state intervals derived from them stay (they are the timeline
  the OEE and the reports read).
- alerts: active and acknowledged ones always; cleared ones until their ``cleared_at`` is
  older than the cut-off.
- OEE snapshots: the hourly ones until their period ended before the cut-off; the shift,
  day and work-order snapshots — the long-term aggregates — are kept.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Exists, OuterRef

from mes_site.retention import delete_in_batches, retention_cutoff
from production.choices import AlertState, OeePeriod
from production.models.monitoring import Alert, EquipmentStateEvent, OeeSnapshot


def monitoring_retention_apply(*, now: datetime) -> dict[str, int]:
    """Delete what the retention settings no longer keep; rows deleted per kind."""
    deleted = {"state_events": 0, "alerts": 0, "oee_hourly_snapshots": 0}
    cutoff = retention_cutoff("RETENTION_STATE_EVENTS_DAYS", now=now)
    if cutoff is not None:
        newer = EquipmentStateEvent.objects.filter(
            equipment_id=OuterRef("equipment_id"), ts__gt=OuterRef("ts")
        )
        deleted["state_events"] = delete_in_batches(
            EquipmentStateEvent.objects.filter(ts__lt=cutoff).filter(Exists(newer))
        )
    cutoff = retention_cutoff("RETENTION_ALERTS_DAYS", now=now)
    if cutoff is not None:
        deleted["alerts"] = delete_in_batches(
            Alert.objects.filter(state=AlertState.CLEARED, cleared_at__lt=cutoff)
        )
    cutoff = retention_cutoff("RETENTION_OEE_HOURLY_DAYS", now=now)
    if cutoff is not None:
        deleted["oee_hourly_snapshots"] = delete_in_batches(
            OeeSnapshot.objects.filter(
                period=OeePeriod.HOUR, is_closed=True, period_end_at__lt=cutoff
            )
        )
    return deleted
