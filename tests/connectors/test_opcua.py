"""The OPC UA connector against asyncua's own server on a free port, publishing through the
session's Mosquitto, and the real UNS ingest storing what it published."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from asyncua import Server, ua

from connectors.runtime.config import ConnectionConfig, Protocol, TagConfig
from connectors.runtime.opcua import OpcUaConnection
from connectors.runtime.sink import ConnectionState
from tests.connectors.harness import Collector, States, ms_now, root_topic, uns_sink, until
from tests.mosquitto import free_port
from workers.ingest.uns import ingest_uns_batch
from workers.models import Reading

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(120)]

NAMESPACE = "urn:mes:test:press"


class PlantServer:
    """asyncua's server with one object and a few variables, restartable on the same port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.server: Server | None = None
        self.variables: dict[str, object] = {}

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://127.0.0.1:{self.port}/mes/"

    async def start(self, values: dict[str, object]) -> None:
        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        self.namespace = await server.register_namespace(NAMESPACE)
        press = await server.nodes.objects.add_object(self.namespace, "Press")
        for name, value in values.items():
            self.variables[name] = await press.add_variable(
                ua.NodeId(name, self.namespace), name, value
            )
        await server.start()
        self.server = server

    def node_id(self, name: str) -> str:
        return f"ns={self.namespace};s={name}"

    async def write(self, name: str, value: float, ts: datetime) -> None:
        await self.variables[name].write_value(
            ua.DataValue(
                ua.Variant(value, ua.VariantType.Double), SourceTimestamp=ts, ServerTimestamp=ts
            )
        )

    async def write_bad(self, name: str, ts: datetime) -> None:
        await self.variables[name].write_value(
            ua.DataValue(
                ua.Variant(0.0, ua.VariantType.Double),
                StatusCode=ua.StatusCode(ua.StatusCodes.BadSensorFailure),
                SourceTimestamp=ts,
                ServerTimestamp=ts,
            )
        )

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None


@pytest.fixture
def signals(telemetry):
    from production.models import Signal

    pressure = Signal.objects.create(
        equipment=telemetry.equipment, name="pressure", unit="bar", min_value=0, max_value=500
    )
    return telemetry, pressure


def _tags(server: PlantServer, path: str, *, pressure_deadband=None) -> tuple[TagConfig, ...]:
    return (
        TagConfig(path, "temperature", server.node_id("Temperature")),
        TagConfig(path, "pressure", server.node_id("Pressure"), deadband=pressure_deadband),
    )


def _run(scenario, mosquitto, path: str, *, extra_tags=(), ready=None, **options):
    """Run ``scenario(server, collector, states)`` with a started server and a connector
    subscribed to its tags (and ``extra_tags``); returns the root topic, the collector (the
    messages, for the ingest) and the states."""
    root = root_topic()
    collector = Collector(mosquitto.url, root).start()
    states = States()
    sink, publisher = uns_sink(mosquitto.url, root, states)
    pressure_deadband = options.pop("pressure_deadband", None)
    ready = ready or (lambda states: states.last("press-opcua") == (ConnectionState.CONNECTED, ""))

    async def main() -> None:
        server = PlantServer(free_port())
        await server.start({"Temperature": 20.0, "Pressure": 100.0})
        config = ConnectionConfig(
            name="press-opcua",
            protocol=Protocol.OPCUA,
            endpoint=server.endpoint,
            tags=_tags(server, path, pressure_deadband=pressure_deadband) + tuple(extra_tags),
            sampling_interval_ms=50,
            timeout_s=1.0,
            **options,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(OpcUaConnection(config, sink).run(stop))
        try:
            await until(lambda: ready(states))
            await scenario(server, collector, states)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            await server.stop()

    try:
        asyncio.run(main())
    finally:
        publisher.stop()
        collector.stop()
    return root, collector, states


def _ingest(settings, root: str, collector: Collector) -> None:
    settings.MQTT_UNS_ROOT = root
    messages = [m for m in collector.uns_messages() if not m[0].startswith(f"{root}/_state")]
    ingest_uns_batch(batch_id=str(uuid.uuid4()), published_at=datetime.now(UTC), messages=messages)


def _stored(signal) -> list[tuple[datetime, float | None, int]]:
    return list(
        Reading.objects.filter(signal=signal).order_by("ts").values_list("ts", "value", "quality")
    )


def test_a_value_change_is_stored_with_the_server_timestamp(signals, mosquitto, settings):
    telemetry, _pressure = signals
    changed_at = ms_now(-5)

    async def scenario(server, collector, states):
        await until(lambda: len(collector.readings("temperature")) == 1)  # the initial value
        await server.write("Temperature", 23.25, changed_at)
        await until(lambda: len(collector.readings("temperature")) == 2)

    root, collector, _states = _run(scenario, mosquitto, telemetry.path)
    _ingest(settings, root, collector)

    rows = _stored(telemetry.temperature)
    assert len(rows) == 2
    assert rows[0] == (changed_at, 23.25, 192)  # stamped by the server: before the initial value


def test_a_bad_status_is_stored_as_bad_without_a_value(signals, mosquitto, settings):
    telemetry, _pressure = signals
    failed_at = ms_now(-3)

    async def scenario(server, collector, states):
        await until(lambda: len(collector.readings("temperature")) == 1)
        await server.write_bad("Temperature", failed_at)
        await until(lambda: len(collector.readings("temperature")) == 2)

    root, collector, _states = _run(scenario, mosquitto, telemetry.path)
    _ingest(settings, root, collector)

    assert _stored(telemetry.temperature)[0] == (failed_at, None, 0)
    assert collector.readings("temperature")[-1] == {
        "ts": round(failed_at.timestamp() * 1000),
        "value": None,
        "quality": 0,
    }


def test_changes_inside_the_deadband_are_not_published(signals, mosquitto, settings):
    telemetry, _pressure = signals

    async def scenario(server, collector, states):
        await until(lambda: len(collector.readings("temperature")) == 1)
        await server.write("Temperature", 20.3, ms_now(-4))  # within 0.5 of 20.0
        await server.write("Temperature", 21.0, ms_now(-3))
        await until(lambda: len(collector.readings("temperature")) == 2)
        await server.write("Pressure", 100.4, ms_now(-2))  # the tag's own deadband: 0.1
        await until(lambda: len(collector.readings("pressure")) == 2)

    _root, collector, _states = _run(
        scenario, mosquitto, telemetry.path, deadband=0.5, pressure_deadband=0.1
    )

    assert [reading["value"] for reading in collector.readings("temperature")] == [20.0, 21.0]
    assert [reading["value"] for reading in collector.readings("pressure")] == [100.0, 100.4]


def test_the_connector_reconnects_after_the_server_restarts(signals, mosquitto, settings):
    telemetry, _pressure = signals
    changed_at = ms_now(-2)

    async def scenario(server, collector, states):
        await until(lambda: len(collector.readings("temperature")) == 1)
        await server.stop()
        await until(lambda: states.last("press-opcua")[0] is ConnectionState.DISCONNECTED)
        await server.start({"Temperature": 30.0, "Pressure": 100.0})
        await until(lambda: states.last("press-opcua") == (ConnectionState.CONNECTED, ""))
        await server.write("Temperature", 31.5, changed_at)
        await until(lambda: any(r["value"] == 31.5 for r in collector.readings("temperature")))

    root, collector, states = _run(scenario, mosquitto, telemetry.path)
    _ingest(settings, root, collector)

    assert (changed_at, 31.5, 192) in _stored(telemetry.temperature)
    history = [state for name, state, _reason in states.history if name == "press-opcua"]
    assert history.count(ConnectionState.CONNECTED) == 2
    assert ConnectionState.DISCONNECTED in history


def test_an_unknown_node_degrades_the_connection_and_the_others_keep_flowing(signals, mosquitto):
    telemetry, _pressure = signals
    missing = TagConfig(telemetry.path, "program", "ns=2;s=NoSuchNode")

    async def scenario(server, collector, states):
        await until(lambda: len(collector.readings("temperature")) == 1)

    def degraded(states) -> bool:
        last = states.last("press-opcua")
        return last is not None and last[0] is ConnectionState.DEGRADED

    _root, collector, states = _run(
        scenario, mosquitto, telemetry.path, extra_tags=(missing,), ready=degraded
    )

    reasons = [
        reason for _name, state, reason in states.history if state is ConnectionState.DEGRADED
    ]
    assert reasons == ["ns=2;s=NoSuchNode: BadNodeIdUnknown"]
    assert collector.readings("program") == []
    assert [reading["value"] for reading in collector.readings("temperature")] == [20.0]
