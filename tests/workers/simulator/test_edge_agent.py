"""Spindle edge agent: features of a degrading bearing trend up, a healthy one stays flat."""

from __future__ import annotations

import numpy as np
import pytest

from maintenance.algorithms.signal import FeatureSettings
from workers.simulator.edge_agent import DegradationSettings, VibrationEdgeAgent
from workers.simulator.model import random_stream

START_MS = 1_735_718_400_000
FEATURE_NAMES = FeatureSettings().feature_names


def _reports(agent: VibrationEdgeAgent, first_s: int, last_s: int) -> dict[str, np.ndarray]:
    reports = [agent.report(START_MS + second * 1000) for second in range(first_s, last_s)]
    return {name: np.array([report.features[name] for report in reports]) for name in FEATURE_NAMES}


def _agent(seed: int, degradation: DegradationSettings | None) -> VibrationEdgeAgent:
    return VibrationEdgeAgent(random_stream(seed, "vibration"), START_MS, degradation=degradation)


def test_a_report_holds_every_feature_of_the_shared_module_and_the_summary() -> None:
    agent = _agent(1, None)

    report = agent.report(START_MS + 1000)

    assert tuple(report.features) == FEATURE_NAMES
    assert report.window_count == 9  # ⌊10 000 samples / 1024⌋ per second
    assert report.summary == {f"vibration_{name}": report.features[name] for name in FEATURE_NAMES}
    assert all(np.isfinite(value) for value in report.features.values())


def test_the_summary_holds_only_the_feature_signals_the_equipment_declares() -> None:
    agent = VibrationEdgeAgent(
        random_stream(1, "vibration"),
        START_MS,
        feature_signals={"vibration_rms", "vibration_kurtosis", "temperature"},
    )

    report = agent.report(START_MS + 1000)

    assert agent.feature_signal_names == ("vibration_rms", "vibration_kurtosis")
    assert report.summary == {
        "vibration_rms": report.features["rms"],
        "vibration_kurtosis": report.features["kurtosis"],
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_degrading_bearing_trends_up_while_the_healthy_one_stays_flat(seed: int) -> None:
    degradation = DegradationSettings(onset_s=60, failure_s=300)
    degrading = _agent(seed, degradation)
    healthy = _agent(seed, None)

    degrading_early = _reports(degrading, 0, 60)
    degrading_late = _reports(degrading, 240, 300)
    healthy_early = _reports(healthy, 0, 60)
    healthy_late = _reports(healthy, 240, 300)

    # Healthy: RMS ≈ sqrt(1²/2 + 0.4²/2 + 0.3²) = 0.82 mm/s, kurtosis of sines + noise ≈ 2.1.
    for features in (degrading_early, healthy_early, healthy_late):
        assert 0.78 < np.median(features["rms"]) < 0.86
        assert 1.9 < np.median(features["kurtosis"]) < 2.4
    assert np.median(degrading_late["kurtosis"]) > 3.5  # DESIGN §6.2 alarm floor
    assert np.median(degrading_late["rms"]) > 1.5 * np.median(degrading_early["rms"])
    assert np.median(degrading_late["crest_factor"]) > np.median(degrading_early["crest_factor"])
    assert np.median(degrading_late["band_energy_2500_5000_hz"]) > 10 * np.median(
        degrading_early["band_energy_2500_5000_hz"]
    )
    healthy_rms_change = np.median(healthy_late["rms"]) / np.median(healthy_early["rms"])
    assert 0.95 < healthy_rms_change < 1.05
    assert abs(np.median(healthy_late["kurtosis"]) - np.median(healthy_early["kurtosis"])) < 0.15


def test_the_expected_rms_reaches_the_threshold_at_the_failure_time() -> None:
    agent = _agent(1, DegradationSettings(onset_s=60, failure_s=300, failure_rms_ratio=4.0))

    assert agent.expected_rms_ratio(START_MS + 59_000) == 1.0
    assert agent.expected_rms_ratio(START_MS + 300_000) == pytest.approx(4.0)
    assert agent.wear_fraction(START_MS + 300_000) == pytest.approx(1.0)
    assert agent.failure_ms == START_MS + 300_000


def test_a_new_bearing_after_the_repair_is_healthy_again() -> None:
    agent = _agent(1, DegradationSettings(onset_s=60, failure_s=300, repair_s=600))
    repaired_ms = START_MS + 900_000

    agent.reinstall(repaired_ms)

    assert agent.expected_rms_ratio(repaired_ms + 30_000) == 1.0
    assert agent.failure_ms == repaired_ms + 300_000


def test_a_healthy_agent_never_fails() -> None:
    agent = _agent(1, None)

    assert agent.failure_ms is None
    assert agent.expected_rms_ratio(START_MS + 10**9) == 1.0
    assert not agent.is_degrading


def test_the_same_stream_gives_the_same_features() -> None:
    first = _agent(4, DegradationSettings()).report(START_MS + 200_000)
    second = _agent(4, DegradationSettings()).report(START_MS + 200_000)

    assert first == second


def test_bad_degradation_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="must fail after the onset"):
        DegradationSettings(onset_s=300, failure_s=300)
    with pytest.raises(ValueError, match="repair_s must be positive"):
        DegradationSettings(repair_s=0)
    with pytest.raises(ValueError, match="failure_rms_ratio"):
        DegradationSettings(failure_rms_ratio=1.0)
    with pytest.raises(ValueError, match="no complete window"):
        VibrationEdgeAgent(random_stream(1), START_MS, report_period_s=0.05)
