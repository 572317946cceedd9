"""Modbus connector CPU: N holding registers polled at 10 Hz.

Run: .venv/bin/python -m bench.connectors.modbus_polling [--registers N] [--seconds S]
     [--changing]

pymodbus's server runs in its own process with N holding registers (int16 tags, one per
register); the connector (``connectors.runtime.modbus.ModbusConnection``) polls them every
100 ms — N / 125 requests per poll, planned by ``registers.read_plan`` — and publishes changes
as UNS messages to a private Mosquitto. With ``--changing`` the server rewrites every register
each 100 ms, so every tag is published on every poll. Reported: polls per second and the
connector process's CPU (process time / wall time) as a share of one core.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import time
from pathlib import Path

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType as SimType
from pymodbus.simulator import SimData, SimDevice

from connectors.runtime.config import ConnectionConfig, Protocol, TagConfig
from connectors.runtime.modbus import ModbusConnection
from connectors.runtime.mqtt import MqttPublisher
from connectors.runtime.sink import ConnectionState, UnsSink
from tests.mosquitto import HOST, Mosquitto, free_port
from workers.mqtt.address import parse_broker_url

PATH = "acme/plant1/area/line/cell/press"


async def _serve(port: int, registers: int, is_changing: bool) -> None:
    device = SimDevice(
        id=1,
        simdata=(
            [SimData(0, count=8, values=False, datatype=SimType.BITS)],
            [SimData(0, count=8, values=False, datatype=SimType.BITS)],
            [SimData(0, count=registers, values=0, datatype=SimType.REGISTERS)],
            [SimData(0, count=8, values=0, datatype=SimType.REGISTERS)],
        ),
    )
    server = ModbusTcpServer(device, address=(HOST, port))
    await server.serve_forever(background=True)
    value = 0
    while True:
        await asyncio.sleep(0.1)
        if is_changing:
            value = (value + 1) % 30000
            for start in range(0, registers, 100):
                count = min(100, registers - start)
                await server.async_setValues(1, 3, start, [value] * count)


def serve(port: int, registers: int, is_changing: bool) -> None:
    asyncio.run(_serve(port, registers, is_changing))


async def _measure(port: int, registers: int, seconds: float, broker_url: str) -> dict:
    publisher = MqttPublisher(parse_broker_url(broker_url)).start()
    sink = UnsSink(publisher, "bench")
    connection = ModbusConnection(
        ConnectionConfig(
            name="bench",
            protocol=Protocol.MODBUS,
            endpoint=f"modbus://{HOST}:{port}",
            tags=tuple(TagConfig(PATH, f"r{index}", str(index)) for index in range(registers)),
            sampling_interval_ms=100,
            max_requests_per_s=200,
            timeout_s=2,
        ),
        sink,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(connection.run(stop))
    while sink.last_state("bench") != (ConnectionState.CONNECTED, ""):
        await asyncio.sleep(0.1)
    await asyncio.sleep(2)
    polls, requests = connection.poll_count, connection.request_count
    start_wall, start_cpu = time.monotonic(), time.process_time()
    await asyncio.sleep(seconds)
    wall = time.monotonic() - start_wall
    cpu = time.process_time() - start_cpu
    result = {
        "polls_per_s": (connection.poll_count - polls) / wall,
        "requests_per_s": (connection.request_count - requests) / wall,
        "cpu_share": cpu / wall,
        "state": sink.last_state("bench"),
    }
    stop.set()
    await task
    publisher.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--registers", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--changing", action="store_true")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        broker = Mosquitto(Path(directory)).start()
        port = free_port()
        server = multiprocessing.Process(
            target=serve, args=(port, arguments.registers, arguments.changing)
        )
        server.start()
        try:
            time.sleep(2)
            result = asyncio.run(_measure(port, arguments.registers, arguments.seconds, broker.url))
        finally:
            server.terminate()
            server.join()
            broker.stop()
    print(
        f"Modbus, {arguments.registers} registers at 10 Hz"
        f"{' (all changing)' if arguments.changing else ''}, {arguments.seconds:g} s: "
        f"{result['polls_per_s']:.1f} polls/s, {result['requests_per_s']:.0f} requests/s, "
        f"connector CPU {result['cpu_share']:.1%} of one core ({result['state'][0]})"
    )


if __name__ == "__main__":
    main()
