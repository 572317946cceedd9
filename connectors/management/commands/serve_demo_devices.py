"""``python manage.py serve_demo_devices``: the demo plant's field devices — an OPC UA server
for the equipment of one line and a Modbus TCP server for one machine of another — with the
two Connections that read them (``demo-opcua``, ``demo-modbus``), so that ``manage.py
connect`` brings their values into the MES through each protocol. ``make run`` starts both.

Each equipment of the OPC UA line gets a ``hydraulic_pressure`` signal (bar); the Modbus
machine ``coolant_flow`` (l/min) and ``coolant_temperature`` (°C), float32 "CDAB". Ports:
``--opcua-port`` (default ``DEMO_OPCUA_PORT`` or 4840) and ``--modbus-port``
(``DEMO_MODBUS_PORT`` or 5020), on 127.0.0.1. SIGTERM/SIGINT stop it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket

from django.core.management.base import BaseCommand, CommandError

from connectors.run import quiet_libraries
from connectors.runtime.demo_devices import DemoValue, serve_demo_devices
from connectors.services import demo_connections_ensure
from production.models import Equipment

HOST = "127.0.0.1"
SET_POINTS = {
    "hydraulic_pressure": (180.0, 10.0, 0.5),
    "coolant_flow": (60.0, 5.0, 0.3),
    "coolant_temperature": (28.0, 2.0, 0.1),
}


def _value(key: str, signal_name: str) -> DemoValue:
    set_point, amplitude, noise = SET_POINTS[signal_name]
    return DemoValue(key, set_point, amplitude, noise)


def _port_free(setting: str, port: int) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as error:
            raise CommandError(
                f"{HOST}:{port} is taken ({error.strerror}): stop what listens there or pick "
                f"another port, e.g. {setting}={port + 1} make run"
            ) from None


class Command(BaseCommand):
    help = "Run the demo plant's OPC UA and Modbus TCP servers and configure their connections."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--opcua-port", type=int, default=int(os.environ.get("DEMO_OPCUA_PORT", "4840"))
        )
        parser.add_argument(
            "--modbus-port", type=int, default=int(os.environ.get("DEMO_MODBUS_PORT", "5020"))
        )
        parser.add_argument(
            "--configure-only",
            action="store_true",
            help="Create the demo connections, signals and tags, and exit (make run does this "
            "before it starts the connectors).",
        )

    def handle(self, *args, **options) -> None:
        equipment = list(Equipment.objects.select_related("cell__line").order_by("uns_path"))
        if not equipment:
            raise CommandError("no equipment: load the demo plant first (load_demo_plant)")
        first_line = equipment[0].cell.line_id
        opcua_equipment = [item for item in equipment if item.cell.line_id == first_line]
        others = [item for item in equipment if item.cell.line_id != first_line]
        modbus_equipment = others[0] if others else equipment[-1]
        opcua_endpoint = f"opc.tcp://{HOST}:{options['opcua_port']}/mes-demo/"
        node_names, value_names = demo_connections_ensure(
            opcua_equipment=opcua_equipment,
            modbus_equipment=modbus_equipment,
            opcua_endpoint=opcua_endpoint,
            modbus_endpoint=f"modbus://{HOST}:{options['modbus_port']}",
        )
        if options["configure_only"]:
            self.stdout.write("demo connections demo-opcua and demo-modbus configured")
            return
        for setting, port in (
            ("DEMO_OPCUA_PORT", options["opcua_port"]),
            ("DEMO_MODBUS_PORT", options["modbus_port"]),
        ):
            _port_free(setting, port)
        self.stdout.write(
            f"OPC UA server {opcua_endpoint}: {len(node_names)} values of line "
            f"{opcua_equipment[0].cell.line}; Modbus TCP {HOST}:{options['modbus_port']}: "
            f"{', '.join(value_names)} of {modbus_equipment.uns_path}"
        )

        quiet_libraries()

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop.set)
            await serve_demo_devices(
                stop,
                opcua_endpoint=opcua_endpoint,
                opcua_values=[_value(node, node.rsplit(".", 1)[1]) for node in node_names],
                modbus_host=HOST,
                modbus_port=options["modbus_port"],
                modbus_values=[_value(name, name) for name in value_names],
            )

        asyncio.run(main())
