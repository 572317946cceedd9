"""Runs every configured connection in one asyncio loop until ``stop`` is set.

Each connection is a driver (``opcua.OpcUaConnection``, ``modbus.ModbusConnection``) whose
``run(stop)`` keeps reconnecting by itself and never raises for a device's fault: a refused
certificate, a lost server, a Modbus exception code or a timeout becomes the connection's state
with its reason (``ReadingSink.state``), and the other connections carry on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol as TypingProtocol

from connectors.runtime.config import ConnectionConfig, ConnectorsConfig, Protocol
from connectors.runtime.modbus import ModbusConnection
from connectors.runtime.opcua import OpcUaConnection
from connectors.runtime.sink import ConnectionState, ReadingSink

logger = logging.getLogger("connectors")


class Driver(TypingProtocol):
    async def run(self, stop: asyncio.Event) -> None: ...


DRIVERS: dict[Protocol, Callable[[ConnectionConfig, ReadingSink], Driver]] = {
    Protocol.OPCUA: OpcUaConnection,
    Protocol.MODBUS: ModbusConnection,
}


async def _guarded(connection: ConnectionConfig, driver: Driver, sink: ReadingSink, stop) -> None:
    try:
        await driver.run(stop)
    except asyncio.CancelledError:
        raise
    except Exception as error:  # a driver bug must not stop the other connections
        logger.exception("connection %s stopped on an unexpected error", connection.name)
        sink.state(connection.name, ConnectionState.STOPPED, f"internal error: {error!r}"[:300])
        return
    sink.state(connection.name, ConnectionState.STOPPED, "")


async def connectors_run(config: ConnectorsConfig, sink: ReadingSink, stop: asyncio.Event) -> None:
    """Run the connections of ``config`` until ``stop`` is set."""
    tasks = [
        asyncio.create_task(
            _guarded(connection, DRIVERS[connection.protocol](connection, sink), sink, stop),
            name=f"connection-{connection.name}",
        )
        for connection in config.connections
    ]
    if not tasks:
        logger.warning("no connection is configured")
    await stop.wait()
    await asyncio.gather(*tasks, return_exceptions=True)
