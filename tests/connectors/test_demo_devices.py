"""The demo plant's field devices: their OPC UA and Modbus servers read by the connections
``serve_demo_devices`` configures, through the connectors into stored readings."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from connectors.runtime.demo_devices import DemoValue, serve_demo_devices
from connectors.runtime.runner import connectors_run
from connectors.services import connectors_config_build, demo_connections_ensure
from tests.connectors.harness import Collector, States, root_topic, uns_sink, until
from tests.mosquitto import HOST, free_port
from workers.ingest.uns import ingest_uns_batch
from workers.models import Reading

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(120)]


def test_part_of_the_plant_comes_through_each_protocol(plant, ingest_env, mosquitto, settings):
    opcua_port, modbus_port = free_port(), free_port()
    opcua_endpoint = f"opc.tcp://{HOST}:{opcua_port}/mes-demo/"
    nodes, values = demo_connections_ensure(
        opcua_equipment=[plant.equipment],
        modbus_equipment=plant.other_equipment,
        opcua_endpoint=opcua_endpoint,
        modbus_endpoint=f"modbus://{HOST}:{modbus_port}",
    )
    again = demo_connections_ensure(  # idempotent
        opcua_equipment=[plant.equipment],
        modbus_equipment=plant.other_equipment,
        opcua_endpoint=opcua_endpoint,
        modbus_endpoint=f"modbus://{HOST}:{modbus_port}",
    )
    assert (
        again
        == (nodes, values)
        == (
            [f"{plant.equipment.code}.hydraulic_pressure"],
            ["coolant_flow", "coolant_temperature"],
        )
    )
    config = connectors_config_build(names=["demo-opcua", "demo-modbus"])
    root = root_topic()
    collector = Collector(mosquitto.url, root).start()
    states = States()
    sink, publisher = uns_sink(mosquitto.url, root, states)

    async def main() -> None:
        stop = asyncio.Event()
        devices = asyncio.create_task(
            serve_demo_devices(
                stop,
                opcua_endpoint=opcua_endpoint,
                opcua_values=[DemoValue(nodes[0], 180.0, 10.0, 0.5)],
                modbus_host=HOST,
                modbus_port=modbus_port,
                modbus_values=[DemoValue(name, 50.0, 5.0, 0.3) for name in values],
                period_s=0.2,
            )
        )
        await asyncio.sleep(1.0)  # the servers start
        connectors = asyncio.create_task(connectors_run(config, sink, stop))
        try:
            await until(
                lambda: all(
                    len(collector.readings(name)) >= 2
                    for name in ("hydraulic_pressure", "coolant_flow", "coolant_temperature")
                ),
                timeout_s=60,
            )
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(connectors, devices), 20)

    try:
        asyncio.run(main())
    finally:
        publisher.stop()
        collector.stop()
    settings.MQTT_UNS_ROOT = root
    messages = [m for m in collector.uns_messages() if "/_state/" not in m[0]]
    ingest_uns_batch(batch_id=str(uuid.uuid4()), published_at=datetime.now(UTC), messages=messages)

    for name, equipment in (
        ("hydraulic_pressure", plant.equipment),
        ("coolant_flow", plant.other_equipment),
        ("coolant_temperature", plant.other_equipment),
    ):
        stored = Reading.objects.filter(signal__name=name, signal__equipment=equipment)
        assert stored.count() >= 2, name
        assert set(stored.values_list("quality", flat=True)) == {192}
