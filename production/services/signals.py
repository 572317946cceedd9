"""Writes on the signals of the data contract that other apps decide on."""

from __future__ import annotations

from production.models import Signal
from traceability.services import audit_event_record


def signal_suspect_set(*, signal_id: int, is_suspect: bool, reason: str, actor=None) -> bool:
    """Flag a signal as suspect (its readings are kept; alerts and health features skip it)
    or clear the flag. Returns whether the flag changed (compare-and-set)."""
    changed = Signal.objects.filter(pk=signal_id, is_suspect=not is_suspect).update(
        is_suspect=is_suspect
    )
    if changed:
        audit_event_record(
            actor=actor,
            obj=Signal.objects.get(pk=signal_id),
            action="sensor suspect" if is_suspect else "sensor trusted again",
            old_value=str(not is_suspect),
            new_value=str(is_suspect),
            reason=reason,
        )
    return bool(changed)
