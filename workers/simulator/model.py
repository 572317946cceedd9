"""What the simulator simulates and what it emits: plain frozen dataclasses, Django-free.

Times inside the simulator are integer epoch milliseconds (``*_ms``): they are what the
payloads carry, they compare exactly, and a run is reproducible to the millisecond.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

import numpy as np

SIGNAL_DATA_TYPES: Final = ("number", "boolean", "string")
# Vibration signals are the edge agent's: ``vibration_`` + a feature name of
# maintenance.algorithms.signal (``vibration_rms``, ``vibration_band_energy_0_500_hz`` …).
FEATURE_SIGNAL_PREFIX: Final = "vibration_"


class MachineState(StrEnum):
    """Equipment states the simulator publishes (values of ``production.EquipmentState``)."""

    PRODUCING = "producing"
    SETUP = "setup"
    DOWN = "down"
    IDLE = "idle"
    STARVED = "starved"
    BLOCKED = "blocked"


@dataclass(frozen=True, slots=True)
class SignalSpec:
    """One signal of an equipment, as the data contract (``production.Signal``) declares it."""

    name: str
    unit: str = ""
    data_type: str = "number"
    min_value: float | None = None
    max_value: float | None = None

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or self.name.startswith("_"):
            raise ValueError(f"signal name {self.name!r} must be non-empty, without '/' or '_…'")
        if self.data_type not in SIGNAL_DATA_TYPES:
            raise ValueError(
                f"signal {self.name}: data_type must be one of {SIGNAL_DATA_TYPES}, "
                f"got {self.data_type!r}"
            )
        for bound in (self.min_value, self.max_value):
            if bound is not None and not math.isfinite(bound):
                raise ValueError(f"signal {self.name}: range bounds must be finite")
        if (
            self.min_value is not None
            and self.max_value is not None
            and self.min_value > self.max_value
        ):
            raise ValueError(
                f"signal {self.name}: min_value {self.min_value} exceeds max_value {self.max_value}"
            )


@dataclass(frozen=True, slots=True)
class EquipmentSpec:
    """One equipment: its UNS path ``enterprise/site/area/line/cell/equipment`` and signals."""

    path: str
    signals: tuple[SignalSpec, ...] = ()

    def __post_init__(self) -> None:
        levels = self.path.split("/")
        if len(levels) != 6 or not all(levels):
            raise ValueError(
                f"equipment path {self.path!r} must be enterprise/site/area/line/cell/equipment"
            )
        if any(level[0] in "_$" or "+" in level or "#" in level for level in levels):
            raise ValueError(f"equipment path {self.path!r} has a reserved or wildcard level")
        names = [signal.name for signal in self.signals]
        if len(set(names)) != len(names):
            raise ValueError(f"equipment {self.path}: signal names must be unique, got {names}")

    @property
    def code(self) -> str:
        return self.path.rsplit("/", 1)[1]

    @property
    def cell_code(self) -> str:
        return self.path.split("/")[4]

    @property
    def line_path(self) -> str:
        """``enterprise/site/area/line``."""
        return self.path.rsplit("/", 2)[0]

    @property
    def site_path(self) -> str:
        """``enterprise/site``."""
        return "/".join(self.path.split("/")[:2])

    def signal(self, name: str) -> SignalSpec | None:
        for signal in self.signals:
            if signal.name == name:
                return signal
        return None


@dataclass(frozen=True, slots=True)
class PlantSpec:
    """The equipment to simulate and the downtime reason codes the plant knows."""

    equipment: tuple[EquipmentSpec, ...]
    reason_codes: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not self.equipment:
            raise ValueError("the plant has no equipment to simulate")
        paths = [equipment.path for equipment in self.equipment]
        if len(set(paths)) != len(paths):
            raise ValueError("equipment paths must be unique")

    def find(self, path_or_code: str) -> EquipmentSpec | None:
        for equipment in self.equipment:
            if path_or_code in (equipment.path, equipment.code):
                return equipment
        return None

    def line_equipment(self, line_path_or_code: str) -> tuple[EquipmentSpec, ...]:
        return tuple(
            equipment
            for equipment in self.equipment
            if line_path_or_code in (equipment.line_path, equipment.line_path.rsplit("/", 1)[1])
        )


@dataclass(frozen=True, slots=True)
class OrderSpec:
    """A customer order dispatched to a line (read from the database every few seconds).

    ``line_step`` is the last station the MES has recorded for the order (empty: none yet);
    the simulator carries on after it, so a restart does not replay finished steps.
    """

    number: str
    line_path: str  # enterprise/site/area/line
    quantity: int
    line_step: str = ""

    def __post_init__(self) -> None:
        if not self.number:
            raise ValueError("order number is required")
        if len(self.line_path.split("/")) != 4:
            raise ValueError(f"line path {self.line_path!r} must be enterprise/site/area/line")
        if self.quantity < 1:
            raise ValueError(f"order {self.number}: quantity must be ≥ 1, got {self.quantity}")


class RecordKind(StrEnum):
    READINGS = "readings"  # values of signals at one instant → a UNS batch or Sparkplug DDATA
    FEATURES = "features"  # vibration window features → .../_features
    EVENT = "event"  # state, count or station event → .../_event


@dataclass(frozen=True, slots=True)
class Record:
    """Something the plant reports at ``ts_ms``, before it is encoded for the wire.

    ``source`` and ``sequence`` make the publication order total and independent of how the
    simulated time was cut into steps: records sort by ``(ts_ms, source, sequence)``.
    """

    ts_ms: int
    source: int
    sequence: int
    kind: RecordKind
    equipment_path: str
    data: Mapping[str, Any]
    event_type: str | None = None  # for RecordKind.EVENT: "state" | "count" | "station"


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One MQTT publication. ``channel`` names the client: ``"uns"`` or a Sparkplug node id."""

    topic: str
    payload: bytes
    qos: int = 1
    channel: str = "uns"
    reading_count: int = 0


UNS_CHANNEL: Final = "uns"


def random_stream(seed: int, *names: str) -> np.random.Generator:
    """An independent, reproducible random stream for ``seed`` and a name path.

    Each equipment, order and vibration source draws from its own stream, so adding an
    equipment or an order never changes the numbers another one publishes. Names are hashed
    with CRC-32 (stable across processes, unlike ``hash()``).
    """
    if seed < 0:
        raise ValueError(f"seed must be ≥ 0, got {seed}")
    keys = [seed, *(zlib.crc32(name.encode()) for name in names)]
    return np.random.default_rng(np.random.SeedSequence(keys))
