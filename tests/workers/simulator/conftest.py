"""The demo plant as the simulator's spec, built from workers.demo_plant without a database."""

from __future__ import annotations

import pytest

from workers.simulator.model import EquipmentSpec, PlantSpec, SignalSpec

SPINDLE_PATHS = (
    "acme/plant1/machining/CNC/cell7/CNC_Spindle_7",
    "acme/plant1/machining/CNC/cell8/CNC_Spindle_8",
)


def _signals(specs: list[tuple]) -> tuple[SignalSpec, ...]:
    return tuple(
        SignalSpec(name, unit, "number", low, high) for name, unit, low, high, _period_s in specs
    )


def demo_plant_spec() -> PlantSpec:
    from workers.demo_plant import (
        ASSEMBLY_STATIONS,
        DOWNTIME_REASONS,
        SPINDLE_SIGNALS,
        STATION_SIGNALS,
    )

    equipment = [
        EquipmentSpec(
            f"acme/plant1/assembly/{line}/{cell}/{line}_{cell}", _signals(STATION_SIGNALS)
        )
        for line in ("MPS1", "MPS2")
        for cell, _name, _capability in ASSEMBLY_STATIONS
    ]
    equipment += [EquipmentSpec(path, _signals(SPINDLE_SIGNALS)) for path in SPINDLE_PATHS]
    return PlantSpec(
        tuple(equipment), frozenset(code for code, _name, _parent, _element in DOWNTIME_REASONS)
    )


@pytest.fixture(scope="session")
def demo_plant() -> PlantSpec:
    return demo_plant_spec()
