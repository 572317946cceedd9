"""Retention of the monitoring history (``RETENTION_*_DAYS``; 0 or empty keeps forever)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from production import models as m
from production.models.monitoring import EquipmentStateEvent
from production.services.retention import monitoring_retention_apply
from production.tasks import monitoring_retention_apply as monitoring_retention_task

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


@pytest.fixture
def history(plant):
    """Old and recent rows of each kind, for two machines."""
    other = plant.other_equipment
    for equipment, ages in ((plant.equipment, (500, 450, 10)), (other, (600, 550))):
        for age in ages:
            EquipmentStateEvent.objects.create(
                equipment=equipment, ts=_days_ago(age), state="running"
            )
    rule = m.AlertRule.objects.create(
        name="hot", metric="signal", equipment=plant.equipment, signal_name="temperature",
        comparison="above", threshold=60.0, severity="warning",
    )  # fmt: skip
    for state, raised_days, cleared_days in (
        ("cleared", 500, 499),
        ("cleared", 500, 10),
        ("active", 800, None),
    ):
        m.Alert.objects.create(
            rule=rule,
            equipment=plant.equipment if state != "active" else plant.other_equipment,
            severity="warning",
            state=state,
            message=f"{state} {raised_days}",
            raised_at=_days_ago(raised_days),
            cleared_at=_days_ago(cleared_days) if cleared_days is not None else None,
        )
    for period, age, is_closed in (
        ("hour", 100, True),
        ("hour", 95, True),
        ("hour", 80, True),
        ("day", 500, True),
        ("shift", 500, True),
        ("hour", 120, False),
    ):
        start = _days_ago(age)
        m.OeeSnapshot.objects.create(
            scope="line",
            scope_id=plant.line.pk,
            period=period,
            period_start_at=start,
            period_end_at=start + timedelta(hours=1),
            is_closed=is_closed,
            computed_at=start + timedelta(hours=1),
        )
    return plant


def _state_event_ages(equipment) -> list[int]:
    return [
        (NOW - ts).days
        for ts in EquipmentStateEvent.objects.filter(equipment=equipment)
        .order_by("ts")
        .values_list("ts", flat=True)
    ]


def test_old_rows_go_and_the_rest_stays(settings, history):
    settings.RETENTION_STATE_EVENTS_DAYS = 400
    settings.RETENTION_ALERTS_DAYS = 400
    settings.RETENTION_OEE_HOURLY_DAYS = 90
    settings.RETENTION_BATCH_SIZE = 1

    deleted = monitoring_retention_apply(now=NOW)

    assert deleted == {"state_events": 3, "alerts": 1, "oee_hourly_snapshots": 2}
    assert _state_event_ages(history.equipment) == [10]
    # The newest event of a machine is its current state: kept however old.
    assert _state_event_ages(history.other_equipment) == [550]
    assert sorted(m.Alert.objects.values_list("message", flat=True)) == [
        "active 800",
        "cleared 500",
    ]
    assert m.Alert.objects.get(message="cleared 500").cleared_at == _days_ago(10)
    assert sorted(m.OeeSnapshot.objects.values_list("period", "is_closed")) == [
        ("day", True),
        ("hour", False),
        ("hour", True),
        ("shift", True),
    ]


@pytest.mark.parametrize("days", [0, None, ""])
def test_zero_or_empty_keeps_everything(settings, history, days):
    settings.RETENTION_STATE_EVENTS_DAYS = days
    settings.RETENTION_ALERTS_DAYS = days
    settings.RETENTION_OEE_HOURLY_DAYS = days

    deleted = monitoring_retention_apply(now=NOW)

    assert deleted == {"state_events": 0, "alerts": 0, "oee_hourly_snapshots": 0}
    assert EquipmentStateEvent.objects.count() == 5
    assert m.Alert.objects.count() == 3
    assert m.OeeSnapshot.objects.count() == 6


def test_the_beat_task_applies_the_settings_from_now(settings, history):
    settings.RETENTION_STATE_EVENTS_DAYS = 0
    settings.RETENTION_ALERTS_DAYS = 0
    settings.RETENTION_OEE_HOURLY_DAYS = 1
    assert monitoring_retention_task.apply().get() == {
        "state_events": 0,
        "alerts": 0,
        "oee_hourly_snapshots": 3,
    }
    assert settings.CELERY_BEAT_SCHEDULE["monitoring-retention"]["task"] == (
        "production.tasks.monitoring_retention_apply"
    )
