"""Kalman fusion + CUSUM sensor drift detector (pure, no database).

The plant-like signal: a spindle temperature following a first-order lag (τ 240 s) towards
48 °C producing / 30 °C setup / 25 °C standby, states changing every 5–20 min, two probes
with σ 0.15 °C noise (rounded to 0.01 °C as the simulator publishes them) and the physical
model from power and speed as the third witness (accuracy σ 1.5 °C).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from maintenance.algorithms.drift import (
    DriftSettings,
    SensorState,
    ThermalModel,
    Witness,
    cusum,
    drift_assess,
    kalman_fuse,
    thermal_model_predict,
)

PROBE_SIGMA_C = 0.15
MODEL_SIGMA_C = 1.5
STATE_TARGETS = [(48.0, 9000.0, 1500.0), (30.0, 2250.0, 0.0), (25.0, 720.0, 0.0)]
# A drift of 0.002 °C/s (0.12 °C per minute) is flagged within this many samples (1 Hz) of
# its onset — about 0.4 °C of drift, under 3 σ of the probe noise (measured: 211 samples).
SLOW_DRIFT_C_PER_S = 0.002
DETECTED_WITHIN_SAMPLES = 300


def _plant(samples: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(probe a, probe b, model, truth) at 1 Hz."""
    rng = np.random.default_rng(seed)
    state = np.empty(samples, dtype=int)
    start = 0
    while start < samples:
        length = int(rng.integers(300, 1200))
        state[start : start + length] = rng.choice([0, 0, 0, 1, 2])
        start += length
    target = np.array([STATE_TARGETS[s][0] for s in state])
    power = np.array([STATE_TARGETS[s][1] for s in state]) * (
        1 + 0.03 * rng.standard_normal(samples)
    )
    speed = np.array([STATE_TARGETS[s][2] for s in state]) + 2.0 * rng.standard_normal(samples) * (
        state == 0
    )
    truth = np.empty(samples)
    temperature, blend = 48.0, 1 - math.exp(-1 / 240)
    for index in range(samples):
        temperature += (target[index] - temperature) * blend
        truth[index] = temperature
    probe_a = np.round(truth + PROBE_SIGMA_C * rng.standard_normal(samples), 2)
    probe_b = np.round(truth + PROBE_SIGMA_C * rng.standard_normal(samples), 2)
    model = thermal_model_predict(
        ThermalModel(), power_w=power, speed_rpm=speed, dt_s=1.0, initial_c=float(probe_a[0])
    )
    return probe_a, probe_b, model, truth


def _witnesses(probe_a, probe_b, model=None) -> list[Witness]:
    witnesses = [Witness("temperature", probe_a), Witness("temperature_2", probe_b)]
    if model is not None:
        witnesses.append(Witness("model", model, sigma=MODEL_SIGMA_C, is_model=True))
    return witnesses


def test_cusum_two_sided_alarms_on_a_shift_and_names_its_direction():
    residuals = np.concatenate([np.zeros(50), np.full(50, -3.0)])
    result = cusum(residuals, k=1.0, h=12.0)
    # S⁻ grows by 3 − 1 = 2 per sample after 50: > 12 on the 7th sample (index 56).
    assert result.alarm_index == 56
    assert result.direction == -1
    assert result.upper.max() == 0.0
    assert cusum(np.full(1000, 0.9), k=1.0, h=12.0).alarm_index is None


def test_kalman_fuse_weights_the_witnesses_by_their_noise():
    values = np.column_stack([np.full(200, 10.0), np.full(200, 12.0)])
    fused = kalman_fuse(values, np.array([0.1, 1.0]), dt_s=1.0, acceleration_noise=0.01)
    # Inverse-variance weights 100 : 1 → 10 + 2/101.
    assert fused.estimate[-1] == pytest.approx(10.0 + 2.0 / 101.0, abs=1e-3)


def test_slow_drift_is_detected_within_the_stated_samples_and_attributed():
    probe_a, probe_b, model, _ = _plant(7200, seed=11)
    onset = 3600
    probe_b = probe_b.copy()
    probe_b[onset:] += SLOW_DRIFT_C_PER_S * np.arange(7200 - onset)

    report = drift_assess(_witnesses(probe_a, probe_b, model))

    drifting = report.sensors["temperature_2"]
    assert drifting.state == SensorState.DRIFTING
    assert drifting.detected_at_index is not None
    assert onset < drifting.detected_at_index <= onset + DETECTED_WITHIN_SAMPLES
    assert drifting.residual_mean is not None and drifting.residual_mean > 0  # reads high
    assert report.sensors["temperature"].state == SensorState.OK
    assert set(report.sensors) == {"temperature", "temperature_2"}  # the model is a reference
    assert [suspect.name for suspect in report.suspects] == ["temperature_2"]


def test_two_probes_without_a_reference_are_both_reported_ambiguous():
    probe_a, probe_b, _, _ = _plant(3600, seed=12)
    probe_a = probe_a.copy()
    probe_a[1800:] -= SLOW_DRIFT_C_PER_S * np.arange(1800)

    report = drift_assess(_witnesses(probe_a, probe_b))

    assert {name: r.state for name, r in report.sensors.items()} == {
        "temperature": SensorState.AMBIGUOUS,
        "temperature_2": SensorState.AMBIGUOUS,
    }


def test_probe_against_the_model_alone_flags_the_probe():
    probe_a, _, model, _ = _plant(3600, seed=13)
    probe_a = probe_a.copy()
    probe_a[1800:] += 0.01 * np.arange(1800)  # 0.6 °C per minute

    report = drift_assess(
        [
            Witness("temperature", probe_a),
            Witness("model", model, sigma=MODEL_SIGMA_C, is_model=True),
        ]
    )

    assert report.sensors["temperature"].state == SensorState.DRIFTING


def test_no_false_flag_on_24_hours_of_clean_noise_at_1_hz():
    probe_a, probe_b, model, _ = _plant(24 * 3600, seed=2026)

    with_model = drift_assess(_witnesses(probe_a, probe_b, model))
    probes_only = drift_assess(_witnesses(probe_a, probe_b))

    assert {r.state for r in with_model.sensors.values()} == {SensorState.OK}
    assert {r.state for r in probes_only.sensors.values()} == {SensorState.OK}
    assert with_model.suspects == []


def test_flat_lined_sensor_gets_an_explicit_state_and_the_rest_are_still_assessed():
    probe_a, probe_b, model, _ = _plant(3600, seed=14)
    probe_b = probe_b.copy()
    probe_b[3000:] = probe_b[2999]

    report = drift_assess(_witnesses(probe_a, probe_b, model))

    assert report.sensors["temperature_2"].state == SensorState.FLAT_LINED
    assert "identical" in report.sensors["temperature_2"].detail
    assert report.sensors["temperature"].state == SensorState.OK


def test_a_10_sigma_jump_is_reported_as_jumped_not_as_a_drift():
    probe_a, probe_b, model, _ = _plant(3600, seed=15)
    probe_a = probe_a.copy()
    probe_a[2000:] += 12 * PROBE_SIGMA_C  # a step well beyond 10 σ of the residual

    report = drift_assess(_witnesses(probe_a, probe_b, model))

    jumped = report.sensors["temperature"]
    assert jumped.state == SensorState.JUMPED
    assert jumped.detected_at_index == 2000
    assert report.sensors["temperature_2"].state == SensorState.OK


def test_too_few_readings_are_no_data_never_a_verdict():
    probe_a, probe_b, _, _ = _plant(60, seed=16)
    report = drift_assess(_witnesses(probe_a, probe_b))
    assert {r.state for r in report.sensors.values()} == {SensorState.NO_DATA}


def test_invalid_input_raises_value_error():
    with pytest.raises(ValueError, match="two witnesses"):
        drift_assess([Witness("a", np.zeros(10))])
    with pytest.raises(ValueError, match="accuracy"):
        drift_assess([Witness("a", np.zeros(10)), Witness("m", np.zeros(10), is_model=True)])
    with pytest.raises(ValueError, match="one value per sample"):
        drift_assess([Witness("a", np.zeros(10)), Witness("b", np.zeros(11))])
    with pytest.raises(ValueError, match="cusum_h"):
        DriftSettings(cusum_h=0)
