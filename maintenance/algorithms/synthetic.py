"""A degrading rolling-element bearing with a known failure time (pure, Django-free, seeded).

Ground truth for validating :mod:`maintenance.algorithms.health` and the vibration source of
the plant simulator. One window of the vibration signal (sensor unit, e.g. mm/s) is::

    x(t) = A1·sin(2π·f_shaft·t + φ1) + A2·sin(2π·2f_shaft·t + φ2)      shaft 1× and 2×
         + Σ_j a_j · h(t − t_j)                                         fault impacts
         + n(t)                                                         Gaussian noise

Impacts happen at the outer-race ball-pass frequency (BPFO) with a small random slip of the
pass times; each pass hits the defect with probability ``p(s)`` and rings the structure's
resonance with the impulse response ``h(t) = exp(−ζ·ω·t)·sin(ω_d·t)`` (ω = 2π·resonance_hz,
ω_d = ω·sqrt(1 − ζ²)). Both the rate and the amplitude grow with the defect severity ``s``::

    p(s) = min(1, p0·(1 + s))          share of ball passes that hit the defect
    a(s) = s                           mean impact amplitude (spread ±10 %)
    s(t) = 0 before onset, exp(β·(t − onset_h)) − 1 after it

The expected mean square is ``MS0 + p(s)·BPFO·a(s)²·E_h`` with ``MS0`` the healthy mean square
and ``E_h = Σ h[n]² / fs`` the energy of one unit impact, so the expected RMS ratio ``D(t)`` is
known in closed form. β is chosen so that ``D(failure_h) = failure_rms_ratio`` exactly: the
true failure time — the instant the expected RMS crosses the failure threshold — is
``failure_h`` by construction. Early in the degradation the impacts are rare but sharp, so the
kurtosis rises well before the RMS does, as on real bearings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.optimize
import scipy.signal
from numpy.typing import NDArray

__all__ = ["BearingSpec", "DegradationProfile", "DegradingBearing"]

# Impulse responses are cut where they have decayed to e^-8 (0.03 %) of their peak.
_DECAY_CUTOFF = 8.0


@dataclass(frozen=True)
class BearingSpec:
    """Machine and sensor of the simulated bearing (defaults: 6205 bearing at 1500 rpm)."""

    sample_rate_hz: float = 10_000.0
    window_length: int = 1024
    shaft_speed_hz: float = 25.0
    shaft_amplitude: float = 1.0
    second_harmonic_amplitude: float = 0.4
    noise_rms: float = 0.3
    # BPFO of a 6205 deep-groove bearing is 3.585 × shaft speed.
    ball_pass_frequency_hz: float = 89.6
    ball_pass_slip: float = 0.01
    resonance_hz: float = 3_000.0
    resonance_damping_ratio: float = 0.05
    impact_amplitude_spread: float = 0.1

    def __post_init__(self) -> None:
        positive = (
            "sample_rate_hz",
            "shaft_speed_hz",
            "noise_rms",
            "ball_pass_frequency_hz",
            "resonance_hz",
            "resonance_damping_ratio",
        )
        for name in positive:
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        for name in (
            "shaft_amplitude",
            "second_harmonic_amplitude",
            "ball_pass_slip",
            "impact_amplitude_spread",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be ≥ 0, got {value!r}")
        if self.window_length < 8:
            raise ValueError(f"window_length must be ≥ 8, got {self.window_length}")
        if not self.resonance_damping_ratio < 1:
            raise ValueError("resonance_damping_ratio must be < 1 (an underdamped resonance)")
        if max(self.resonance_hz, 2 * self.shaft_speed_hz) >= self.sample_rate_hz / 2:
            raise ValueError("resonance and shaft harmonics must lie below the Nyquist frequency")

    @property
    def healthy_mean_square(self) -> float:
        """Expected mean square of a healthy window (unit²)."""
        return (
            self.shaft_amplitude**2 / 2 + self.second_harmonic_amplitude**2 / 2 + self.noise_rms**2
        )


@dataclass(frozen=True)
class DegradationProfile:
    """When the defect appears and when the expected RMS reaches the failure threshold."""

    onset_h: float
    failure_h: float
    failure_rms_ratio: float = 4.0
    initial_impact_probability: float = 0.1

    def __post_init__(self) -> None:
        for name in ("onset_h", "failure_h", "failure_rms_ratio", "initial_impact_probability"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value!r}")
        if self.onset_h < 0:
            raise ValueError(f"onset_h must be ≥ 0, got {self.onset_h}")
        if self.failure_h <= self.onset_h:
            raise ValueError(
                f"failure_h ({self.failure_h}) must come after onset_h ({self.onset_h})"
            )
        if self.failure_rms_ratio <= 1:
            raise ValueError(f"failure_rms_ratio must exceed 1, got {self.failure_rms_ratio}")
        if not 0 < self.initial_impact_probability <= 1:
            raise ValueError("initial_impact_probability must lie in (0, 1]")


@dataclass(frozen=True)
class DegradingBearing:
    """A bearing that is healthy until ``profile.onset_h`` and fails at ``profile.failure_h``."""

    spec: BearingSpec
    profile: DegradationProfile

    @cached_property
    def _impulse_response(self) -> NDArray[np.float64]:
        spec = self.spec
        angular_hz = 2 * math.pi * spec.resonance_hz
        decay_per_s = spec.resonance_damping_ratio * angular_hz
        length = math.ceil(_DECAY_CUTOFF / decay_per_s * spec.sample_rate_hz)
        time_s = np.arange(length) / spec.sample_rate_hz
        damped_hz = angular_hz * math.sqrt(1 - spec.resonance_damping_ratio**2)
        return np.exp(-decay_per_s * time_s) * np.sin(damped_hz * time_s)

    @cached_property
    def _unit_impact_energy(self) -> float:
        """``E_h``: unit² · s of one impact of amplitude 1."""
        return float(np.sum(np.square(self._impulse_response)) / self.spec.sample_rate_hz)

    def _impact_mean_square(self, severity: float) -> float:
        probability = min(1.0, self.profile.initial_impact_probability * (1 + severity))
        spread = self.spec.impact_amplitude_spread
        return (
            probability
            * self.spec.ball_pass_frequency_hz
            * severity**2
            * (1 + spread**2)
            * self._unit_impact_energy
        )

    @cached_property
    def _failure_severity(self) -> float:
        target = (self.profile.failure_rms_ratio**2 - 1) * self.spec.healthy_mean_square
        upper = 1.0
        while self._impact_mean_square(upper) < target:
            upper *= 2
        return float(
            scipy.optimize.brentq(lambda s: self._impact_mean_square(s) - target, 0.0, upper)
        )

    @cached_property
    def growth_rate_per_h(self) -> float:
        """β of the severity ``s(t) = exp(β·(t − onset_h)) − 1``."""
        duration_h = self.profile.failure_h - self.profile.onset_h
        return math.log1p(self._failure_severity) / duration_h

    def severity(self, time_h: float) -> float:
        """Defect severity ``s`` at ``time_h`` (0 before onset)."""
        if time_h <= self.profile.onset_h:
            return 0.0
        return math.expm1(self.growth_rate_per_h * (time_h - self.profile.onset_h))

    def expected_rms_ratio(self, time_h: float) -> float:
        """Expected ``RMS / healthy RMS`` at ``time_h`` (= failure_rms_ratio at failure_h)."""
        healthy = self.spec.healthy_mean_square
        return math.sqrt((healthy + self._impact_mean_square(self.severity(time_h))) / healthy)

    def remaining_useful_life_h(self, time_h: float) -> float:
        """True RUL: hours from ``time_h`` to ``failure_h`` (negative once failed)."""
        return self.profile.failure_h - time_h

    def windows(self, time_h: float, count: int, rng: np.random.Generator) -> NDArray[np.float64]:
        """``count`` independent windows ``[count, window_length]`` recorded at ``time_h``."""
        if count < 1:
            raise ValueError(f"count must be ≥ 1, got {count}")
        if not math.isfinite(time_h):
            raise ValueError(f"time_h must be finite, got {time_h!r}")
        spec = self.spec
        length = spec.window_length
        time_s = np.arange(length) / spec.sample_rate_hz
        phases = rng.uniform(0, 2 * math.pi, size=(count, 2, 1))
        shaft_angle = 2 * math.pi * spec.shaft_speed_hz * time_s
        signal = spec.shaft_amplitude * np.sin(shaft_angle + phases[:, 0])
        signal += spec.second_harmonic_amplitude * np.sin(2 * shaft_angle + phases[:, 1])
        signal += rng.normal(0.0, spec.noise_rms, size=(count, length))
        severity = self.severity(time_h)
        if severity > 0:
            signal += self._impacts(severity, count, rng)
        return signal

    def _impacts(
        self, severity: float, count: int, rng: np.random.Generator
    ) -> NDArray[np.float64]:
        spec = self.spec
        kernel = self._impulse_response
        lead = kernel.shape[0]  # impacts before the window still ring into it
        total = spec.window_length + lead
        period_samples = spec.sample_rate_hz / spec.ball_pass_frequency_hz
        pass_count = math.ceil(total / period_samples) + 1
        offsets = rng.uniform(0, period_samples, size=(count, 1))
        slips = rng.normal(0.0, spec.ball_pass_slip * period_samples, size=(count, pass_count))
        positions = np.rint(offsets + np.arange(pass_count) * period_samples + slips).astype(int)
        probability = min(1.0, self.profile.initial_impact_probability * (1 + severity))
        hits = rng.random((count, pass_count)) < probability
        amplitudes = severity * (
            1 + spec.impact_amplitude_spread * rng.standard_normal((count, pass_count))
        )
        impulses = np.zeros((count, total))
        inside = hits & (positions >= 0) & (positions < total)
        rows = np.broadcast_to(np.arange(count)[:, np.newaxis], positions.shape)
        np.add.at(impulses, (rows[inside], positions[inside]), amplitudes[inside])
        ringing = scipy.signal.oaconvolve(impulses, kernel[np.newaxis, :], axes=1)
        return np.asarray(ringing[:, lead : lead + spec.window_length], dtype=np.float64)
