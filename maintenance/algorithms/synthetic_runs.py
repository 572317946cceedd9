"""A synthetic fleet of run-to-failure indicator histories (pure, Django-free, seeded).

Ground truth for the fleet RUL model's tests and demo (:mod:`fleet_rul`): each run's
indicator is the RMS ratio ``D`` of a machine that is healthy (``D ≈ 1``) until a defect
appears at ``onset_h`` and then grows exponentially, ``D(t) = 1 + (D_fail − 1)·(e^{β(t −
onset)} − 1)/(e^{β(T − onset)} − 1)``, reaching the failure ratio exactly at the failure time
``T``; multiplicative Gaussian noise of ``noise_fraction`` on every sample. Onset and
degradation length are drawn per run, so lifetimes differ and the age alone does not tell
the remaining life.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from maintenance.algorithms.fleet_rul import RunHistory, run_history


@dataclass(frozen=True)
class SyntheticFleetSpec:
    onset_h: tuple[float, float] = (40.0, 160.0)
    degradation_h: tuple[float, float] = (60.0, 160.0)
    growth_per_h: tuple[float, float] = (0.02, 0.05)
    failure_ratio: float = 4.0
    noise_fraction: float = 0.03
    sample_every_h: float = 1.0


def synthetic_run(
    run_id: str,
    rng: np.random.Generator,
    spec: SyntheticFleetSpec | None = None,
) -> RunHistory:
    """One run from its start (t = 0) to its failure (``end_h``)."""
    spec = spec or SyntheticFleetSpec()
    onset_h = float(rng.uniform(*spec.onset_h))
    failure_h = onset_h + float(rng.uniform(*spec.degradation_h))
    growth = float(rng.uniform(*spec.growth_per_h))
    times = np.arange(spec.sample_every_h, failure_h, spec.sample_every_h)
    excess = np.expm1(growth * np.clip(times - onset_h, 0.0, None)) / np.expm1(
        growth * (failure_h - onset_h)
    )
    values = (1.0 + (spec.failure_ratio - 1.0) * excess) * (
        1.0 + spec.noise_fraction * rng.standard_normal(times.size)
    )
    values = np.clip(values, 0.05, None)
    return run_history(run_id, times, values, start_h=0.0, end_h=failure_h)


def synthetic_fleet(
    count: int, seed: int, spec: SyntheticFleetSpec | None = None
) -> list[RunHistory]:
    """``count`` complete runs, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    return [synthetic_run(f"run-{index}", rng, spec) for index in range(count)]
