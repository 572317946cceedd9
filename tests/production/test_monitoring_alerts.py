"""Alerts: default rules, hysteresis, de-duplication, acknowledge, clear, broadcast events."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

from mes_site.errors import InvalidTransition, NotFound
from mes_site.redis import redis_client
from production import models as m
from production.selectors.oee_live import live_oee
from production.services import oee_publish
from production.services.alerts import (
    alert_acknowledge,
    alert_rules_default_ensure,
    alerts_evaluate_oee,
    alerts_evaluate_signal_values,
)
from production.services.equipment_events import equipment_events_ingest
from production.services.ingest_contract import EquipmentEventIn
from production.services.oee_publish import SLOT_KEY, TRAILING_KEY, oee_lines_publish
from production.tasks import oee_publish_trailing
from traceability.models import AuditEvent

T0 = datetime(2026, 6, 16, 8, tzinfo=UTC)


def later(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def rules(plant):
    return {rule.signal_name or "oee": rule for rule in alert_rules_default_ensure()}


def temperature(plant, value, seconds, equipment=None):
    machine = equipment or plant.equipment
    return alerts_evaluate_signal_values(
        values=[(machine.pk, "temperature", value, later(seconds))]
    )


def open_alerts(rule):
    return list(m.Alert.objects.filter(rule=rule).exclude(state="cleared"))


def test_default_rules_are_created_once(plant):
    first = alert_rules_default_ensure()
    m.AlertRule.objects.filter(name="OEE below 75 %").update(threshold=0.8)  # an edit is kept
    second = alert_rules_default_ensure()
    assert [rule.pk for rule in first] == [rule.pk for rule in second]
    assert m.AlertRule.objects.count() == 3
    described = {
        (rule.name, rule.metric, rule.signal_name, rule.comparison, rule.threshold, rule.severity)
        for rule in m.AlertRule.objects.all()
    }
    assert described == {
        ("OEE below 75 %", "oee", "", "below", 0.8, "warning"),
        ("Temperature above 80 °C", "signal", "temperature", "above", 80.0, "critical"),
        ("Vibration above 10 mm/s", "signal", "vibration_rms", "above", 10.0, "warning"),
    }


def test_raise_dedupe_hysteresis_and_clear(plant, rules):
    rule = rules["temperature"]  # above 80, hysteresis 2
    assert temperature(plant, 79.9, 0) == []
    assert temperature(plant, 80.0, 1) == []  # on the threshold is not above it
    [raised] = temperature(plant, 85.5, 2)
    assert (raised.state, raised.severity, raised.value, raised.raised_at) == (
        "active",
        "critical",
        85.5,
        later(2),
    )
    assert raised.equipment == plant.equipment and raised.line == plant.line
    assert raised.message.startswith("L1_M1: temperature 85.5")
    assert temperature(plant, 90.0, 3) == []  # still above: the one open alert stays
    assert temperature(plant, 79.0, 4) == []  # below 80 but inside the 2° band: still open
    assert len(open_alerts(rule)) == 1
    [cleared] = temperature(plant, 78.0, 5)  # 80 − 2: clears
    assert (cleared.pk, cleared.state, cleared.cleared_at) == (raised.pk, "cleared", later(5))
    [again] = temperature(plant, 81.0, 6)  # a new excursion is a new alert
    assert again.pk != raised.pk
    assert m.Alert.objects.filter(rule=rule).count() == 2


def test_rules_apply_to_their_equipment_line_or_every_equipment(plant, rules):
    line_rule = m.AlertRule.objects.create(
        name="L2 hot",
        metric="signal",
        line=plant.other_line,
        signal_name="temperature",
        comparison="above",
        threshold=60.0,
        severity="warning",
    )
    raised = alerts_evaluate_signal_values(
        values=[
            (plant.equipment.pk, "temperature", 70.0, later(0)),
            (plant.other_equipment.pk, "temperature", 70.0, later(0)),
            (plant.equipment.pk, "spindle_speed", 1e9, later(0)),  # no rule: nothing
            (plant.equipment.pk, "temperature", True, later(0)),  # not a number: ignored
        ]
    )
    assert [(alert.rule_id, alert.equipment_id) for alert in raised] == [
        (line_rule.pk, plant.other_equipment.pk)
    ]


def test_acknowledge_keeps_user_and_time_and_the_alert_open(plant, rules, make_user, monkeypatch):
    [alert] = temperature(plant, 95.0, 0)
    supervisor = make_user("supervisor")
    acknowledged_at = later(60)
    monkeypatch.setattr(timezone, "now", lambda: acknowledged_at)
    alert_acknowledge(alert_id=alert.pk, actor=supervisor, note="cooling checked")
    alert.refresh_from_db()
    assert (alert.state, alert.acknowledged_by, alert.acknowledged_at) == (
        "acknowledged",
        supervisor,
        acknowledged_at,
    )
    audit = AuditEvent.objects.get(action="acknowledge", object_id=str(alert.pk))
    assert (audit.actor, audit.old_value, audit.new_value, audit.reason) == (
        supervisor,
        "active",
        "acknowledged",
        "cooling checked",
    )
    assert temperature(plant, 99.0, 70) == []  # acknowledged alerts still de-duplicate
    with pytest.raises(InvalidTransition):
        alert_acknowledge(alert_id=alert.pk, actor=supervisor)
    [cleared] = temperature(plant, 70.0, 80)
    assert cleared.pk == alert.pk and cleared.state == "cleared"
    assert cleared.acknowledged_by == supervisor
    with pytest.raises(InvalidTransition):
        alert_acknowledge(alert_id=alert.pk, actor=supervisor)
    with pytest.raises(NotFound):
        alert_acknowledge(alert_id=alert.pk + 1000, actor=supervisor)


def test_a_stale_value_does_not_clear_a_newer_alert(plant, rules):
    [alert] = temperature(plant, 95.0, 100)
    assert temperature(plant, 20.0, 50) == []  # measured before the alert was raised
    alert.refresh_from_db()
    assert alert.state == "active"


def test_oee_rules_watch_lines_with_hysteresis(plant, rules):
    rule = rules["oee"]  # below 0.75, hysteresis 0.02
    line = ("line", plant.line.pk)
    [raised] = alerts_evaluate_oee(values=[(*line, 0.70, later(0))])
    assert (raised.line, raised.equipment, raised.severity) == (plant.line, None, "warning")
    assert raised.message == "L1: OEE 70.0% below 75% (OEE below 75 %)"
    assert alerts_evaluate_oee(values=[(*line, 0.76, later(1))]) == []  # in the band
    [cleared] = alerts_evaluate_oee(values=[(*line, 0.77, later(2))])
    assert cleared.pk == raised.pk and cleared.state == "cleared"
    assert open_alerts(rule) == []


def _receive(layer, channel, timeout_s: float = 3.0):
    async def receive():
        return await asyncio.wait_for(layer.receive(channel), timeout_s)

    return async_to_sync(receive)()


def test_alerts_are_broadcast_to_equipment_line_and_site(
    plant, rules, django_capture_on_commit_callbacks
):
    layer = get_channel_layer()
    channels = {}
    for group in (
        f"equipment.{plant.equipment.pk}",
        f"line.{plant.line.pk}",
        f"site.{plant.site.pk}",
    ):
        channel = async_to_sync(layer.new_channel)()
        async_to_sync(layer.group_add)(group, channel)
        channels[group] = channel
    try:
        with django_capture_on_commit_callbacks(execute=True):
            [alert] = temperature(plant, 95.0, 0)
        for channel in channels.values():
            message = _receive(layer, channel)
            assert message["type"] == "mes.event" and message["event"] == "alert"
            assert message["payload"]["id"] == alert.pk
            assert message["payload"]["state"] == "active"
            assert message["payload"]["site_id"] == plant.site.pk
            assert message["payload"]["severity"] == "critical"
    finally:
        for group, channel in channels.items():
            async_to_sync(layer.group_discard)(group, channel)


def test_ingest_publishes_line_oee_and_raises_the_oee_alert(
    plant, rules, monkeypatch, django_capture_on_commit_callbacks, settings
):
    """Events in → the line's OEE broadcast and the OEE rule checked."""
    settings.OEE_ALERT_MIN_OBSERVED_S = 600.0
    now = datetime(2026, 6, 16, 9, tzinfo=UTC)
    monkeypatch.setattr(timezone, "now", lambda: now)
    live_oee.clear()
    _oee_gates_reset(("line", plant.line.pk), ("site", plant.site.pk))
    trailing: list[tuple] = []
    monkeypatch.setattr(
        oee_publish_trailing, "apply_async", lambda args, **options: trailing.append(args)
    )
    calendar = m.ShiftCalendar.objects.create(site=plant.site, name="cal")
    m.Shift.objects.create(calendar=calendar, name="Early", start_time=time(6), end_time=time(14))
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(f"line.{plant.line.pk}", channel)
    site_channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(f"site.{plant.site.pk}", site_channel)
    path = plant.equipment.uns_path
    try:
        with django_capture_on_commit_callbacks(execute=True):
            equipment_events_ingest(
                events=[
                    EquipmentEventIn(
                        path, now - timedelta(hours=1), "state", {"state": "producing"}
                    ),
                    EquipmentEventIn(path, now - timedelta(minutes=40), "state", {"state": "down"}),
                ]
            )
        message = _receive(layer, channel)
        while message["event"] != "oee":
            message = _receive(layer, channel)
        payload = message["payload"]
        # Shift from 04:00 UTC (06:00 CEST): no data until 08:00, producing 20 min, down 40.
        assert (payload["scope"], payload["scope_id"], payload["shift"]) == (
            "line",
            plant.line.pk,
            "Early",
        )
        assert payload["availability"] == pytest.approx(1 / 3)
        assert "has_no_data_time" in payload["flags"]
        assert payload["equipment"][0]["state"] == "down"
        site_message = _receive(layer, site_channel)
        assert site_message["event"] == "oee"
        site_payload = site_message["payload"]
        assert (site_payload["scope"], site_payload["scope_id"]) == ("site", plant.site.pk)
        assert site_payload["availability"] == pytest.approx(1 / 3)
        assert [row["line_id"] for row in site_payload["lines"]] == [plant.line.pk]
        # OEE is undefined without counts: no OEE alert; with counts it is 1/3 · E · Q.
        assert not m.Alert.objects.exists()
        with django_capture_on_commit_callbacks(execute=True):
            equipment_events_ingest(
                events=[EquipmentEventIn(path, now - timedelta(minutes=30), "count", {"good": 10})]
            )
        # Within the line's publish interval: nothing computed yet, one trailing publish left.
        assert not m.Alert.objects.exists()
        assert trailing == [("line", plant.line.pk)]
        with django_capture_on_commit_callbacks(execute=True):
            oee_publish.oee_publish_trailing(scope="line", scope_id=plant.line.pk)
        alert = m.Alert.objects.get()
        assert (alert.rule, alert.line, alert.state) == (rules["oee"], plant.line, "active")
    finally:
        async_to_sync(layer.group_discard)(f"line.{plant.line.pk}", channel)
        async_to_sync(layer.group_discard)(f"site.{plant.site.pk}", site_channel)
        live_oee.clear()


def _oee_gates_reset(*keys: tuple[str, int]) -> None:
    """Forget the OEE publish gates of ``keys`` (left by an earlier run of the suite)."""
    client = redis_client()
    for scope, scope_id in keys:
        client.delete(SLOT_KEY.format(scope=scope, scope_id=scope_id))
        client.delete(TRAILING_KEY.format(scope=scope, scope_id=scope_id))


def test_line_oee_is_computed_at_most_once_an_interval_and_the_latest_is_never_lost(
    plant, django_capture_on_commit_callbacks, monkeypatch
):
    """A burst of publishes: the first computes and goes out at once; the others compute
    nothing and leave one trailing publish, which sends the state at the end of the interval."""
    line_id, site_id = plant.line.pk, plant.site.pk
    _oee_gates_reset(("line", line_id), ("site", site_id))
    trailing: list[tuple] = []
    monkeypatch.setattr(
        oee_publish_trailing, "apply_async", lambda args, **options: trailing.append(args)
    )
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    group = f"line.{line_id}"
    async_to_sync(layer.group_add)(group, channel)
    try:
        published = []
        for moment in (T0, later(1), later(2)):
            with django_capture_on_commit_callbacks(execute=True):
                published.append(oee_lines_publish(line_ids=[line_id], now=moment))
        assert published == [[line_id], [], []]
        assert trailing == [("line", line_id)]  # one trailing publish for the whole burst

        with django_capture_on_commit_callbacks(execute=True):
            assert oee_publish.oee_publish_trailing(scope="line", scope_id=line_id) == [line_id]
        # The line's trailing publish left none for the line; its site is still in its interval.
        assert trailing == [("line", line_id), ("site", site_id)]

        first = _receive(layer, channel)
        last = _receive(layer, channel)
        assert (first["event"], first["payload"]["computed_at"]) == ("oee", T0.isoformat())
        assert last["event"] == "oee"
        assert last["payload"]["computed_at"] > T0.isoformat()  # computed at the trailing edge
        with pytest.raises(TimeoutError):  # the calls inside the interval sent nothing
            _receive(layer, channel, timeout_s=1.0)
    finally:
        async_to_sync(layer.group_discard)(group, channel)


def test_an_equipment_oee_rule_watches_only_that_equipment(plant, rules):
    rule = m.AlertRule.objects.create(
        name="M1 OEE",
        metric="oee",
        equipment=plant.equipment,
        comparison="below",
        threshold=0.6,
        hysteresis=0.05,
        severity="info",
    )
    raised = alerts_evaluate_oee(
        values=[
            ("equipment", plant.equipment.pk, 0.5, later(0)),
            ("equipment", plant.other_equipment.pk, 0.1, later(0)),
        ]
    )
    assert [(alert.rule_id, alert.equipment_id, alert.line_id) for alert in raised] == [
        (rule.pk, plant.equipment.pk, plant.line.pk)
    ]
    assert open_alerts(rules["oee"]) == []  # the default rule watches lines, not equipment
