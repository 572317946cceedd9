"""The drifting probe of the demo: the simulator's readings of CNC_Spindle_8, fed to the
MES drift detector exactly as its redundant pair is configured by the demo plant, flag
``temperature_2`` within the first 15 minutes — and never ``temperature``, nor a healthy run."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest

from maintenance.algorithms.drift import (
    SensorState,
    ThermalModel,
    Witness,
    drift_assess,
    thermal_model_predict,
)
from tests.workers.simulator.conftest import SPINDLE_PATHS, demo_plant_spec
from workers.simulator.model import EquipmentSpec, PlantSpec, SignalSpec
from workers.simulator.sensor_drift import ProbeDriftSettings
from workers.simulator.simulation import PlantSimulation, SimulationSettings

START_MS = int(datetime(2026, 12, 1, 8, 0, tzinfo=UTC).timestamp() * 1000)
DEMO_MINUTES = 15
SPINDLE_8 = SPINDLE_PATHS[1]
# As workers.demo_plant configures the pair of CNC_Spindle_8.
MODEL = ThermalModel(ambient_c=23.0, thermal_resistance_c_per_kw=2.78, time_constant_s=240.0)
MODEL_SIGMA_C = 1.5


def _plant() -> PlantSpec:
    plant = demo_plant_spec()
    probe = SignalSpec("temperature_2", "degC", "number", -20.0, 150.0)
    return PlantSpec(
        tuple(
            EquipmentSpec(spec.path, (*spec.signals, probe)) if spec.path == SPINDLE_8 else spec
            for spec in plant.equipment
        ),
        plant.reason_codes,
    )


def _spindle_series(seed: int, drift: dict) -> dict[str, np.ndarray]:
    simulation = PlantSimulation(
        _plant(), SimulationSettings(seed=seed, degradation={}, probe_drift=drift), START_MS
    )
    rows: dict[int, dict] = {}
    for message in simulation.step(START_MS + DEMO_MINUTES * 60_000):
        if message.topic != SPINDLE_8:
            continue
        payload = json.loads(message.payload)
        values = payload.get("values", {})
        if "temperature" in values:
            rows[int(payload["ts"])] = values
    times = sorted(rows)
    return {
        name: np.array([rows[ts].get(name, np.nan) for ts in times], dtype=float)
        for name in ("temperature", "temperature_2", "power", "spindle_speed")
    }


def _first_flag_minute(series: dict[str, np.ndarray]) -> tuple[int | None, dict]:
    """Assess once a minute over everything so far, as the beat task does."""
    for minute in range(3, DEMO_MINUTES + 1):
        cut = minute * 60
        model = thermal_model_predict(
            MODEL,
            power_w=series["power"][:cut],
            speed_rpm=series["spindle_speed"][:cut],
            dt_s=1.0,
            initial_c=float(series["temperature"][0]),
        )
        report = drift_assess(
            [
                Witness("temperature", series["temperature"][:cut]),
                Witness("temperature_2", series["temperature_2"][:cut]),
                Witness("model", model, sigma=MODEL_SIGMA_C, is_model=True),
            ]
        )
        if report.suspects:
            return minute, {name: r.state for name, r in report.sensors.items()}
    return None, {}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_drifting_probe_is_flagged_within_15_minutes_of_the_demo(seed):
    series = _spindle_series(seed, {"CNC_Spindle_8": ProbeDriftSettings()})
    minute, states = _first_flag_minute(series)
    assert minute is not None and minute <= DEMO_MINUTES
    assert minute > 5  # not before the drift starts (onset at 5 min)
    assert states == {"temperature": SensorState.OK, "temperature_2": SensorState.DRIFTING}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_without_drift_the_second_probe_reads_like_the_first_and_nothing_is_flagged(seed):
    series = _spindle_series(seed, {})
    difference = series["temperature_2"] - series["temperature"]
    assert abs(float(np.mean(difference))) < 0.05
    assert float(np.std(difference)) == pytest.approx(0.15 * 2**0.5, rel=0.2)
    assert _first_flag_minute(series) == (None, {})


def test_a_probe_the_equipment_does_not_have_cannot_drift():
    with pytest.raises(ValueError, match="no such probe"):
        PlantSimulation(
            demo_plant_spec(),
            SimulationSettings(probe_drift={"CNC_Spindle_8": ProbeDriftSettings()}),
            START_MS,
        )
