"""``python -m connectors.edge``: the vibration edge agent on a gateway beside the sensor.

    arecord -D hw:1 -f FLOAT_LE -r 10000 -c 1 -t raw \\
      | python -m connectors.edge --equipment-path acme/plant1/machining/line1/cell1/spindle1 \\
          --format f32le --sample-rate 10000 --buffer /var/lib/mes-edge/buffer.sqlite

Reads samples from ``--source`` (a file, or ``-`` for stdin), publishes the window features at
1 Hz through a store-and-forward buffer on disk (docs/connectors.md, "The edge agent"). No
Django. The broker: ``--mqtt-url`` or ``MQTT_URL`` (credentials and TLS files from the same
variables as every MQTT client of the MES). At the end of the input it sends what is buffered
(up to ``--drain-timeout-s``) and exits; SIGTERM/SIGINT stop it the same way."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from connectors.run import broker_address
from connectors.runtime.edge.agent import (
    SAMPLE_FORMATS,
    EdgeAgent,
    FeatureAccumulator,
    read_samples,
)
from connectors.runtime.edge.buffer import DiskBuffer
from connectors.runtime.edge.forwarder import StoreAndForward
from maintenance.algorithms.signal import FeatureSettings
from workers.mqtt.uns import parse_timestamp


class Stopped(Exception):
    pass


def _stop(signum, frame) -> None:
    raise Stopped


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m connectors.edge", description=__doc__)
    parser.add_argument("--equipment-path", required=True, help="enterprise/site/…/equipment")
    parser.add_argument("--source", default="-", help="sample file, or - for stdin")
    parser.add_argument("--format", choices=SAMPLE_FORMATS, default="text")
    parser.add_argument("--sample-rate", type=float, default=10_000.0, help="Hz")
    parser.add_argument("--window", type=int, default=1024, help="samples per window")
    parser.add_argument("--period-s", type=float, default=1.0, help="report period")
    parser.add_argument("--start", help="time of the first sample (RFC 3339); default: now")
    parser.add_argument("--realtime", action="store_true", help="pace a file at its own rate")
    parser.add_argument("--buffer", default="edge-buffer.sqlite", help="the on-disk queue")
    parser.add_argument("--buffer-max-messages", type=int, default=1_000_000)
    parser.add_argument("--buffer-max-age-s", type=float, default=7 * 86400)
    parser.add_argument("--drain-timeout-s", type=float, default=30.0)
    parser.add_argument("--mqtt-url", default=os.environ.get("MQTT_URL", "mqtt://localhost:1883"))
    parser.add_argument("--uns-root", default=os.environ.get("MQTT_UNS_ROOT", ""))
    parser.add_argument("--client-id", help="MQTT client id (default: a random one)")
    parser.add_argument("--log-level", default="INFO")
    arguments = parser.parse_args(argv)
    logging.basicConfig(
        level=arguments.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        address = broker_address(arguments.mqtt_url)
        start = parse_timestamp(arguments.start) if arguments.start else datetime.now(UTC)
        settings = FeatureSettings(
            sample_rate_hz=arguments.sample_rate, window_length=arguments.window
        )
        accumulator = FeatureAccumulator(
            settings, start_ms=round(start.timestamp() * 1000), report_period_s=arguments.period_s
        )
        buffer = DiskBuffer(
            arguments.buffer,
            max_messages=arguments.buffer_max_messages,
            max_age_s=arguments.buffer_max_age_s,
        )
    except ValueError as error:
        print(f"edge agent: {error}", file=sys.stderr)
        return 2
    outbox = StoreAndForward(address, buffer, client_id=arguments.client_id).start()
    agent = EdgeAgent(outbox, accumulator, arguments.equipment_path.strip("/"), arguments.uns_root)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    started = time.monotonic()
    source = sys.stdin.buffer if arguments.source == "-" else open(arguments.source, "rb")  # noqa: SIM115
    try:
        for samples in read_samples(source, arguments.format):
            agent.process(samples)
            if arguments.realtime:
                ahead_s = accumulator.periods * arguments.period_s - (time.monotonic() - started)
                if ahead_s > 0:
                    time.sleep(ahead_s)
    except Stopped:
        pass
    finally:
        source.close()
        logging.getLogger("connectors.edge").info(
            "%d reports (%d periods skipped); sending %d buffered message(s)",
            agent.reports,
            accumulator.skipped,
            len(buffer),
        )
        outbox.drain(arguments.drain_timeout_s)
        outbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
