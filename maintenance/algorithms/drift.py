"""Sensor drift: Kalman fusion of redundant measurements and a CUSUM per sensor (pure).

Several *witnesses* measure one quantity at the same instants (1 Hz in the plant): two
temperature probes of a spindle, and a physical model of the spindle temperature computed
from its power and speed (:func:`thermal_model_predict`). They are fused by a Kalman filter
with a constant-velocity state ``[x, dx/dt]`` (so the warm-up and cool-down ramps of the
machine are tracked without lag) and the innovation of each witness against the predicted
state, ``z_i − x̂⁻``, divided by its standard deviation ``√(P⁻ₓₓ + σᵢ²)``, is that witness's
*residual*. A healthy witness has residuals ~ N(0, 1).

Each residual series goes through a two-sided CUSUM (Page 1954) with allowance ``k`` and
decision threshold ``h`` in units of σ::

    S⁺ₜ = max(0, S⁺ₜ₋₁ + zₜ − k)      S⁻ₜ = max(0, S⁻ₜ₋₁ − zₜ − k)      alarm: S⁺ or S⁻ > h

Defaults ``k = 1.0``, ``h = 12``: a residual mean shift of δ σ (δ > k) is flagged after about
``h / (δ − k)`` samples; on white noise the in-control run length per side is of the order of
10⁹ samples (Siegmund's approximation), so a day at 1 Hz gives no false alarm.

A drift pulls the fused estimate too, so with two probes alone both residuals move by half
the drift in opposite directions: the pair shows that *one* of them drifts, not which. A third
witness names it. Two probes and a model: since the change began (Page's estimate, the last
zero of the alarmed CUSUM side) the probe that left the model — at least twice as far from
it as the other, and farther by over 3 standard errors — is the drifting one; until then both
are ``ambiguous`` (the caller may wait: the verdict sharpens as the drift grows). Three or more
probes: leave-one-out — the sensor whose removal makes the rest consistent is the drifting
one. Two witnesses: a model is the reference (a model does not drift); two probes without a
reference are both ``ambiguous``.

Explicit states before any statistics: a sensor whose last ``flatline_samples`` readings are
identical is ``flat_lined``; one whose residual jumps by more than ``jump_sigma`` (10 σ) in one
sample while no other sensor does is ``jumped``. Both are left out of the fusion of the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

__all__ = [
    "CusumResult",
    "DriftAssessment",
    "DriftSettings",
    "FusionResult",
    "SensorReport",
    "SensorState",
    "ThermalModel",
    "Witness",
    "cusum",
    "drift_assess",
    "kalman_fuse",
    "noise_sigma_estimate",
    "thermal_model_predict",
]

MAD_TO_SIGMA = 1.4826
ATTRIBUTION_SAMPLES = 60


class SensorState(StrEnum):
    OK = "ok"
    DRIFTING = "drifting"
    AMBIGUOUS = "ambiguous"  # the pair disagrees; without a reference it is not known which
    FLAT_LINED = "flat_lined"
    JUMPED = "jumped"
    NO_DATA = "no_data"


SUSPECT_STATES = frozenset(
    {SensorState.DRIFTING, SensorState.AMBIGUOUS, SensorState.FLAT_LINED, SensorState.JUMPED}
)


@dataclass(frozen=True)
class DriftSettings:
    """CUSUM allowance ``cusum_k`` and threshold ``cusum_h`` (in σ of the residual), the
    filter's acceleration noise (units of the quantity per s²), the jump size in σ, how many
    identical readings make a flat line, the smallest noise σ used and the fewest samples
    assessed."""

    cusum_k: float = 1.0
    cusum_h: float = 12.0
    acceleration_noise: float = 0.02
    jump_sigma: float = 10.0
    flatline_samples: int = 60
    min_sigma: float = 0.01
    min_samples: int = 120

    def __post_init__(self) -> None:
        for name in ("cusum_k", "cusum_h", "acceleration_noise", "jump_sigma", "min_sigma"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if self.flatline_samples < 2 or self.min_samples < 2:
            raise ValueError("flatline_samples and min_samples must be at least 2")


@dataclass(frozen=True)
class Witness:
    """One measurement series of the quantity; NaN = no value at that instant.

    ``sigma``: its noise σ (None: estimated from the data, :func:`noise_sigma_estimate`);
    a model witness must give its accuracy and is never itself reported as a faulty sensor.
    """

    name: str
    values: np.ndarray
    sigma: float | None = None
    is_model: bool = False


@dataclass(frozen=True)
class ThermalModel:
    """Steady-state temperature from dissipated power and speed, reached with a first-order
    lag (thermal capacity): ``T_ss = ambient + R_th · P + c_n · n``, ``τ dT/dt = T_ss − T``.

    ``thermal_resistance_c_per_kw``: temperature rise per kW of electrical power (the losses
    are a fixed share of it); ``speed_heat_c_per_krpm``: bearing friction heat per 1000 rpm.
    """

    ambient_c: float = 23.0
    thermal_resistance_c_per_kw: float = 2.78
    speed_heat_c_per_krpm: float = 0.0
    time_constant_s: float = 240.0

    def steady_state_c(self, power_w: np.ndarray, speed_rpm: np.ndarray) -> np.ndarray:
        return (
            self.ambient_c
            + self.thermal_resistance_c_per_kw * np.asarray(power_w, dtype=float) / 1000.0
            + self.speed_heat_c_per_krpm * np.asarray(speed_rpm, dtype=float) / 1000.0
        )


def thermal_model_predict(
    model: ThermalModel,
    *,
    power_w: np.ndarray,
    speed_rpm: np.ndarray,
    dt_s: float,
    initial_c: float | None = None,
) -> np.ndarray:
    """The model's temperature at each sample (missing inputs hold the previous value)."""
    if not (dt_s > 0 and model.time_constant_s > 0):
        raise ValueError("dt_s and the time constant must be positive")
    target = model.steady_state_c(power_w, speed_rpm)
    blend = 1.0 - math.exp(-dt_s / model.time_constant_s)
    out = np.empty(len(target))
    first = target[np.isfinite(target)]
    current = initial_c if initial_c is not None else (first[0] if len(first) else math.nan)
    for index, value in enumerate(target):
        if math.isfinite(value):
            current = current + (value - current) * blend if math.isfinite(current) else value
        out[index] = current
    return out


def noise_sigma_estimate(values: np.ndarray, *, floor: float) -> float:
    """Robust noise σ of a slowly varying signal: MAD of the first differences / √2."""
    finite = values[np.isfinite(values)]
    if len(finite) < 3:
        return floor
    differences = np.diff(finite)
    mad = float(np.median(np.abs(differences - np.median(differences))))
    return max(MAD_TO_SIGMA * mad / math.sqrt(2.0), floor)


@dataclass(frozen=True)
class FusionResult:
    estimate: np.ndarray  # fused value after each sample
    residuals: np.ndarray  # (samples, witnesses) normalised innovations; NaN where missing


def kalman_fuse(
    values: np.ndarray, sigmas: np.ndarray, *, dt_s: float, acceleration_noise: float
) -> FusionResult:
    """Constant-velocity Kalman filter over ``values`` (samples × witnesses, NaN missing).

    Written out for the 2 × 2 covariance (no matrix library needed); each witness is a scalar
    update ``z = x + v``, ``v ~ N(0, σᵢ²)``.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.shape[1] != len(sigmas):
        raise ValueError("values must be samples × witnesses with one sigma per witness")
    if not dt_s > 0:
        raise ValueError("dt_s must be positive")
    samples, witnesses = values.shape
    variances = [float(sigma) ** 2 for sigma in sigmas]
    q = acceleration_noise**2
    q11, q12, q22 = q * dt_s**4 / 4, q * dt_s**3 / 2, q * dt_s**2
    estimate = np.full(samples, np.nan)
    residuals = np.full((samples, witnesses), np.nan)
    x = v = math.nan
    p11, p12, p22 = 0.0, 0.0, 0.0
    rows = values.tolist()
    for index, row in enumerate(rows):
        present = [(i, z) for i, z in enumerate(row) if math.isfinite(z)]
        if not math.isfinite(x):
            if not present:
                continue
            weights = [1.0 / variances[i] for i, _ in present]
            x = sum(w * z for w, (_, z) in zip(weights, present, strict=True)) / sum(weights)
            v = 0.0
            p11, p12, p22 = 1.0 / sum(weights), 0.0, 1.0
            estimate[index] = x
            continue
        # predict
        x = x + dt_s * v
        p11, p12, p22 = (
            p11 + 2 * dt_s * p12 + dt_s * dt_s * p22 + q11,
            p12 + dt_s * p22 + q12,
            p22 + q22,
        )
        for i, z in present:  # innovations against the prediction
            residuals[index, i] = (z - x) / math.sqrt(p11 + variances[i])
        for i, z in present:  # sequential scalar updates
            s = p11 + variances[i]
            k1, k2 = p11 / s, p12 / s
            innovation = z - x
            x += k1 * innovation
            v += k2 * innovation
            p11, p12, p22 = (1 - k1) * p11, (1 - k1) * p12, p22 - k2 * p12
        estimate[index] = x
    return FusionResult(estimate, residuals)


@dataclass(frozen=True)
class CusumResult:
    upper: np.ndarray
    lower: np.ndarray
    alarm_index: int | None  # first sample at which S⁺ or S⁻ exceeded h
    direction: int  # +1 reads high, −1 reads low, 0 no alarm


def cusum(residuals: np.ndarray, *, k: float, h: float) -> CusumResult:
    """Two-sided CUSUM of standardised residuals (NaN samples are skipped)."""
    upper = np.zeros(len(residuals))
    lower = np.zeros(len(residuals))
    high = low = 0.0
    alarm, direction = None, 0
    for index, z in enumerate(np.asarray(residuals, dtype=float).tolist()):
        if math.isfinite(z):
            high = max(0.0, high + z - k)
            low = max(0.0, low - z - k)
        upper[index], lower[index] = high, low
        if alarm is None and (high > h or low > h):
            alarm, direction = index, (1 if high > h else -1)
    return CusumResult(upper, lower, alarm, direction)


@dataclass(frozen=True)
class SensorReport:
    name: str
    state: SensorState
    sigma: float
    detected_at_index: int | None = None
    residual_mean: float | None = None  # mean residual (σ) from detection to the end
    detail: str = ""


@dataclass(frozen=True)
class DriftAssessment:
    samples: int
    sensors: dict[str, SensorReport] = field(default_factory=dict)

    @property
    def suspects(self) -> list[SensorReport]:
        return [report for report in self.sensors.values() if report.state in SUSPECT_STATES]


def _flat_lined(values: np.ndarray, samples: int) -> bool:
    finite = values[np.isfinite(values)]
    return len(finite) >= samples and float(np.ptp(finite[-samples:])) == 0.0


def _run(witnesses: list[Witness], sigmas: dict[str, float], dt_s: float, s: DriftSettings):
    matrix = np.column_stack([w.values for w in witnesses])
    fusion = kalman_fuse(
        matrix,
        np.array([sigmas[w.name] for w in witnesses]),
        dt_s=dt_s,
        acceleration_noise=s.acceleration_noise,
    )
    results = {
        w.name: cusum(fusion.residuals[:, i], k=s.cusum_k, h=s.cusum_h)
        for i, w in enumerate(witnesses)
    }
    return fusion, results


def drift_assess(
    witnesses: list[Witness], *, dt_s: float = 1.0, settings: DriftSettings | None = None
) -> DriftAssessment:
    """The state of every sensor witness (model witnesses are references, not reported)."""
    s = settings or DriftSettings()
    if len(witnesses) < 2:
        raise ValueError("drift needs at least two witnesses of the same quantity")
    lengths = {len(w.values) for w in witnesses}
    if len(lengths) != 1:
        raise ValueError("all witnesses must have one value per sample (NaN when missing)")
    for w in witnesses:
        if w.is_model and w.sigma is None:
            raise ValueError(f"model witness {w.name!r} needs its accuracy sigma")
    samples = lengths.pop()
    sigmas = {
        w.name: (
            max(float(w.sigma), s.min_sigma)
            if w.sigma is not None
            else noise_sigma_estimate(np.asarray(w.values, dtype=float), floor=s.min_sigma)
        )
        for w in witnesses
    }
    reports: dict[str, SensorReport] = {}
    active: list[Witness] = []
    for w in witnesses:
        values = np.asarray(w.values, dtype=float)
        if w.is_model:
            active.append(w)
        elif int(np.isfinite(values).sum()) < s.min_samples:
            reports[w.name] = SensorReport(
                w.name, SensorState.NO_DATA, sigmas[w.name], detail="too few readings to assess"
            )
        elif _flat_lined(values, s.flatline_samples):
            reports[w.name] = SensorReport(
                w.name,
                SensorState.FLAT_LINED,
                sigmas[w.name],
                detail=f"the last {s.flatline_samples} readings are identical",
            )
        else:
            active.append(w)
    sensors = [w for w in active if not w.is_model]
    if len(active) < 2 or not sensors:
        for w in sensors:
            reports[w.name] = SensorReport(
                w.name, SensorState.NO_DATA, sigmas[w.name], detail="no other witness to compare"
            )
        return DriftAssessment(samples, reports)

    fusion, results = _run(active, sigmas, dt_s, s)
    # 10 σ jumps of one sensor (the others quiet at that sample).
    residuals = fusion.residuals
    jumped: list[Witness] = []
    for i, w in enumerate(active):
        if w.is_model:
            continue
        others = np.delete(residuals, i, axis=1)
        big = np.abs(np.nan_to_num(residuals[:, i])) > s.jump_sigma
        quiet = np.all(np.abs(np.nan_to_num(others)) < s.jump_sigma / 2, axis=1)
        hits = np.flatnonzero(big & quiet)
        if len(hits):
            jumped.append(w)
            reports[w.name] = SensorReport(
                w.name,
                SensorState.JUMPED,
                sigmas[w.name],
                detected_at_index=int(hits[0]),
                residual_mean=float(residuals[hits[0], i]),
                detail=f"jumped by {residuals[hits[0], i]:+.1f} σ in one sample",
            )
    if jumped:
        rest = [w for w in active if w not in jumped]
        if len(rest) >= 2 and any(not w.is_model for w in rest):
            inner = drift_assess(rest, dt_s=dt_s, settings=s)
            reports.update(inner.sensors)
        else:
            for w in rest:
                if not w.is_model:
                    reports[w.name] = SensorReport(w.name, SensorState.OK, sigmas[w.name])
        return DriftAssessment(samples, reports)

    alarmed = [w for w in sensors if results[w.name].alarm_index is not None]
    model_alarmed = any(results[w.name].alarm_index is not None for w in active if w.is_model)
    if not alarmed and not model_alarmed:
        for w in sensors:
            reports[w.name] = SensorReport(w.name, SensorState.OK, sigmas[w.name])
        return DriftAssessment(samples, reports)

    culprits = _attribute(active, alarmed, sigmas, dt_s, s, results)
    for i, w in enumerate(active):
        if w.is_model:
            continue
        result = results[w.name]
        if w in culprits or (culprits == [] and w in alarmed):
            state = SensorState.DRIFTING if culprits else SensorState.AMBIGUOUS
            start = result.alarm_index if result.alarm_index is not None else 0
            mean = float(np.nanmean(residuals[start:, i]))
            reports[w.name] = SensorReport(
                w.name,
                state,
                sigmas[w.name],
                detected_at_index=result.alarm_index,
                residual_mean=mean,
                detail=(
                    f"reads {'high' if mean > 0 else 'low'} by {abs(mean):.1f} σ "
                    f"({abs(mean) * sigmas[w.name]:.2f}) against the other witnesses"
                    if state == SensorState.DRIFTING
                    else "the witnesses disagree and none is a reference: check both"
                ),
            )
        else:
            reports[w.name] = SensorReport(w.name, SensorState.OK, sigmas[w.name])
    return DriftAssessment(samples, reports)


def _consistent(witnesses: list[Witness], sigmas, dt_s: float, s: DriftSettings) -> bool:
    _, results = _run(witnesses, sigmas, dt_s, s)
    return all(result.alarm_index is None for result in results.values())


def _change_start(result: CusumResult) -> int:
    """Page's estimate of where the shift began: the last zero of the alarmed side."""
    side = result.upper if result.direction > 0 else result.lower
    assert result.alarm_index is not None
    zeros = np.flatnonzero(side[: result.alarm_index + 1] == 0.0)
    return int(zeros[-1]) if len(zeros) else 0


def _closer_to_model(sensors: list[Witness], model: Witness, start: int, sigmas) -> list[Witness]:
    """Two probes that part ways: the one that left the model is the drifting one.

    Over the samples since the change began, the RMS distance of each probe from the model;
    the farther probe is named when it is at least twice as far as the other (the model's
    own error, under 1 °C in the demo, is common to both probes, so a drift smaller than it
    waits) and its mean distance exceeds the other's by more than 3 standard errors."""
    gaps = []
    for w in sensors:
        gap = np.asarray(w.values, dtype=float)[start:] - np.asarray(model.values)[start:]
        gaps.append(gap[np.isfinite(gap)])
    if any(len(gap) < 2 for gap in gaps):
        return []
    distances = [float(np.sqrt(np.mean(gap**2))) for gap in gaps]
    far = int(np.argmax(distances))
    near = 1 - far
    standard_error = sigmas[sensors[far].name] * math.sqrt(2.0 / len(gaps[far]))
    separated = abs(float(np.mean(gaps[far]))) - abs(float(np.mean(gaps[near])))
    if distances[far] >= 2 * distances[near] and separated > 3 * standard_error:
        return [sensors[far]]
    return []


def _attribute(
    active: list[Witness],
    alarmed: list[Witness],
    sigmas,
    dt_s: float,
    s: DriftSettings,
    results: dict[str, CusumResult] | None = None,
) -> list[Witness]:
    """The sensors that explain the alarm ([] when it cannot be told yet)."""
    candidates = alarmed or [w for w in active if not w.is_model]
    if len(active) == 2:
        references = [w for w in active if w.is_model]
        return [w for w in active if not w.is_model] if references else []
    sensors = [w for w in active if not w.is_model]
    models = [w for w in active if w.is_model]
    if len(sensors) == 2 and len(models) == 1 and alarmed and results is not None:
        first = min(alarmed, key=lambda w: results[w.name].alarm_index or 0)
        alarm_index = results[first.name].alarm_index or 0
        # From where the shift began, at most the last ATTRIBUTION_SAMPLES before the alarm.
        start = max(_change_start(results[first.name]), alarm_index - ATTRIBUTION_SAMPLES)
        return _closer_to_model(sensors, models[0], start, sigmas)
    explained = [
        w
        for w in candidates
        if _consistent([other for other in active if other is not w], sigmas, dt_s, s)
    ]
    return explained if len(explained) == 1 else []
