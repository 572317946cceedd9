"""``python manage.py mqtt_bridge``: the MQTT → Celery bridge (UNS subscriber and Sparkplug B
host application in one process, each with its own MQTT client). docs/ingest.md describes it.

SIGTERM or SIGINT drains: the open batches are handed to Celery and acknowledged, the Sparkplug
host publishes its offline STATE, both clients disconnect, and the command exits 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from mes_site.celery import app
from mes_site.metrics import process_exited
from workers import selectors
from workers.bridge.publish import CeleryPublisher
from workers.bridge.sparkplug import SparkplugHost, SparkplugHostSettings
from workers.bridge.uns import UnsBridge, UnsBridgeSettings
from workers.mqtt.address import BrokerAddress, broker_address_from_settings
from workers.mqtt.sparkplug.session_model import SessionSettings
from workers.mqtt.uns import UnsDecoder

logger = logging.getLogger("workers.bridge")


class Command(BaseCommand):
    help = "Subscribe to the UNS (and run the Sparkplug B host) and hand batches to Celery."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--client-id",
            default=settings.MQTT_BRIDGE_CLIENT_ID,
            help="Fixed MQTT client id of the UNS subscriber (its persistent session). "
            "Give every bridge instance its own. Default: MQTT_BRIDGE_CLIENT_ID.",
        )
        parser.add_argument(
            "--shared",
            metavar="GROUP",
            default=None,
            help="Subscribe through the MQTT 5 shared subscription $share/GROUP/... so that "
            "several bridges split the UNS messages.",
        )
        parser.add_argument(
            "--uns",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="Run the UNS subscriber (default: yes).",
        )
        parser.add_argument(
            "--sparkplug",
            action=argparse.BooleanOptionalAction,
            default=settings.SPARKPLUG_HOST_ENABLED,
            help="Run the Sparkplug B host application (default: SPARKPLUG_HOST_ENABLED).",
        )
        parser.add_argument(
            "--sparkplug-host-id",
            default=settings.SPARKPLUG_HOST_ID,
            help="Sparkplug host id (STATE topic spBv1.0/STATE/<id>). Default: SPARKPLUG_HOST_ID.",
        )
        parser.add_argument(
            "--sparkplug-group",
            action="append",
            default=[],
            metavar="GROUP",
            help="A Sparkplug group this host owns (repeatable; default: SPARKPLUG_GROUPS, "
            "else the groups of the Sparkplug node mappings and <enterprise>_<site> of every "
            "site). Bridges that split Sparkplug traffic must split it by group, never by "
            "shared subscription.",
        )
        parser.add_argument(
            "--stats-interval",
            type=float,
            default=60.0,
            help="Seconds between log lines with throughput figures (0: never).",
        )

    def handle(self, *args, **options) -> None:
        if not options["uns"] and not options["sparkplug"]:
            raise CommandError("Nothing to run: both --no-uns and --no-sparkplug were given.")
        try:
            address = broker_address_from_settings(settings)
            address.tls_context()  # a file that is no certificate or key fails here, by name
        except ValueError as error:
            raise CommandError(str(error)) from None
        _check_reachable(address)
        publisher = CeleryPublisher(app, queue=settings.INGEST_QUEUE)
        stop = threading.Event()

        def request_stop(signum, frame) -> None:
            logger.info("signal %s: draining and stopping", signal.Signals(signum).name)
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)

        uns_bridge = None
        host = None
        if options["uns"]:
            decoder = UnsDecoder(root=settings.MQTT_UNS_ROOT)
            uns_bridge = UnsBridge(
                UnsBridgeSettings(
                    address=address,
                    client_id=options["client_id"],
                    topic_filters=decoder.subscriptions,
                    shared_group=options["shared"],
                    session_expiry_s=settings.MQTT_SESSION_EXPIRY_S,
                    receive_maximum=settings.MQTT_RECEIVE_MAXIMUM,
                    keepalive_s=settings.MQTT_KEEPALIVE_S,
                    batch_max_messages=settings.INGEST_BATCH_MAX_MESSAGES,
                    batch_max_wait_s=settings.INGEST_BATCH_MAX_WAIT_MS / 1000,
                    batch_max_bytes=settings.INGEST_BATCH_MAX_BYTES,
                    max_payload_bytes=settings.INGEST_MAX_PAYLOAD_BYTES,
                    excerpt_bytes=settings.INGEST_DEAD_LETTER_EXCERPT_BYTES,
                ),
                publisher.uns,
            )
        if options["sparkplug"]:
            group_ids = tuple(
                options["sparkplug_group"]
                or settings.SPARKPLUG_GROUPS
                or selectors.sparkplug_groups_known()
            )
            if not group_ids:
                logger.warning(
                    "the Sparkplug host owns no group: set SPARKPLUG_GROUPS or map a node "
                    "(admin: Workers › Sparkplug node mappings)"
                )
            try:
                host_settings = SparkplugHostSettings(
                    address=address,
                    host_id=options["sparkplug_host_id"],
                    group_ids=group_ids,
                    keepalive_s=settings.MQTT_KEEPALIVE_S,
                    batch_max_messages=settings.INGEST_BATCH_MAX_MESSAGES,
                    batch_max_wait_s=settings.INGEST_BATCH_MAX_WAIT_MS / 1000,
                    excerpt_bytes=settings.INGEST_DEAD_LETTER_EXCERPT_BYTES,
                    session=SessionSettings(reorder_timeout_s=settings.SPARKPLUG_REORDER_TIMEOUT_S),
                    defer_data_decoding=settings.SPARKPLUG_DEFER_DATA_DECODING,
                )
            except ValueError as error:
                raise CommandError(str(error)) from None
            host = SparkplugHost(host_settings, publisher.sparkplug)
        for component in (uns_bridge, host):
            if component is not None:
                component.start()
        interval_s = options["stats_interval"]
        last = time.monotonic()
        last_received = 0
        while not stop.wait(1.0):
            if uns_bridge is not None and interval_s > 0 and time.monotonic() - last >= interval_s:
                now = time.monotonic()
                received = uns_bridge.stats.received
                logger.info(
                    "UNS: %.0f messages/s, %d batches, %d waiting, %d acknowledged",
                    (received - last_received) / (now - last),
                    uns_bridge.stats.batches,
                    uns_bridge.pending,
                    uns_bridge.stats.acknowledged,
                )
                last, last_received = now, received
        drained = True
        if host is not None:
            drained = host.stop() and drained
        if uns_bridge is not None:
            drained = uns_bridge.stop() and drained
        if not drained:
            logger.warning("stopped before every received message was handed on")
        process_exited(os.getpid())  # its connection gauges stop counting
        logger.info("bridge stopped")


def _check_reachable(address: BrokerAddress) -> None:
    try:
        with socket.create_connection((address.host, address.port), timeout=5):
            pass
    except OSError as error:
        logger.warning(
            "the MQTT broker at %s does not answer (%s); the bridge keeps retrying. Start it "
            "with: mosquitto -p %d (or set MQTT_URL)",
            address,
            error,
            address.port,
        )
