"""``python manage.py connect``: run the OPC UA and Modbus TCP connections configured in the
admin (Connectors › Connections), publishing into the UNS; ``--export FILE`` writes the same
configuration for ``python -m connectors.run --config FILE`` on a gateway without a database.

Each connection's state (connected, degraded, disconnected with the reason) is recorded on
the Connection and shown in the admin. SIGTERM/SIGINT stop it (exit 0)."""

from __future__ import annotations

import logging
import queue
import threading
from datetime import datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from connectors.run import serve
from connectors.runtime.config import config_dump
from connectors.runtime.sink import ConnectionState
from connectors.services import connection_state_record, connectors_config_build
from workers.mqtt.address import broker_address_from_settings

logger = logging.getLogger("connectors")


class StateRecorder:
    """Writes the runtime's state changes to the database from a thread of its own (the
    runtime calls back from its event loop, where the ORM must not block)."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[str, ConnectionState, str, datetime] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="connector-states", daemon=True)

    def __call__(self, name: str, state: ConnectionState, reason: str, at: datetime) -> None:
        self._queue.put((name, state, reason, at))

    def start(self) -> StateRecorder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            name, state, reason, at = item
            try:
                close_old_connections()
                connection_state_record(name=name, state=state, reason=reason, at=at)
            except Exception:
                logger.exception("recording the state of connection %s failed", name)


class Command(BaseCommand):
    help = "Run the OPC UA / Modbus TCP connections of the admin, or export them (--export)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--export", metavar="FILE", help="Write the configuration to FILE and exit."
        )
        parser.add_argument(
            "--connection",
            action="append",
            metavar="NAME",
            help="Only this connection, enabled or not (repeatable). Default: every enabled one.",
        )
        parser.add_argument("--client-id", help="MQTT client id (default: a random one).")

    def handle(self, *args, **options) -> None:
        try:
            config = connectors_config_build(names=options["connection"])
            address = broker_address_from_settings(settings)
        except ValueError as error:
            raise CommandError(str(error)) from None
        if options["export"]:
            config_dump(config, options["export"])
            self.stdout.write(
                f"{len(config.connections)} connection(s) written to {options['export']}"
            )
            return
        recorder = StateRecorder().start()
        try:
            serve(config, address, on_state=recorder, client_id=options["client_id"])
        finally:
            recorder.stop()
