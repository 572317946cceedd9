"""Edge agent of a spindle: 10 kHz vibration in, window features out at 1 Hz (pure).

The bearing is :class:`maintenance.algorithms.synthetic.DegradingBearing` — shaft 1× and 2×
sines, Gaussian noise and outer-race fault impacts ringing the structure's resonance, whose rate
and amplitude grow with the defect severity. Each report period (1 s) the agent records the
period's 10 kHz signal as complete 1024-sample windows (⌊10 000 / 1024⌋ = 9 windows per second),
computes the features of every window with :func:`maintenance.algorithms.signal.extract_features`
(Hann window, FFT band energies, RMS, peak-to-peak, kurtosis, crest factor) and reports their
mean — for the band energies this is Welch averaging. Only these numbers leave the agent; the
raw samples never cross the network.

Degradation (:class:`DegradationSettings`): the bearing is installed at the start of the run;
it is healthy until ``onset_s`` after installation, and its expected RMS reaches
``failure_rms_ratio`` × the healthy RMS exactly ``failure_s`` after installation (the
synthetic model is calibrated so). The agent reports that instant as :attr:`failure_ms`; the
simulation breaks the spindle down then, and after ``repair_s`` a new bearing is installed
which degrades in the same way (one cycle per ``failure_s + repair_s``).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np

from maintenance.algorithms.signal import FeatureSettings, extract_features
from maintenance.algorithms.synthetic import BearingSpec, DegradationProfile, DegradingBearing
from workers.simulator.model import FEATURE_SIGNAL_PREFIX

__all__ = ["DegradationSettings", "FeatureReport", "VibrationEdgeAgent"]


@dataclass(frozen=True)
class DegradationSettings:
    """When the installed bearing starts to degrade, fails, and how long a repair takes."""

    onset_s: float = 120.0
    failure_s: float = 300.0
    repair_s: float = 600.0
    failure_rms_ratio: float = 4.0

    def __post_init__(self) -> None:
        for name in ("onset_s", "failure_s", "repair_s", "failure_rms_ratio"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number ≥ 0, got {value!r}")
        if self.failure_s <= self.onset_s:
            raise ValueError(
                f"the bearing must fail after the onset of the defect: failure "
                f"{self.failure_s} s ≤ onset {self.onset_s} s"
            )
        if self.repair_s <= 0:
            raise ValueError(f"repair_s must be positive, got {self.repair_s}")
        if self.failure_rms_ratio <= 1:
            raise ValueError(f"failure_rms_ratio must exceed 1, got {self.failure_rms_ratio}")


@dataclass(frozen=True)
class FeatureReport:
    ts_ms: int
    window_count: int
    features: dict[str, float]
    summary: dict[str, float] = field(default_factory=dict)


def _significant(value: float) -> float:
    """6 significant digits: plenty for features, and a compact JSON number."""
    return float(f"{value:.6g}")


class VibrationEdgeAgent:
    """The vibration sensor and feature extraction of one spindle."""

    def __init__(
        self,
        rng: np.random.Generator,
        install_ms: int,
        *,
        degradation: DegradationSettings | None = None,
        spec: BearingSpec | None = None,
        feature_settings: FeatureSettings | None = None,
        report_period_s: float = 1.0,
        feature_signals: Collection[str] | None = None,
    ) -> None:
        self._rng = rng
        self._spec = spec or BearingSpec()
        self._settings = feature_settings or FeatureSettings(
            sample_rate_hz=self._spec.sample_rate_hz, window_length=self._spec.window_length
        )
        if self._settings.window_length != self._spec.window_length:
            raise ValueError("the feature window must have the bearing model's window length")
        if self._settings.sample_rate_hz != self._spec.sample_rate_hz:
            raise ValueError("the feature sample rate must match the bearing model's")
        self._window_count = int(report_period_s * self._spec.sample_rate_hz) // (
            self._spec.window_length
        )
        if self._window_count < 1:
            raise ValueError(
                f"a report period of {report_period_s} s holds no complete window of "
                f"{self._spec.window_length} samples"
            )
        self._degradation = degradation
        self._bearing = DegradingBearing(
            self._spec,
            DegradationProfile(
                onset_h=(degradation.onset_s if degradation else 3600.0) / 3600,
                failure_h=(degradation.failure_s if degradation else 7200.0) / 3600,
                failure_rms_ratio=degradation.failure_rms_ratio if degradation else 4.0,
            ),
        )
        self._install_ms = install_ms
        # Each feature is also published as a reading of the signal ``vibration_<feature>``
        # when the equipment declares it (None: all): the MES stores feature windows as
        # readings of these signals sharing one timestamp. Feature name → signal name.
        self._summary_signals = {
            name: FEATURE_SIGNAL_PREFIX + name
            for name in self._settings.feature_names
            if feature_signals is None or FEATURE_SIGNAL_PREFIX + name in feature_signals
        }

    @property
    def shaft_speed_rpm(self) -> float:
        return self._spec.shaft_speed_hz * 60

    @property
    def is_degrading(self) -> bool:
        return self._degradation is not None

    @property
    def failure_ms(self) -> float | None:
        """When the installed bearing fails (expected RMS at the threshold), if it degrades."""
        if self._degradation is None:
            return None
        return self._install_ms + self._degradation.failure_s * 1000

    @property
    def repair_s(self) -> float:
        return self._degradation.repair_s if self._degradation else 0.0

    @property
    def feature_signal_names(self) -> tuple[str, ...]:
        """The ``vibration_*`` signals :meth:`report` fills in its summary."""
        return tuple(self._summary_signals.values())

    def reinstall(self, at_ms: float) -> None:
        """A new bearing (after a repair): the degradation starts again from ``at_ms``."""
        self._install_ms = round(at_ms)

    def _age_h(self, at_ms: float) -> float:
        if self._degradation is None:
            return 0.0  # never past the onset: healthy
        return max(at_ms - self._install_ms, 0.0) / 3_600_000

    def expected_rms_ratio(self, at_ms: float) -> float:
        """Expected RMS / healthy RMS at ``at_ms`` (1 while healthy)."""
        return self._bearing.expected_rms_ratio(self._age_h(at_ms))

    def wear_fraction(self, at_ms: float) -> float:
        """0 healthy … 1 at the failure threshold (from the expected RMS ratio)."""
        ratio = self.expected_rms_ratio(at_ms)
        threshold = self._degradation.failure_rms_ratio if self._degradation else 4.0
        return min(max((ratio - 1) / (threshold - 1), 0.0), 1.0)

    def report(self, at_ms: int) -> FeatureReport:
        """Record the last period's windows and reduce them to mean features."""
        windows = self._bearing.windows(self._age_h(at_ms), self._window_count, self._rng)
        batch = extract_features(windows, self._settings)
        means = batch.as_array().mean(axis=0)
        features = {
            name: _significant(float(value))
            for name, value in zip(batch.feature_names, means, strict=True)
        }
        summary = {signal: features[name] for name, signal in self._summary_signals.items()}
        return FeatureReport(at_ms, self._window_count, features, summary)
