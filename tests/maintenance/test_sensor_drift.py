"""Sensor drift on the database: a redundant pair (two temperature probes + the spindle
thermal model) over stored readings; the suspect probe is marked, excluded from alerts,
its calibration proposed once through the guardrails, shown by the API, and trusted again
once the calibration order is done."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.db import transaction

from autonomy.choices import ActionKind
from autonomy.models import ProposedAction
from maintenance.models import RedundantPair, SensorSuspicion
from maintenance.services import actions, work_orders
from maintenance.services.drift import sensor_drift_check
from maintenance.services.health import health_refresh
from production import models as m
from production.services.alerts import alerts_evaluate_signal_values
from tests.maintenance.conftest import partitions_ready
from workers import store
from workers.choices import QUALITY_GOOD, QUALITY_UNCERTAIN_SENSOR
from workers.demo_plant import demo_plant_load
from workers.models import Reading
from workers.simulator.selectors import plant_spec_load
from workers.simulator.sensor_drift import ProbeDriftSettings
from workers.simulator.simulation import PlantSimulation, SimulationSettings

END = datetime.now(UTC).replace(microsecond=0)
START = END - timedelta(hours=1)
DRIFT_ONSET = START + timedelta(minutes=30)
DRIFT_C_PER_S = 0.002


@pytest.fixture
def probes(plant):
    equipment = plant.equipment
    signals = {
        name: m.Signal.objects.create(equipment=equipment, name=name, unit=unit)
        for name, unit in [
            ("temperature", "degC"),
            ("temperature_2", "degC"),
            ("power", "W"),
            ("spindle_speed", "rpm"),
        ]
    }
    pair = RedundantPair.objects.create(
        equipment=equipment,
        name="spindle temperature",
        signal_a=signals["temperature"],
        signal_b=signals["temperature_2"],
        model="spindle_thermal",
        power_signal=signals["power"],
        speed_signal=signals["spindle_speed"],
    )
    return equipment, signals, pair


def _write(signals, *, drift: bool, seed: int = 3) -> None:
    """An hour at 1 Hz of a spindle producing at steady state: 23 + 2.78 °C/kW × 9 kW."""
    rng = np.random.default_rng(seed)
    partitions_ready(START, END)
    rows = []
    seconds = int((END - START).total_seconds())
    for second in range(seconds + 1):
        ts = START + timedelta(seconds=second)
        truth = 23.0 + 2.78 * 9.0
        probe_b = truth + 0.15 * rng.standard_normal()
        if drift and ts >= DRIFT_ONSET:
            probe_b += DRIFT_C_PER_S * (ts - DRIFT_ONSET).total_seconds()
        for name, value in [
            ("temperature", truth + 0.15 * rng.standard_normal()),
            ("temperature_2", probe_b),
            ("power", 9000.0 * (1 + 0.03 * rng.standard_normal())),
            ("spindle_speed", 1500.0 + 2.0 * rng.standard_normal()),
        ]:
            rows.append((signals[name].pk, ts, round(float(value), 2), None, QUALITY_GOOD))
    with transaction.atomic():
        store.readings_write(rows)


def test_a_drifting_probe_is_marked_excluded_from_alerts_and_calibrated_once(probes, api_for):
    equipment, signals, pair = probes
    _write(signals, drift=True)

    assert sensor_drift_check(pair_id=pair.pk, now=END) == ["temperature_2"]
    assert sensor_drift_check(pair_id=pair.pk, now=END) == []  # once per suspicion

    suspicion = SensorSuspicion.objects.get()
    assert (suspicion.signal_id, suspicion.verdict, suspicion.status) == (
        signals["temperature_2"].pk,
        "drifting",
        "open",
    )
    # Detected within 5 min of the onset (0.6 °C of drift at 0.12 °C/min).
    assert DRIFT_ONSET < suspicion.detected_at <= DRIFT_ONSET + timedelta(minutes=5)
    flags = dict(m.Signal.objects.filter(equipment=equipment).values_list("name", "is_suspect"))
    assert flags == {
        "temperature": False,
        "temperature_2": True,
        "power": False,
        "spindle_speed": False,
    }
    # Readings kept, the suspect ones marked from the detection on; the other probe untouched.
    probe_b = Reading.objects.filter(signal=signals["temperature_2"])
    assert probe_b.count() == 3601
    assert set(probe_b.filter(ts__gte=suspicion.detected_at).values_list("quality", flat=True)) == {
        QUALITY_UNCERTAIN_SENSOR
    }
    assert set(probe_b.filter(ts__lt=suspicion.detected_at).values_list("quality", flat=True)) == {
        QUALITY_GOOD
    }
    assert set(
        Reading.objects.filter(signal=signals["temperature"]).values_list("quality", flat=True)
    ) == {QUALITY_GOOD}

    (action,) = ProposedAction.objects.filter(kind=ActionKind.MAINTENANCE_ORDER)
    assert action.dedupe_key == f"drift:{suspicion.pk}:calibration"
    assert action.payload["kind"] == "calibration"
    assert (
        action.payload["number"]
        == suspicion.calibration_order_number
        == (f"CAL-{suspicion.pk:06d}")
    )
    assert "temperature_2" in action.explanation

    # No alert from the suspect probe; the trusted one still alerts.
    for name in ("temperature", "temperature_2"):
        m.AlertRule.objects.create(
            name=f"{name} hot",
            metric="signal",
            signal_name=name,
            comparison="above",
            threshold=80.0,
            severity="critical",
        )
    raised = alerts_evaluate_signal_values(
        values=[
            (equipment.pk, "temperature_2", 95.0, END),
            (equipment.pk, "temperature", 95.0, END),
        ]
    )
    assert [alert.rule.signal_name for alert in raised] == ["temperature"]

    listing = api_for("maintenance").get("/api/maintenance/sensor-suspicions/?status=open")
    assert listing.status_code == 200
    (row,) = listing.json()["results"]
    assert (row["signal_name"], row["verdict"], row["calibration_order_number"]) == (
        "temperature_2",
        "drifting",
        suspicion.calibration_order_number,
    )

    # The calibration order done → the sensor is trusted again and the next check judges
    # only its readings after the clearing (none yet: nothing is flagged again).
    applied = actions.maintenance_order_apply(action)
    order_id = applied["work_order_id"]
    work_orders.maintenance_work_order_schedule(
        order_id=order_id, actor=None, window_start_at=END, window_end_at=END + timedelta(hours=1)
    )
    work_orders.maintenance_work_order_start(order_id=order_id, actor=None)
    work_orders.maintenance_work_order_complete(order_id=order_id, actor=None)
    suspicion.refresh_from_db()
    assert suspicion.status == "cleared"
    assert m.Signal.objects.get(pk=signals["temperature_2"].pk).is_suspect is False
    assert sensor_drift_check(pair_id=pair.pk, now=END) == []
    assert SensorSuspicion.objects.filter(status="open").count() == 0


def test_clean_probes_raise_no_suspicion(probes):
    _equipment, signals, pair = probes
    _write(signals, drift=False)

    assert sensor_drift_check(pair_id=pair.pk, now=END) == []

    pair.refresh_from_db()
    assert {name: row["state"] for name, row in pair.last_result.items()} == {
        "temperature": "ok",
        "temperature_2": "ok",
    }
    assert SensorSuspicion.objects.count() == 0
    assert ProposedAction.objects.count() == 0
    assert not m.Signal.objects.filter(is_suspect=True).exists()


def test_a_suspect_feature_signal_stops_the_health_assessment_with_an_explicit_state(
    spindle, feed, baseline_learned
):
    vibration = spindle  # the vibration spindle of tests/maintenance/conftest.py
    m.Signal.objects.filter(pk=vibration.signal_ids["rms"]).update(is_suspect=True)
    feed.write(vibration, 2.0, 8)

    snapshot = health_refresh(equipment_id=vibration.equipment.pk).snapshot

    assert snapshot.state == "not_enough_data"
    assert snapshot.detail == "sensor suspect: vibration_rms (not assessed until calibrated)"
    assert (snapshot.alpha, snapshot.rul_state, snapshot.is_anomaly) == (None, "", False)


def test_the_equipment_page_shows_the_suspect_sensor(probes, client, make_user):
    equipment, signals, _pair = probes
    client.force_login(make_user("operator", lines=[equipment.cell.line]))
    assert b"Sensor suspect" not in client.get(f"/equipment/{equipment.pk}/").content
    SensorSuspicion.objects.create(
        equipment=equipment,
        signal=signals["temperature_2"],
        verdict="drifting",
        detected_at=END,
        marked_from_at=END,
        detail="reads high by 4.1 σ (0.62) against the other witnesses",
        calibration_order_number="CAL-000001",
    )

    body = client.get(f"/equipment/{equipment.pk}/").content.decode()

    assert 'id="sensor-suspects"' in body
    assert "temperature_2" in body
    assert "reads high by 4.1 σ (0.62) against the other witnesses" in body
    assert "CAL-000001" in body


def test_a_person_clears_a_suspicion_through_the_api(probes, api_for):
    equipment, signals, _pair = probes
    suspicion = SensorSuspicion.objects.create(
        equipment=equipment,
        signal=signals["temperature_2"],
        verdict="flat_lined",
        detected_at=END,
        marked_from_at=END,
    )
    m.Signal.objects.filter(pk=signals["temperature_2"].pk).update(is_suspect=True)
    url = f"/api/maintenance/sensor-suspicions/{suspicion.pk}/clear/"

    assert api_for("operator").post(url, {}, format="json").status_code == 403
    cleared = api_for("maintenance").post(url, {"reason": "probe replaced"}, format="json")

    assert cleared.status_code == 200
    assert (cleared.json()["status"], cleared.json()["clear_reason"]) == (
        "cleared",
        "probe replaced",
    )
    assert m.Signal.objects.get(pk=signals["temperature_2"].pk).is_suspect is False
    again = api_for("maintenance", username="other_maintainer").post(url, {}, format="json")
    assert again.status_code == 409


def test_the_signal_api_shows_the_suspect_flag_and_does_not_take_it(probes, api_for):
    _equipment, signals, _pair = probes
    m.Signal.objects.filter(pk=signals["temperature_2"].pk).update(is_suspect=True)
    client = api_for("admin")
    url = f"/api/production/signals/{signals['temperature_2'].pk}/"

    assert client.get(url).json()["is_suspect"] is True
    patched = client.patch(url, {"is_suspect": False}, format="json")

    assert patched.status_code == 200
    assert m.Signal.objects.get(pk=signals["temperature_2"].pk).is_suspect is True


def test_the_demo_pair_flags_the_simulated_drifting_probe_within_15_minutes(db):
    """Demo plant + simulator (the readings it publishes for CNC_Spindle_8, stored as the
    ingest stores them) + the beat's minute-by-minute check: the drifting probe is named,
    the other is not. Only MQTT and the bridge are left out."""
    demo_plant_load()
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=20)
    start_ms = int(start.timestamp() * 1000)
    simulation = PlantSimulation(
        plant_spec_load(),
        SimulationSettings(seed=5, probe_drift={"CNC_Spindle_8": ProbeDriftSettings()}),
        start_ms,
    )
    spindle = m.Equipment.objects.get(code="CNC_Spindle_8")
    signal_ids = dict(spindle.signals.values_list("name", "id"))
    rows = []
    for message in simulation.step(start_ms + 15 * 60_000):
        if not message.topic.endswith("/CNC_Spindle_8"):
            continue
        payload = json.loads(message.payload)
        ts = datetime.fromtimestamp(payload["ts"] / 1000, tz=UTC)
        for name, value in payload.get("values", {}).items():
            if name in {"temperature", "temperature_2", "power", "spindle_speed"}:
                rows.append((signal_ids[name], ts, float(value), None, QUALITY_GOOD))
    partitions_ready(start, start + timedelta(minutes=15))
    with transaction.atomic():
        store.readings_write(rows)
    pair = RedundantPair.objects.get(equipment=spindle)

    flagged_at_minute = None
    for minute in range(3, 16):
        if sensor_drift_check(pair_id=pair.pk, now=start + timedelta(minutes=minute)):
            flagged_at_minute = minute
            break

    assert flagged_at_minute is not None and 5 < flagged_at_minute <= 15
    (suspicion,) = SensorSuspicion.objects.all()
    assert (suspicion.signal.name, suspicion.verdict) == ("temperature_2", "drifting")
    assert (
        ProposedAction.objects.filter(dedupe_key=f"drift:{suspicion.pk}:calibration").count() == 1
    )
