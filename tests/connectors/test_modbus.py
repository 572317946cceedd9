"""The Modbus TCP connector against pymodbus's own server on a free port, publishing through
the session's Mosquitto, and the real UNS ingest storing what it published."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType as SimType
from pymodbus.simulator import SimData, SimDevice

from connectors.runtime.config import (
    ByteOrder,
    ConnectionConfig,
    DataType,
    Protocol,
    RegisterKind,
    TagConfig,
)
from connectors.runtime.modbus import ModbusConnection
from connectors.runtime.registers import value_encode
from connectors.runtime.sink import ConnectionState
from tests.connectors.harness import Collector, States, root_topic, uns_sink, until
from tests.mosquitto import HOST, free_port
from workers.ingest.uns import ingest_uns_batch
from workers.models import Reading

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(120)]

UNIT = 1
HOLDING, INPUT, COIL = 3, 4, 1  # function codes that name the blocks of the server


class Device:
    """pymodbus's server: 200 holding and input registers, 100 coils; restartable."""

    def __init__(self) -> None:
        self.port = free_port()
        self.server: ModbusTcpServer | None = None

    async def start(self) -> None:
        device = SimDevice(
            id=UNIT,
            simdata=(
                [SimData(0, count=100, values=False, datatype=SimType.BITS)],
                [SimData(0, count=100, values=False, datatype=SimType.BITS)],
                [SimData(0, count=200, values=0, datatype=SimType.REGISTERS)],
                [SimData(0, count=200, values=0, datatype=SimType.REGISTERS)],
            ),
        )
        self.server = ModbusTcpServer(device, address=(HOST, self.port))
        await self.server.serve_forever(background=True)

    async def set(self, function_code: int, address: int, values) -> None:
        await self.server.async_setValues(UNIT, function_code, address, values)

    async def set_float(self, address: int, value: float, word_order: ByteOrder) -> None:
        registers = value_encode(value, DataType.FLOAT32, word_order=word_order)
        await self.set(HOLDING, address, registers)

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.shutdown()
            self.server = None


@pytest.fixture
def signals(telemetry):
    from production.models import Signal

    Signal.objects.create(equipment=telemetry.equipment, name="pressure", unit="bar")
    Signal.objects.create(equipment=telemetry.equipment, name="speed", unit="rpm")
    return telemetry


def _tags(path: str) -> tuple[TagConfig, ...]:
    return (
        TagConfig(path, "temperature", "10", data_type=DataType.FLOAT32),  # ABCD
        TagConfig(path, "pressure", "20", data_type=DataType.FLOAT32, word_order=ByteOrder.LITTLE),
        TagConfig(
            path,
            "speed",
            "5",
            register_kind=RegisterKind.INPUT,
            data_type=DataType.INT16,
            scale=0.5,
        ),
        TagConfig(path, "running", "3", register_kind=RegisterKind.COIL, data_type=DataType.BOOL),
    )


def _run(scenario, mosquitto, tags, *, prepare=None, **options):
    root = root_topic()
    collector = Collector(mosquitto.url, root).start()
    states = States()
    sink, publisher = uns_sink(mosquitto.url, root, states)

    async def main() -> None:
        device = Device()
        await device.start()
        if prepare is not None:
            await prepare(device)
        config = ConnectionConfig(
            name="press-modbus",
            protocol=Protocol.MODBUS,
            endpoint=f"modbus://{HOST}:{device.port}",
            tags=tuple(tags),
            sampling_interval_ms=20,
            max_requests_per_s=1000,
            timeout_s=0.5,
            retries=1,
            **options,
        )
        connection = ModbusConnection(config, sink)
        stop = asyncio.Event()
        task = asyncio.create_task(connection.run(stop))
        try:
            await scenario(device, collector, states)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            await device.stop()

    try:
        asyncio.run(main())
    finally:
        publisher.stop()
        collector.stop()
    return root, collector, states


def _ingest(settings, root: str, collector: Collector) -> None:
    settings.MQTT_UNS_ROOT = root
    messages = [m for m in collector.uns_messages() if "/_state/" not in m[0]]
    ingest_uns_batch(batch_id=str(uuid.uuid4()), published_at=datetime.now(UTC), messages=messages)


def _values(signal_name: str) -> list[tuple[float | None, int]]:
    return list(
        Reading.objects.filter(signal__name=signal_name)
        .order_by("ts")
        .values_list("value", "quality")
    )


def test_float32_in_both_word_orders_ints_scaling_and_coils_are_stored(
    signals, mosquitto, settings
):
    async def prepare(device):
        await device.set_float(10, 12.5, ByteOrder.BIG)
        await device.set_float(20, -3.75, ByteOrder.LITTLE)
        await device.set(INPUT, 5, [1500])
        await device.set(COIL, 3, [True])

    async def scenario(device, collector, states):
        await until(lambda: len(collector.readings("running")) == 1)
        await device.set_float(20, 7.25, ByteOrder.LITTLE)
        await until(lambda: len(collector.readings("pressure")) == 2)

    root, collector, states = _run(scenario, mosquitto, _tags(signals.path), prepare=prepare)
    _ingest(settings, root, collector)

    assert _values("temperature") == [(12.5, 192)]
    assert _values("pressure") == [(-3.75, 192), (7.25, 192)]
    assert _values("speed") == [(750.0, 192)]
    assert _values("running") == [(1.0, 192)]
    assert states.last("press-modbus") == (ConnectionState.CONNECTED, "")


def test_an_exception_code_degrades_the_connection_with_its_reason(signals, mosquitto, settings):
    tags = (*_tags(signals.path), TagConfig(signals.path, "program", "500"))  # beyond the device

    def degraded(states) -> bool:
        last = states.last("press-modbus")
        return last is not None and last[0] is ConnectionState.DEGRADED

    async def scenario(device, collector, states):
        await until(lambda: degraded(states) and len(collector.readings("temperature")) == 1)

    _root, collector, states = _run(scenario, mosquitto, tags)

    reasons = {reason for _n, state, reason in states.history if state is ConnectionState.DEGRADED}
    assert reasons == {"holding 500..500: exception code 2 (illegal data address)"}
    assert collector.readings("program")[0]["quality"] == 0  # marked bad once, no value
    assert len(collector.readings("program")) == 1
    assert collector.readings("temperature")[0]["value"] == 0.0  # the other tags flow


def test_the_connector_reconnects_after_the_server_restarts(signals, mosquitto, settings):
    async def scenario(device, collector, states):
        await until(lambda: len(collector.readings("temperature")) == 1)
        await device.stop()
        await until(lambda: states.last("press-modbus")[0] is ConnectionState.DISCONNECTED)
        await device.start()
        await device.set_float(10, 99.5, ByteOrder.BIG)
        await until(lambda: any(r["value"] == 99.5 for r in collector.readings("temperature")))

    root, collector, states = _run(scenario, mosquitto, _tags(signals.path))
    _ingest(settings, root, collector)

    assert _values("temperature") == [(0.0, 192), (None, 0), (99.5, 192)]
    history = [state for name, state, _reason in states.history if name == "press-modbus"]
    assert history.count(ConnectionState.CONNECTED) == 2


async def _silent_device(reader, writer) -> None:
    """Accepts a connection and never answers."""
    await reader.read(1 << 16)
    await asyncio.sleep(3600)


def test_a_device_that_does_not_answer_is_disconnected_with_the_reason(signals, mosquitto):
    root = root_topic()
    states = States()
    sink, publisher = uns_sink(mosquitto.url, root, states)

    async def main() -> None:
        port = free_port()
        server = await asyncio.start_server(_silent_device, HOST, port)
        config = ConnectionConfig(
            name="silent",
            protocol=Protocol.MODBUS,
            endpoint=f"modbus://{HOST}:{port}",
            tags=_tags(signals.path)[:1],
            timeout_s=0.2,
            retries=1,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(ModbusConnection(config, sink).run(stop))
        try:
            await until(
                lambda: (states.last("silent") or (None,))[0] is ConnectionState.DISCONNECTED
            )
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            server.close()

    try:
        asyncio.run(main())
    finally:
        publisher.stop()

    reason = next(
        reason for _name, state, reason in states.history if state is ConnectionState.DISCONNECTED
    )
    assert reason == "holding 10..11: no answer within 0.2 s"
