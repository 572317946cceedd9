"""``python -m connectors.run --config connectors.json``: the connectors without Django.

For a gateway beside the PLCs that has no database: the file is what
``python manage.py connect --export connectors.json`` writes (docs/connectors.md). The broker
comes from the file (``mqtt_url``) unless ``--mqtt-url`` or ``MQTT_URL`` says otherwise;
``MQTT_USERNAME``/``MQTT_PASSWORD`` and ``MQTT_CA_FILE``/``MQTT_CERT_FILE``/``MQTT_KEY_FILE``
as for every MQTT client of the MES. SIGTERM/SIGINT stop it cleanly (exit 0); a bad file
exits 2 with the reason."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

from connectors.runtime.config import ConnectorsConfig, config_load
from connectors.runtime.mqtt import MqttPublisher
from connectors.runtime.runner import connectors_run
from connectors.runtime.sink import StateCallback, UnsSink
from workers.mqtt.address import BrokerAddress, parse_broker_url


def broker_address(url: str) -> BrokerAddress:
    return parse_broker_url(
        url,
        username=os.environ.get("MQTT_USERNAME"),
        password=os.environ.get("MQTT_PASSWORD"),
        ca_file=os.environ.get("MQTT_CA_FILE"),
        cert_file=os.environ.get("MQTT_CERT_FILE"),
        key_file=os.environ.get("MQTT_KEY_FILE"),
    )


def quiet_libraries() -> None:
    """asyncua and pymodbus log every request at INFO; the connectors log what matters."""
    for name in ("asyncua", "pymodbus"):
        logging.getLogger(name).setLevel(logging.WARNING)


def serve(
    config: ConnectorsConfig,
    address: BrokerAddress,
    *,
    on_state: StateCallback | None = None,
    client_id: str | None = None,
) -> None:
    """Run the connectors until SIGTERM/SIGINT (blocking)."""
    quiet_libraries()
    publisher = MqttPublisher(address, client_id=client_id).start()
    sink = UnsSink(publisher, config.uns_root, config.state_topic, on_state)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await connectors_run(config, sink, stop)

    try:
        asyncio.run(main())
    finally:
        publisher.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m connectors.run", description=__doc__)
    parser.add_argument("--config", required=True, help="the exported configuration (JSON)")
    parser.add_argument("--mqtt-url", help="the broker (default: the file's, or MQTT_URL)")
    parser.add_argument("--client-id", help="MQTT client id (default: a random one)")
    parser.add_argument("--log-level", default="INFO")
    arguments = parser.parse_args(argv)
    logging.basicConfig(
        level=arguments.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = config_load(arguments.config)
        address = broker_address(
            arguments.mqtt_url or os.environ.get("MQTT_URL") or config.mqtt_url
        )
    except ValueError as error:
        print(f"connectors: {error}", file=sys.stderr)
        return 2
    serve(config, address, client_id=arguments.client_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
