"""The alert hand-off survives a failed evaluation: the taken values are parked again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from workers.ingest.followups import alerts_pending_restore, alerts_pending_take, alerts_schedule

TS = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_restored_values_are_taken_again_and_newer_parked_values_win(ingest_env, settings):
    settings.INGEST_ALERTS_DEBOUNCE_S = 3600.0  # park only; the test takes the values itself
    alerts_schedule({7: {"temperature": (TS, 80.0, 0), "pressure": (TS, 2.0, 0)}})
    taken = alerts_pending_take()
    assert taken == [(7, "pressure", 2.0, TS), (7, "temperature", 80.0, TS)]
    assert alerts_pending_take() == []

    newer = TS + timedelta(seconds=5)
    alerts_schedule({7: {"temperature": (newer, 95.0, 0)}})  # arrived while evaluating
    alerts_pending_restore(taken)

    assert alerts_pending_take() == [(7, "pressure", 2.0, TS), (7, "temperature", 95.0, newer)]
