"""Field devices of the demo plant: an OPC UA server (asyncua) and a Modbus TCP server
(pymodbus) whose process values move like real ones, so that part of the demo plant comes
into the MES through each protocol (``python manage.py serve_demo_devices``; ``make run``
starts it with ``python manage.py connect``).

OPC UA: one Double variable per (equipment, signal), node id ``ns=2;s=<equipment code>.<signal>``.
Modbus: float32 values in holding registers, word order little ("CDAB", as many meters), two
registers per value from address 0. Values: a slow sine around a set point plus noise, every
``period_s``; the OPC UA values carry the server's timestamp of the change."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import numpy as np
from asyncua import Server, ua
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType as SimType
from pymodbus.simulator import SimData, SimDevice

from connectors.runtime.config import ByteOrder, DataType
from connectors.runtime.registers import value_encode
from connectors.runtime.waiting import wait_unless_stopped

NAMESPACE_URI: Final = "urn:mes:demo:field-devices"
MODBUS_WORD_ORDER: Final = ByteOrder.LITTLE
MODBUS_UNIT: Final = 1


@dataclass(frozen=True)
class DemoValue:
    """One simulated process value: ``key`` names the node (OPC UA) or its register pair."""

    key: str
    set_point: float
    amplitude: float
    noise: float
    period_s: float = 300.0

    def at(self, t_s: float, rng: np.random.Generator) -> float:
        wave = self.amplitude * math.sin(2 * math.pi * t_s / self.period_s)
        return round(self.set_point + wave + float(rng.normal(0, self.noise)), 3)


def modbus_address(index: int) -> int:
    """The first holding register of the ``index``-th Modbus value."""
    return 2 * index


async def serve_demo_devices(
    stop: asyncio.Event,
    *,
    opcua_endpoint: str,
    opcua_values: list[DemoValue],
    modbus_host: str,
    modbus_port: int,
    modbus_values: list[DemoValue],
    period_s: float = 1.0,
    seed: int = 7,
) -> None:
    """Run both servers until ``stop``; values change every ``period_s``."""
    rng = np.random.default_rng(seed)
    server = Server()
    await server.init()
    server.set_endpoint(opcua_endpoint)
    server.set_server_name("MES demo field devices")
    namespace = await server.register_namespace(NAMESPACE_URI)
    folder = await server.nodes.objects.add_folder(namespace, "Plant")
    variables = {
        value.key: await folder.add_variable(
            ua.NodeId(value.key, namespace), value.key, value.set_point
        )
        for value in opcua_values
    }
    device = SimDevice(
        id=MODBUS_UNIT,
        simdata=(
            [SimData(0, count=8, values=False, datatype=SimType.BITS)],
            [SimData(0, count=8, values=False, datatype=SimType.BITS)],
            [
                SimData(
                    0,
                    count=max(2 * len(modbus_values), 2),
                    values=0,
                    datatype=SimType.REGISTERS,
                )
            ],
            [SimData(0, count=8, values=0, datatype=SimType.REGISTERS)],
        ),
    )
    modbus = ModbusTcpServer(device, address=(modbus_host, modbus_port))
    started = asyncio.get_running_loop().time()
    async with server:
        await modbus.serve_forever(background=True)
        try:
            while True:
                t_s = asyncio.get_running_loop().time() - started
                now = datetime.now(UTC)
                for value in opcua_values:
                    await server.write_attribute_value(
                        variables[value.key].nodeid,
                        ua.DataValue(
                            ua.Variant(value.at(t_s, rng), ua.VariantType.Double),
                            SourceTimestamp=now,
                            ServerTimestamp=now,
                        ),
                    )
                for index, value in enumerate(modbus_values):
                    registers = value_encode(
                        value.at(t_s, rng), DataType.FLOAT32, word_order=MODBUS_WORD_ORDER
                    )
                    await modbus.async_setValues(MODBUS_UNIT, 3, modbus_address(index), registers)
                if await wait_unless_stopped(stop, period_s):
                    break
        finally:
            await modbus.shutdown()
