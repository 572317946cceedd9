"""The simulator's station events drive the MES's customer orders to completion (real DB)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from planning.models import CustomerOrder
from planning.services.dispatch import customer_order_create
from planning.services.line_orders import StationEventIn, line_order_events_ingest
from workers.mqtt.uns import DecodedEvent, UnsDecoder
from workers.simulator.selectors import dispatched_order_list, plant_spec_load
from workers.simulator.simulation import PlantSimulation, SimulationSettings
from workers.simulator.stations import StationSettings

ROOT = "contract"


@pytest.fixture
def demo_plant_db(db):
    from workers.demo_plant import demo_plant_load

    return demo_plant_load()


def _station_events(simulation: PlantSimulation, until_ms: int) -> list[StationEventIn]:
    decoder = UnsDecoder(root=ROOT)
    events = []
    for message in simulation.step(until_ms):
        decoded = decoder.decode(message.topic, message.payload)
        if isinstance(decoded, DecodedEvent) and decoded.kind == "station":
            events.append(
                StationEventIn(decoded.equipment_path, decoded.ts, decoded.kind, dict(decoded.data))
            )
    return events


def test_dispatched_orders_are_run_through_the_mes_line_order_service(demo_plant_db) -> None:
    first = customer_order_create(number="CO-SIM-A", area_id=_assembly_id(), parts={"PART_A": 3})
    second = customer_order_create(number="CO-SIM-B", area_id=_assembly_id(), parts={"PART_B": 2})
    plant = plant_spec_load()
    line_paths = sorted({equipment.line_path for equipment in plant.equipment})
    start_ms = int(datetime.now(UTC).timestamp()) * 1000
    simulation = PlantSimulation(
        plant,
        SimulationSettings(
            seed=4,
            root=ROOT,
            station_settings=StationSettings(quality_failure_probability=0.999999, max_reworks=1),
        ),
        start_ms,
    )

    applied = []
    for minute in range(1, 16):  # poll the orders as the publisher does, apply what comes out
        now_ms = start_ms + minute * 60_000
        simulation.orders_update(dispatched_order_list(line_paths=line_paths), now_ms - 60_000)
        events = _station_events(simulation, now_ms)
        result = line_order_events_ingest(events=events)
        assert result.rejected == []
        applied += events

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, first.line_stage, first.line_step) == ("completed", "complete", "complete")
    assert (second.state, second.line_stage, second.line_step) == (
        "completed",
        "complete",
        "complete",
    )
    fails = [event for event in applied if event.data.get("result") == "fail"]
    assert (first.rework_count, second.rework_count) == (1, 1)  # one failed control each
    assert len(fails) == 2
    assert len(applied) == 2 * (9 + 2)  # nine stations, plus a failed control and a re-machining
    assert dispatched_order_list(line_paths=line_paths) == []
    assert {event.data["order"] for event in applied} == {"CO-SIM-A", "CO-SIM-B"}
    assert CustomerOrder.objects.filter(state="completed").count() == 2


def _assembly_id() -> int:
    from production.models import Area

    return Area.objects.get(code="assembly").pk
