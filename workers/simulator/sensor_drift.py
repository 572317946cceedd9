"""A temperature probe that drifts slowly, for the sensor drift demo (pure, Django-free).

The demo spindle ``CNC_Spindle_8`` carries a second temperature probe ``temperature_2``
beside ``temperature``; both read the spindle's temperature with their own noise (σ 0.15 °C,
:mod:`~workers.simulator.process_values`). From ``onset_s`` after the start of the run the
drifting probe reads ``rate_c_per_min`` higher every minute — a slow calibration drift that
neither the plausible range nor an alert threshold would notice. The MES finds it by fusing
both probes with the spindle thermal model (``maintenance.algorithms.drift``): with the
defaults (onset 5 min, 0.1 °C/min) the probe is flagged about 5 minutes after the onset,
so within the first 15 minutes of the demo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["DEFAULT_DRIFTING_PROBE", "ProbeDriftSettings"]

DEFAULT_DRIFTING_PROBE = "temperature_2"


@dataclass(frozen=True)
class ProbeDriftSettings:
    signal_name: str = DEFAULT_DRIFTING_PROBE
    onset_s: float = 300.0
    rate_c_per_min: float = 0.1

    def __post_init__(self) -> None:
        if not (math.isfinite(self.onset_s) and self.onset_s >= 0):
            raise ValueError(f"onset_s must be a finite number ≥ 0, got {self.onset_s!r}")
        if not math.isfinite(self.rate_c_per_min):
            raise ValueError(f"rate_c_per_min must be finite, got {self.rate_c_per_min!r}")

    def offset_c(self, elapsed_s: float) -> float:
        """The probe's error ``elapsed_s`` after the start of the run (0 before the onset)."""
        return max(elapsed_s - self.onset_s, 0.0) / 60.0 * self.rate_c_per_min
