"""The whole simulated plant: what it publishes up to any instant (pure, Django-free, no I/O).

``PlantSimulation(plant, settings, start_ms).step(until_ms)`` returns every MQTT message with a
timestamp in ``(previous until, until_ms]`` (the first call includes ``start_ms``), in
publication order. The same plant, settings (seed included), start time, sequence of
``orders_update`` calls and Sparkplug births give the same messages byte for byte, however
the time is cut into steps: every equipment, vibration source and order draws from its own
random stream, and records are ordered by (timestamp, source, sequence).

Per equipment (:class:`~workers.simulator.model.EquipmentSpec`):

- ``.../{equipment}/_event`` — ``state`` events on every state change (and the state at the
  start) and a ``count`` event per finished part, from :mod:`workers.simulator.machine`;
- ``.../{equipment}`` — a batch of every non-vibration signal at each tick (``tick_hz``, 1 Hz
  by default; ``payload_format="single"`` sends one ``.../{equipment}/{signal}`` message per
  reading instead), from :mod:`workers.simulator.process_values`;
- spindles (equipment with a ``vibration_*`` or ``spindle_speed`` signal) also have an edge
  agent: every ``feature_period_s`` while producing, ``.../{equipment}/_features`` with the
  window features and a batch of the ``vibration_*`` summary readings.

Per line: ``station`` events of the customer orders dispatched to it
(:mod:`workers.simulator.stations`). Equipment that belongs to a Sparkplug edge node
(``settings.sparkplug_nodes``) sends its readings as DDATA instead of UNS batches; its events
and features stay on the UNS topics.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from workers.mqtt.uns import (
    EVENT_SEGMENT,
    FEATURES_SEGMENT,
    Scalar,
    build_topic,
    encode_batch,
    encode_event,
    encode_features,
    encode_reading,
)
from workers.simulator.edge_agent import DegradationSettings, VibrationEdgeAgent
from workers.simulator.machine import SPINDLE_BEHAVIOUR, STATION_BEHAVIOUR, Machine
from workers.simulator.model import (
    UNS_CHANNEL,
    EquipmentSpec,
    OrderSpec,
    OutboundMessage,
    PlantSpec,
    Record,
    RecordKind,
    SignalSpec,
    random_stream,
)
from workers.simulator.process_values import (
    EDGE_SIGNAL_PREFIX,
    SPINDLE_PROFILE,
    STATION_PROFILE,
    ProcessValues,
)
from workers.simulator.sensor_drift import ProbeDriftSettings
from workers.simulator.sparkplug_node import DeviceSpec, MetricSpec, SparkplugEdgeNode
from workers.simulator.stations import (
    STATION_CELLS,
    STATION_SEQUENCE,
    LineStationRunner,
    StationSettings,
)

__all__ = [
    "MAX_TICK_HZ",
    "PAYLOAD_FORMATS",
    "PlantSimulation",
    "SimulationSettings",
    "SparkplugNodeSettings",
    "base_readings_per_tick",
    "is_spindle",
    "rate_plan",
]

PAYLOAD_FORMATS: Final = ("batch", "single")
# Readings carry millisecond timestamps and a signal stores one value per (signal, ts): faster
# ticks would publish two readings of a signal with the same timestamp.
MAX_TICK_HZ: Final = 1000.0
_SORT_KEY: Final = operator.attrgetter("ts_ms", "source", "sequence")
EXTRA_SIGNAL_PREFIX: Final = "load_"


@dataclass(frozen=True)
class SparkplugNodeSettings:
    """Equipment published by one Sparkplug edge node ``spBv1.0/{group_id}/…/{node_id}``."""

    group_id: str
    node_id: str
    equipment_paths: tuple[str, ...]
    bd_seq: int = 0


@dataclass(frozen=True)
class SimulationSettings:
    seed: int = 0
    root: str = ""
    tick_hz: float = 1.0
    payload_format: str = "batch"
    extra_signal_count: int = 0  # load_001… added to every equipment's readings (benchmarks)
    degradation: Mapping[str, DegradationSettings] = field(default_factory=dict)  # code/path
    feature_period_s: float = 1.0
    station_settings: StationSettings = field(default_factory=StationSettings)
    sparkplug_nodes: tuple[SparkplugNodeSettings, ...] = ()
    probe_drift: Mapping[str, ProbeDriftSettings] = field(default_factory=dict)  # code/path

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ValueError(f"seed must be ≥ 0, got {self.seed}")
        if not (math.isfinite(self.tick_hz) and 0 < self.tick_hz <= MAX_TICK_HZ):
            raise ValueError(f"tick_hz must lie in (0, {MAX_TICK_HZ:g}], got {self.tick_hz}")
        if self.payload_format not in PAYLOAD_FORMATS:
            raise ValueError(
                f"payload_format must be one of {PAYLOAD_FORMATS}, got {self.payload_format!r}"
            )
        if self.extra_signal_count < 0:
            raise ValueError("extra_signal_count must be ≥ 0")
        if not (math.isfinite(self.feature_period_s) and self.feature_period_s > 0):
            raise ValueError("feature_period_s must be positive")
        root = self.root.strip("/")
        if root and any(not level or "+" in level or "#" in level for level in root.split("/")):
            raise ValueError(f"root {self.root!r} has an empty level or an MQTT wildcard")


def is_spindle(equipment: EquipmentSpec) -> bool:
    """Equipment with vibration (or a spindle speed) gets the spindle behaviour and edge agent."""
    return any(
        signal.name.startswith(EDGE_SIGNAL_PREFIX) or signal.name == "spindle_speed"
        for signal in equipment.signals
    )


class _EquipmentSimulator:
    def __init__(
        self,
        source: int,
        spec: EquipmentSpec,
        *,
        settings: SimulationSettings,
        reason_codes: frozenset[str],
        start_ms: int,
    ) -> None:
        self.source = source
        self.spec = spec
        self._sequence = 0
        spindle = is_spindle(spec)
        self.machine = Machine(
            SPINDLE_BEHAVIOUR if spindle else STATION_BEHAVIOUR,
            random_stream(settings.seed, "machine", spec.path),
            start_ms,
            reason_codes=reason_codes,
        )
        extra = tuple(
            SignalSpec(f"{EXTRA_SIGNAL_PREFIX}{number:03d}", "", "number", 0.0, 100.0)
            for number in range(1, settings.extra_signal_count + 1)
        )
        self.values = ProcessValues(
            spec.signals + extra,
            SPINDLE_PROFILE if spindle else STATION_PROFILE,
            random_stream(settings.seed, "values", spec.path),
            start_ms,
        )
        self.agent: VibrationEdgeAgent | None = None
        if spindle:
            degradation = settings.degradation.get(spec.code) or settings.degradation.get(spec.path)
            self.agent = VibrationEdgeAgent(
                random_stream(settings.seed, "vibration", spec.path),
                start_ms,
                degradation=degradation,
                report_period_s=settings.feature_period_s,
                feature_signals={signal.name for signal in spec.signals},
            )
            failure_ms = self.agent.failure_ms
            if failure_ms is not None:
                self.machine.schedule_failure(failure_ms, self.agent.repair_s)
        self._repairs_seen = 0
        self._start_ms = start_ms
        self.probe_drift = settings.probe_drift.get(spec.code) or settings.probe_drift.get(
            spec.path
        )

    @property
    def readings_per_tick(self) -> int:
        return len(self.values.signal_names)

    def _record(
        self, ts_ms: int, kind: RecordKind, data: Mapping[str, Any], event_type: str | None = None
    ) -> Record:
        self._sequence += 1
        return Record(ts_ms, self.source, self._sequence, kind, self.spec.path, data, event_type)

    def _run_machine(self, until_ms: int, records: list[Record]) -> None:
        for event in self.machine.advance(until_ms):
            records.append(
                self._record(event.ts_ms, RecordKind.EVENT, event.data, event.event_type)
            )
        agent = self.agent
        if agent is not None and self.machine.repairs_completed > self._repairs_seen:
            self._repairs_seen = self.machine.repairs_completed
            repaired_ms = self.machine.last_repair_end_ms
            assert repaired_ms is not None
            agent.reinstall(repaired_ms)
            failure_ms = agent.failure_ms
            if failure_ms is not None:
                self.machine.schedule_failure(max(failure_ms, float(until_ms)), agent.repair_s)

    def advance(
        self, until_ms: int, tick_times: Sequence[int], feature_times: Sequence[int]
    ) -> list[Record]:
        records: list[Record] = []
        # Merge the two schedules; at equal times the tick comes first.
        moments = sorted(
            [(ts, 0) for ts in tick_times] + [(ts, 1) for ts in feature_times],
        )
        for ts_ms, what in moments:
            self._run_machine(ts_ms, records)
            if what == 0:
                self._apply_wear(ts_ms)
                if self.probe_drift is not None:
                    self.values.probe_offsets_c[self.probe_drift.signal_name] = (
                        self.probe_drift.offset_c((ts_ms - self._start_ms) / 1000)
                    )
                values = self.values.sample(ts_ms, self.machine.state)
                if values:
                    records.append(self._record(ts_ms, RecordKind.READINGS, values))
            elif self.agent is not None and self.machine.is_running:
                report = self.agent.report(ts_ms)
                records.append(self._record(ts_ms, RecordKind.FEATURES, report.features))
                if report.summary:
                    records.append(self._record(ts_ms, RecordKind.READINGS, report.summary))
        self._run_machine(until_ms, records)
        return records

    def _apply_wear(self, ts_ms: int) -> None:
        agent = self.agent
        if agent is None or not agent.is_degrading:
            return
        ratio = agent.expected_rms_ratio(ts_ms)
        self.machine.extra_scrap_probability = 0.1 * agent.wear_fraction(ts_ms)
        self.values.extra_heat_c = 4.0 * (ratio - 1)
        self.values.extra_power_share = 0.03 * (ratio - 1)


def _station_equipment(line: Sequence[EquipmentSpec]) -> dict[str, str]:
    by_cell = {equipment.cell_code: equipment.path for equipment in line}
    fallback = line[0].path
    return {step: by_cell.get(STATION_CELLS[step], fallback) for step in STATION_SEQUENCE}


class PlantSimulation:
    """Advance with :meth:`step`; feed dispatched orders with :meth:`orders_update`."""

    def __init__(self, plant: PlantSpec, settings: SimulationSettings, start_ms: int) -> None:
        if start_ms < 946_684_800_000:
            raise ValueError(f"start_ms {start_ms} lies before 2000 (seconds, not milliseconds?)")
        self.plant = plant
        self.settings = settings
        self.start_ms = start_ms
        self._root = settings.root.strip("/")
        for key in settings.degradation:
            equipment = plant.find(key)
            if equipment is None:
                raise ValueError(f"cannot degrade {key!r}: no such equipment in the plant")
            if not is_spindle(equipment):
                raise ValueError(
                    f"cannot degrade {key!r}: it has no vibration signals (not a spindle)"
                )
        for key, drift in settings.probe_drift.items():
            equipment = plant.find(key)
            if equipment is None or drift.signal_name not in {s.name for s in equipment.signals}:
                raise ValueError(f"cannot drift {key!r}/{drift.signal_name}: no such probe")
        ordered = sorted(plant.equipment, key=lambda equipment: equipment.path)
        self._equipment = [
            _EquipmentSimulator(
                index,
                spec,
                settings=settings,
                reason_codes=plant.reason_codes,
                start_ms=start_ms,
            )
            for index, spec in enumerate(ordered)
        ]
        lines: dict[str, list[EquipmentSpec]] = {}
        for spec in ordered:
            lines.setdefault(spec.line_path, []).append(spec)
        self._runners = [
            LineStationRunner(
                line_path,
                _station_equipment(members),
                seed=settings.seed,
                settings=settings.station_settings,
            )
            for line_path, members in sorted(lines.items())
        ]
        self._runner_sequence = [0] * len(self._runners)
        self._nodes: dict[str, SparkplugEdgeNode] = {}
        self._node_of_path: dict[str, SparkplugEdgeNode] = {}
        for node_settings in settings.sparkplug_nodes:
            self._add_node(node_settings)
        self._tick_period_ms = 1000.0 / settings.tick_hz
        self._next_tick = 0
        self._feature_period_ms = settings.feature_period_s * 1000
        self._next_feature = 1
        self._until_ms = start_ms - 1
        self._topics: dict[tuple[str, str | None], str] = {}
        self._last_ts: tuple[int, datetime] = (0, datetime.fromtimestamp(0, UTC))

    def _add_node(self, node_settings: SparkplugNodeSettings) -> None:
        if node_settings.node_id in self._nodes:
            raise ValueError(f"Sparkplug node {node_settings.node_id} configured twice")
        devices = []
        for path in node_settings.equipment_paths:
            equipment = self.plant.find(path)
            if equipment is None:
                raise ValueError(f"Sparkplug node {node_settings.node_id}: no equipment {path}")
            if path in self._node_of_path:
                raise ValueError(f"equipment {path} is in two Sparkplug nodes")
            simulator = next(item for item in self._equipment if item.spec.path == path)
            names = list(simulator.values.signal_names)
            if simulator.agent is not None:
                names += simulator.agent.feature_signal_names
            metrics = []
            for name in names:
                signal = equipment.signal(name)
                metrics.append(MetricSpec(name, signal.data_type if signal else "number"))
            devices.append(DeviceSpec(equipment.code, path, tuple(metrics)))
        node = SparkplugEdgeNode(
            node_settings.group_id, node_settings.node_id, devices, bd_seq=node_settings.bd_seq
        )
        self._nodes[node.node_id] = node
        for path in node_settings.equipment_paths:
            self._node_of_path[path] = node

    # --- introspection ---------------------------------------------------------------------------

    @property
    def sparkplug_nodes(self) -> tuple[SparkplugEdgeNode, ...]:
        return tuple(self._nodes.values())

    @property
    def readings_per_tick(self) -> int:
        return sum(item.readings_per_tick for item in self._equipment)

    @property
    def line_runners(self) -> tuple[LineStationRunner, ...]:
        return tuple(self._runners)

    def machine_state(self, path: str) -> str:
        for item in self._equipment:
            if item.spec.path == path:
                return item.machine.state.value
        raise KeyError(path)

    @property
    def until_ms(self) -> int:
        """The simulated time published so far (``start_ms - 1`` before the first step)."""
        return self._until_ms

    def next_tick_ms(self) -> int:
        return self._tick_ms(self._next_tick)

    def _tick_ms(self, index: int) -> int:
        return self.start_ms + int(index * self._tick_period_ms)

    # --- inputs ----------------------------------------------------------------------------------

    def orders_update(self, orders: Sequence[OrderSpec], at_ms: int) -> None:
        """The customer orders now dispatched to (or in progress on) the simulated lines."""
        for runner in self._runners:
            runner.orders_update(orders, max(at_ms, self._until_ms))

    def node_birth(self, node_id: str, ts_ms: int) -> list[OutboundMessage]:
        return self._nodes[node_id].birth(ts_ms)

    def handle_command(self, topic: str, payload: bytes, ts_ms: int) -> list[OutboundMessage]:
        messages: list[OutboundMessage] = []
        for node in self._nodes.values():
            messages.extend(node.handle_command(topic, payload, ts_ms))
        return messages

    # --- stepping --------------------------------------------------------------------------------

    def step(self, until_ms: int) -> list[OutboundMessage]:
        """Every message with a timestamp in (previous until, ``until_ms``], in order."""
        if until_ms <= self._until_ms:
            return []
        tick_times: list[int] = []
        while (tick_ms := self._tick_ms(self._next_tick)) <= until_ms:
            tick_times.append(tick_ms)
            self._next_tick += 1
        feature_times: list[int] = []
        while (
            feature_ms := self.start_ms + round(self._next_feature * self._feature_period_ms)
        ) <= until_ms:
            feature_times.append(feature_ms)
            self._next_feature += 1
        records: list[Record] = []
        for item in self._equipment:
            records.extend(item.advance(until_ms, tick_times, feature_times))
        base = len(self._equipment)
        for index, runner in enumerate(self._runners):
            for event in runner.advance(until_ms):
                self._runner_sequence[index] += 1
                records.append(
                    Record(
                        event.ts_ms,
                        base + index,
                        self._runner_sequence[index],
                        RecordKind.EVENT,
                        runner.equipment_for(event.station),
                        event.fields(),
                        "station",
                    )
                )
        self._until_ms = until_ms
        records.sort(key=_SORT_KEY)
        messages: list[OutboundMessage] = []
        for record in records:
            self._encode(record, messages)
        return messages

    # --- encoding --------------------------------------------------------------------------------

    def _topic(self, path: str, leaf: str | None) -> str:
        key = (path, leaf)
        topic = self._topics.get(key)
        if topic is None:
            topic = self._topics[key] = build_topic(self._root, path, leaf)
        return topic

    def _datetime(self, ts_ms: int) -> datetime:
        if self._last_ts[0] != ts_ms:
            self._last_ts = (ts_ms, datetime.fromtimestamp(ts_ms / 1000, UTC))
        return self._last_ts[1]

    def _encode(self, record: Record, out: list[OutboundMessage]) -> None:
        path = record.equipment_path
        ts = self._datetime(record.ts_ms)
        if record.kind is RecordKind.EVENT:
            assert record.event_type is not None
            out.append(
                OutboundMessage(
                    self._topic(path, EVENT_SEGMENT),
                    encode_event(ts, record.event_type, record.data),
                )
            )
            return
        if record.kind is RecordKind.FEATURES:
            out.append(
                OutboundMessage(
                    self._topic(path, FEATURES_SEGMENT),
                    encode_features(ts, record.data),
                    reading_count=len(record.data),
                )
            )
            return
        values: Mapping[str, Scalar] = record.data
        node = self._node_of_path.get(path)
        if node is not None:
            message = node.data(record.ts_ms, path, values)
            if message is not None:
                out.append(message)
            return
        if self.settings.payload_format == "batch":
            out.append(
                OutboundMessage(
                    self._topic(path, None),
                    encode_batch(ts, values),
                    reading_count=len(values),
                    channel=UNS_CHANNEL,
                )
            )
            return
        for name, value in values.items():
            out.append(
                OutboundMessage(self._topic(path, name), encode_reading(ts, value), reading_count=1)
            )


def base_readings_per_tick(plant: PlantSpec) -> int:
    """Readings one tick publishes (every signal except the edge agent's ``vibration_*``)."""
    return sum(
        1
        for equipment in plant.equipment
        for signal in equipment.signals
        if not signal.name.startswith(EDGE_SIGNAL_PREFIX)
    )


def rate_plan(plant: PlantSpec, readings_per_s: float) -> tuple[float, int]:
    """``(tick_hz, extra_signal_count)`` that publish ``readings_per_s`` tick readings.

    The tick rate rises first (every reading stays a reading of a declared signal); past
    :data:`MAX_TICK_HZ` each equipment gets ``extra_signal_count`` additional ``load_NNN``
    signals, which are not in the demo's data contract.
    """
    if not (math.isfinite(readings_per_s) and readings_per_s > 0):
        raise ValueError(f"the rate must be a positive number of readings/s, got {readings_per_s}")
    base = base_readings_per_tick(plant)
    equipment_count = len(plant.equipment)
    extra = 0 if base > 0 else 1  # without any signal, one load signal carries the rate
    if (base + extra * equipment_count) * MAX_TICK_HZ < readings_per_s:
        extra = math.ceil((readings_per_s / MAX_TICK_HZ - base) / equipment_count)
    per_tick = base + extra * equipment_count
    return readings_per_s / per_tick, extra
