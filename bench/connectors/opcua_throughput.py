"""OPC UA connector throughput: value changes per second from asyncua's server into the UNS.

Run: .venv/bin/python -m bench.connectors.opcua_throughput [--servers K] [--nodes N] [--seconds S]

K server processes (asyncua) each hold N Double variables and rewrite all of them as fast as
they can, each write a new value with its own source timestamp (one Python server process
writes about 8,000 values/s: several are needed to load the connector). One connector process
runs one ``OpcUaConnection`` per server, each subscribed to all N (publishing interval 50 ms,
queue 100 per item), and publishes every change as a one-reading UNS message through paho to a
private Mosquitto. Measured over the last S seconds: changes
the connector received and published per second (``value changes/s into the UNS``), the
server's writes per second, and the connector's CPU (process time / wall time).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from asyncua import Server, ua

from connectors.runtime.config import ConnectionConfig, Protocol, TagConfig
from connectors.runtime.mqtt import MqttPublisher
from connectors.runtime.opcua import OpcUaConnection
from connectors.runtime.sink import ConnectionState, UnsSink
from tests.mosquitto import Mosquitto, free_port
from workers.mqtt.address import parse_broker_url

PATH = "acme/plant1/area/line/cell/press"


async def _serve(port: int, nodes: int, writes) -> None:
    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/bench/")
    namespace = await server.register_namespace("urn:mes:bench")
    variables = [
        await server.nodes.objects.add_variable(ua.NodeId(f"v{index}", namespace), f"v{index}", 0.0)
        for index in range(nodes)
    ]
    async with server:
        value = 0.0
        while True:
            value += 1.0
            now = datetime.now(UTC)
            for variable in variables:
                await server.write_attribute_value(
                    variable.nodeid,
                    ua.DataValue(ua.Variant(value, ua.VariantType.Double), SourceTimestamp=now),
                )
            writes.value += nodes
            await asyncio.sleep(0)


def serve(port: int, nodes: int, writes) -> None:
    asyncio.run(_serve(port, nodes, writes))


class CountingPublisher:
    def __init__(self, publisher: MqttPublisher) -> None:
        self.publisher = publisher
        self.count = 0

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self.count += 1
        self.publisher.publish(topic, payload, retain=retain)


async def _measure(ports: list[int], nodes: int, seconds: float, broker_url: str, writes) -> dict:
    publisher = MqttPublisher(parse_broker_url(broker_url)).start()
    counting = CountingPublisher(publisher)
    sink = UnsSink(counting, "bench")
    connections = [
        OpcUaConnection(
            ConnectionConfig(
                name=f"bench{server}",
                protocol=Protocol.OPCUA,
                endpoint=f"opc.tcp://127.0.0.1:{port}/bench/",
                tags=tuple(
                    TagConfig(PATH, f"s{server}v{index}", f"ns=2;s=v{index}")
                    for index in range(nodes)
                ),
                sampling_interval_ms=50,
                timeout_s=5,
            ),
            sink,
        )
        for server, port in enumerate(ports)
    ]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(connection.run(stop)) for connection in connections]
    for server in range(len(ports)):
        while sink.last_state(f"bench{server}") != (ConnectionState.CONNECTED, ""):
            await asyncio.sleep(0.1)
    await asyncio.sleep(2)  # warm-up

    def received() -> int:
        return sum(connection.value_count for connection in connections)

    def written() -> int:
        return sum(counter.value for counter in writes)

    start_values, start_writes, start_published = received(), written(), counting.count
    start_wall, start_cpu = time.monotonic(), time.process_time()
    await asyncio.sleep(seconds)
    wall = time.monotonic() - start_wall
    cpu = time.process_time() - start_cpu
    result = {
        "changes_per_s": (received() - start_values) / wall,
        "published_per_s": (counting.count - start_published) / wall,
        "server_writes_per_s": (written() - start_writes) / wall,
        "connector_cpu_share": cpu / wall,
        "sessions": sum(connection.sessions for connection in connections),
    }
    stop.set()
    await asyncio.gather(*tasks)
    publisher.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        broker = Mosquitto(Path(directory), limits={"max_queued_messages": 1000}).start()
        ports = [free_port() for _server in range(arguments.servers)]
        writes = [multiprocessing.Value("q", 0, lock=False) for _port in ports]
        servers = [
            multiprocessing.Process(target=serve, args=(port, arguments.nodes, counter))
            for port, counter in zip(ports, writes, strict=True)
        ]
        for server in servers:
            server.start()
        try:
            time.sleep(3)
            result = asyncio.run(
                _measure(ports, arguments.nodes, arguments.seconds, broker.url, writes)
            )
        finally:
            for server in servers:
                server.terminate()
                server.join()
            broker.stop()
    print(
        f"OPC UA, {arguments.servers} servers × {arguments.nodes} nodes, {arguments.seconds:g} s: "
        f"{result['changes_per_s']:,.0f} value changes/s received, "
        f"{result['published_per_s']:,.0f}/s published into the UNS "
        f"(servers wrote {result['server_writes_per_s']:,.0f}/s), "
        f"connector CPU {result['connector_cpu_share']:.0%} of one core, "
        f"{result['sessions']} session(s)"
    )


if __name__ == "__main__":
    main()
