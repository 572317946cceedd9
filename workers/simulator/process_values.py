"""Process values of one equipment that follow its state (pure, Django-free).

=================  =========================================================================
signal             model
=================  =========================================================================
temperature        first-order lag (τ = 240 s) towards a target per state (ambient 22 °C;
                   producing 38 °C on a station, 48 °C on a spindle; setup 30 °C), plus the
                   heat of a degrading bearing (``extra_heat_c``) and noise (σ 0.15 °C);
                   ``temperature_<n>``: a further probe of the same temperature, with its own
                   noise and error (``probe_offsets_c``, :mod:`~workers.simulator.sensor_drift`)
power              nominal power × a share per state (producing 100 %, setup 25 %, otherwise
                   8 % standby), ±3 % noise; a degrading bearing adds friction losses
spindle_speed      the nominal speed (1500 rpm, matching the bearing model) ± 2 rpm while
                   producing, 0 otherwise
vibration_*        not sampled here: the edge agent publishes them from its window features
anything else      numbers: the middle of the plausible range (or 50) with ±2 % of the span of
                   noise; booleans: producing or not; strings: the state name
=================  =========================================================================

Every number is clipped to the signal's plausible range and rounded (2 decimals for
temperatures, 1 for power and speed, 3 otherwise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from workers.mqtt.uns import Scalar
from workers.simulator.model import FEATURE_SIGNAL_PREFIX, MachineState, SignalSpec

__all__ = ["EDGE_SIGNAL_PREFIX", "NOMINAL_SPINDLE_SPEED_RPM", "ProcessProfile", "ProcessValues"]

EDGE_SIGNAL_PREFIX: Final = FEATURE_SIGNAL_PREFIX
NOMINAL_SPINDLE_SPEED_RPM: Final = 1500.0
AMBIENT_TEMPERATURE_C: Final = 22.0
TEMPERATURE_TIME_CONSTANT_S: Final = 240.0
_NOISE_BLOCK: Final = 4096


@dataclass(frozen=True)
class ProcessProfile:
    producing_temperature_c: float
    nominal_power_w: float


STATION_PROFILE: Final = ProcessProfile(producing_temperature_c=38.0, nominal_power_w=700.0)
SPINDLE_PROFILE: Final = ProcessProfile(producing_temperature_c=48.0, nominal_power_w=9_000.0)

_POWER_SHARE: Final = {MachineState.PRODUCING: 1.0, MachineState.SETUP: 0.25}
_STANDBY_POWER_SHARE: Final = 0.08


class _Noise:
    """Standard normal numbers drawn in blocks (cheap at high tick rates, same sequence)."""

    __slots__ = ("_block", "_index", "_rng")

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._block: list[float] = []
        self._index = 0

    def next(self) -> float:
        if self._index >= len(self._block):
            self._block = self._rng.standard_normal(_NOISE_BLOCK).tolist()
            self._index = 0
        value = self._block[self._index]
        self._index += 1
        return value


def _clip(value: float, signal: SignalSpec) -> float:
    if signal.min_value is not None and value < signal.min_value:
        return signal.min_value
    if signal.max_value is not None and value > signal.max_value:
        return signal.max_value
    return value


class ProcessValues:
    """Samples the signals of one equipment at increasing times."""

    def __init__(
        self,
        signals: tuple[SignalSpec, ...],
        profile: ProcessProfile,
        rng: np.random.Generator,
        start_ms: int,
    ) -> None:
        self._signals = tuple(
            signal for signal in signals if not signal.name.startswith(EDGE_SIGNAL_PREFIX)
        )
        self._profile = profile
        self._noise = _Noise(rng)
        self._last_ms = start_ms
        self._temperature_c = profile.producing_temperature_c
        self.extra_heat_c = 0.0
        self.extra_power_share = 0.0
        self.probe_offsets_c: dict[str, float] = {}

    @property
    def signal_names(self) -> tuple[str, ...]:
        return tuple(signal.name for signal in self._signals)

    def sample(self, at_ms: int, state: MachineState) -> dict[str, Scalar]:
        elapsed_s = max(at_ms - self._last_ms, 0) / 1000
        self._last_ms = at_ms
        target_c = self._target_temperature(state) + self.extra_heat_c
        blend = 1 - math.exp(-elapsed_s / TEMPERATURE_TIME_CONSTANT_S)
        self._temperature_c += (target_c - self._temperature_c) * blend
        values: dict[str, Scalar] = {}
        for signal in self._signals:
            values[signal.name] = self._value(signal, state)
        return values

    def _target_temperature(self, state: MachineState) -> float:
        if state is MachineState.PRODUCING:
            return self._profile.producing_temperature_c
        if state is MachineState.SETUP:
            return 30.0
        return AMBIENT_TEMPERATURE_C + 3.0

    def _value(self, signal: SignalSpec, state: MachineState) -> Scalar:
        if signal.data_type == "boolean":
            return state is MachineState.PRODUCING
        if signal.data_type == "string":
            return state.value
        noise = self._noise.next()
        name = signal.name
        if name == "temperature" or name.startswith("temperature_"):
            error_c = self.probe_offsets_c.get(name, 0.0)
            return round(_clip(self._temperature_c + 0.15 * noise + error_c, signal), 2)
        if name == "power":
            share = _POWER_SHARE.get(state, _STANDBY_POWER_SHARE)
            if state is MachineState.PRODUCING:
                share += self.extra_power_share
            power_w = self._profile.nominal_power_w * share * (1 + 0.03 * noise)
            return round(_clip(max(power_w, 0.0), signal), 1)
        if name == "spindle_speed":
            if state is not MachineState.PRODUCING:
                return 0.0
            return round(_clip(NOMINAL_SPINDLE_SPEED_RPM + 2.0 * noise, signal), 1)
        low = signal.min_value if signal.min_value is not None else 0.0
        high = signal.max_value if signal.max_value is not None else max(low + 100.0, 100.0)
        middle = (low + high) / 2
        return round(_clip(middle + 0.02 * (high - low) * noise, signal), 3)
