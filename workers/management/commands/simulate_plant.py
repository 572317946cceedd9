"""``python manage.py simulate_plant``: the demo plant publishing real MQTT telemetry.

docs/simulator.md describes the topics, payloads and options.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import signal
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from workers.mqtt.address import broker_address_from_settings
from workers.simulator.edge_agent import DegradationSettings
from workers.simulator.model import OrderSpec, PlantSpec
from workers.simulator.publisher import (
    SimulatorConnectionError,
    SimulatorPublisher,
)
from workers.simulator.selectors import dispatched_order_list, plant_spec_load
from workers.simulator.sensor_drift import DEFAULT_DRIFTING_PROBE, ProbeDriftSettings
from workers.simulator.simulation import (
    EXTRA_SIGNAL_PREFIX,
    PAYLOAD_FORMATS,
    PlantSimulation,
    SimulationSettings,
    SparkplugNodeSettings,
    is_spindle,
    rate_plan,
)

logger = logging.getLogger("workers.simulator")

DEFAULT_DEGRADING_SPINDLE = "CNC_Spindle_7"
DEFAULT_DRIFTING_EQUIPMENT = "CNC_Spindle_8"


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{text!r} must be a positive number")
    return value


def _start_ms(text: str | None) -> int:
    if text is None:
        return int(datetime.now(UTC).timestamp()) * 1000  # whole second: easy to repeat
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(
            f"--start {text!r} is not an ISO 8601 time (e.g. 2025-01-06T08:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        raise CommandError(f"--start {text!r} needs a UTC offset (e.g. Z or +01:00)")
    return round(moment.timestamp() * 1000)


def sparkplug_nodes_resolve(
    plant: PlantSpec, names: list[str], group_id: str | None, start_ms: int
) -> tuple[SparkplugNodeSettings, ...]:
    """``--sparkplug-node`` values (equipment code/path or line code/path) → node settings."""
    nodes = []
    for name in names:
        equipment = plant.find(name)
        members = (equipment,) if equipment is not None else plant.line_equipment(name)
        if not members:
            raise CommandError(
                f"--sparkplug-node {name!r}: no equipment or line with that code or path"
            )
        node_id = name.rsplit("/", 1)[-1]
        enterprise, site = members[0].site_path.split("/")
        nodes.append(
            SparkplugNodeSettings(
                group_id=group_id or f"{enterprise}_{site}",
                node_id=node_id,
                equipment_paths=tuple(member.path for member in members),
                # A new process starts a new session: a bdSeq the previous run's Will is
                # unlikely to carry.
                bd_seq=(start_ms // 1000) % 256,
            )
        )
    return tuple(nodes)


class Command(BaseCommand):
    help = (
        "Simulate the plant in the database and publish its telemetry over MQTT: states, "
        "counts, process values, vibration features of the spindles, station events of "
        "dispatched orders; part of it optionally as a Sparkplug B edge node."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--root",
            default=None,
            help="UNS topic root (default: settings.MQTT_UNS_ROOT, now "
            f"{settings.MQTT_UNS_ROOT!r})",
        )
        parser.add_argument(
            "--seed", type=int, default=None, help="random seed (default: a new one, logged)"
        )
        parser.add_argument(
            "--start",
            default=None,
            help="simulated start time, ISO 8601 with offset (default: now). A start in the "
            "past is published as fast as possible until the simulation reaches now.",
        )
        parser.add_argument(
            "--duration-s", type=float, default=None, help="stop after this simulated time"
        )
        parser.add_argument(
            "--rate",
            type=float,
            default=None,
            help="process readings per second (default: every signal at 1 Hz); raises the "
            f"tick rate, past 1000 ticks/s adds {EXTRA_SIGNAL_PREFIX}NNN signals",
        )
        parser.add_argument(
            "--payload",
            choices=PAYLOAD_FORMATS,
            default="batch",
            help="UNS readings as one batch per equipment (default) or one message per reading",
        )
        parser.add_argument(
            "--degrade",
            action="append",
            default=None,
            metavar="EQUIPMENT",
            help="a spindle whose bearing degrades (repeatable; default "
            f"{DEFAULT_DEGRADING_SPINDLE} when the plant has it)",
        )
        parser.add_argument(
            "--all-healthy", action="store_true", help="no spindle degrades (overrides --degrade)"
        )
        parser.add_argument(
            "--degrade-minutes",
            type=float,
            default=5.0,
            help="minutes from the bearing's installation until it reaches the failure "
            "threshold (RMS × 4) and the spindle breaks down (default 5)",
        )
        parser.add_argument(
            "--degrade-onset-minutes",
            type=float,
            default=2.0,
            help="healthy minutes before the defect appears (default 2: the MES learns its "
            "healthy baseline from the first 60 feature windows)",
        )
        parser.add_argument(
            "--repair-minutes",
            type=float,
            default=10.0,
            help="how long the broken spindle is down before a new bearing is fitted (default 10)",
        )
        parser.add_argument(
            "--drift-probe",
            action="append",
            default=None,
            metavar="EQUIPMENT",
            help=f"equipment whose {DEFAULT_DRIFTING_PROBE} probe drifts (repeatable; default "
            f"{DEFAULT_DRIFTING_EQUIPMENT} when it has that probe); --no-probe-drift for none",
        )
        parser.add_argument("--no-probe-drift", action="store_true", help="no probe drifts")
        parser.add_argument(
            "--probe-drift-onset-minutes",
            type=float,
            default=5.0,
            help="minutes before the probe starts to drift (default 5)",
        )
        parser.add_argument(
            "--probe-drift-c-per-min",
            type=float,
            default=0.1,
            help="drift of the probe in °C per minute (default 0.1)",
        )
        parser.add_argument(
            "--sparkplug-node",
            action="append",
            default=[],
            metavar="EQUIPMENT_OR_LINE",
            help="publish this equipment, or every equipment of this line, as a Sparkplug B "
            "edge node (repeatable)",
        )
        parser.add_argument(
            "--sparkplug-group",
            default=None,
            help="Sparkplug group id (default: <enterprise>_<site>, e.g. acme_plant1)",
        )
        parser.add_argument("--site", default=None, help="only the equipment of this site code")
        parser.add_argument(
            "--order-poll-s",
            type=float,
            default=5.0,
            help="how often the dispatched customer orders are read (default 5 s)",
        )
        parser.add_argument(
            "--status-period-s", type=float, default=10.0, help="status line period (default 10)"
        )
        parser.add_argument(
            "--client-id-prefix",
            default=None,
            help="MQTT client id prefix (default mes-simulator-<pid>)",
        )
        parser.add_argument(
            "--max-inflight",
            type=int,
            default=1000,
            help="QoS 1 messages in flight per client (default 1000)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            endpoint = broker_address_from_settings(settings)
            endpoint.tls_context()  # a file that is no certificate or key fails here, by name
        except ValueError as error:
            raise CommandError(str(error)) from None
        try:
            plant = plant_spec_load(site_code=options["site"])
        except ValueError as error:
            raise CommandError(str(error)) from None
        for name in ("duration_s", "order_poll_s", "status_period_s"):
            value = options[name]
            if value is not None and not (math.isfinite(value) and value > 0):
                raise CommandError(f"--{name.replace('_', '-')} must be a positive number")
        seed = options["seed"] if options["seed"] is not None else secrets.randbelow(2**31)
        if seed < 0:
            raise CommandError("--seed must be ≥ 0")
        start_ms = _start_ms(options["start"])
        root = options["root"] if options["root"] is not None else settings.MQTT_UNS_ROOT

        tick_hz, extra_signals = 1.0, 0
        if options["rate"] is not None:
            try:
                tick_hz, extra_signals = rate_plan(plant, _positive_float(str(options["rate"])))
            except ValueError as error:
                raise CommandError(f"--rate: {error}") from None
            if extra_signals:
                logger.warning(
                    "--rate %g needs %d extra signals %s001… per equipment: they are not in the "
                    "plant's data contract (the bridge dead-letters them unless registered)",
                    options["rate"],
                    extra_signals,
                    EXTRA_SIGNAL_PREFIX,
                )

        degradation = self._degradation(plant, options)
        nodes = sparkplug_nodes_resolve(
            plant, options["sparkplug_node"], options["sparkplug_group"], start_ms
        )
        try:
            simulation_settings = SimulationSettings(
                seed=seed,
                root=root,
                tick_hz=tick_hz,
                payload_format=options["payload"],
                extra_signal_count=extra_signals,
                degradation=degradation,
                sparkplug_nodes=nodes,
                probe_drift=self._probe_drift(plant, options),
            )
            simulation = PlantSimulation(plant, simulation_settings, start_ms)
        except ValueError as error:
            raise CommandError(str(error)) from None

        line_paths = sorted({equipment.line_path for equipment in plant.equipment})

        def orders_source() -> list[OrderSpec]:
            close_old_connections()
            return dispatched_order_list(line_paths=line_paths)

        end_ms = None
        if options["duration_s"] is not None:
            end_ms = start_ms + round(options["duration_s"] * 1000)
        publisher = SimulatorPublisher(
            simulation,
            endpoint=endpoint,
            client_id_prefix=options["client_id_prefix"] or f"mes-simulator-{os.getpid()}",
            end_ms=end_ms,
            orders_source=orders_source,
            order_poll_s=options["order_poll_s"],
            status_period_s=options["status_period_s"],
            max_inflight_messages=options["max_inflight"],
        )
        logger.info(
            "simulating %d equipment (%d lines) from %s with seed %d (repeat: --seed %d "
            "--start %s); root %r, %.3g ticks/s × %d readings, degrading: %s; Sparkplug nodes: %s",
            len(plant.equipment),
            len(line_paths),
            datetime.fromtimestamp(start_ms / 1000, UTC).isoformat(),
            seed,
            seed,
            datetime.fromtimestamp(start_ms / 1000, UTC).isoformat().replace("+00:00", "Z"),
            root,
            tick_hz,
            simulation.readings_per_tick,
            ", ".join(sorted(degradation)) or "none",
            ", ".join(f"{node.group_id}/{node.node_id}" for node in nodes) or "none",
        )
        previous = {
            signal_number: signal.signal(signal_number, lambda *_: publisher.stop())
            for signal_number in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            stats = publisher.run()
        except SimulatorConnectionError as error:
            raise CommandError(str(error)) from None
        finally:
            for signal_number, handler in previous.items():
                signal.signal(signal_number, handler)
        self.stdout.write(
            f"simulator stopped: {stats.messages} messages, {stats.readings} readings in "
            f"{stats.elapsed_s:.1f} s ({stats.messages_per_s:.1f} msg/s, "
            f"{stats.readings_per_s:.1f} readings/s), {stats.dropped} dropped"
        )

    def _probe_drift(self, plant: PlantSpec, options: dict[str, Any]):
        if options["no_probe_drift"]:
            return {}
        names = options["drift_probe"]
        if names is None:
            default = plant.find(DEFAULT_DRIFTING_EQUIPMENT)
            has_probe = default is not None and any(
                signal.name == DEFAULT_DRIFTING_PROBE for signal in default.signals
            )
            names = [DEFAULT_DRIFTING_EQUIPMENT] if has_probe else []
        try:
            drift = ProbeDriftSettings(
                onset_s=options["probe_drift_onset_minutes"] * 60,
                rate_c_per_min=options["probe_drift_c_per_min"],
            )
        except ValueError as error:
            raise CommandError(f"probe drift: {error}") from None
        return dict.fromkeys(names, drift)

    def _degradation(
        self, plant: PlantSpec, options: dict[str, Any]
    ) -> dict[str, DegradationSettings]:
        if options["all_healthy"]:
            return {}
        names = options["degrade"]
        if names is None:
            default = plant.find(DEFAULT_DEGRADING_SPINDLE)
            names = [DEFAULT_DEGRADING_SPINDLE] if default and is_spindle(default) else []
        try:
            settings_ = DegradationSettings(
                onset_s=options["degrade_onset_minutes"] * 60,
                failure_s=options["degrade_minutes"] * 60,
                repair_s=options["repair_minutes"] * 60,
            )
        except ValueError as error:
            raise CommandError(f"degradation: {error}") from None
        return dict.fromkeys(names, settings_)
