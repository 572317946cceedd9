"""The whole simulated demo plant, without a broker: repeatable, decodable, plausible."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest

from workers.demo_plant import DOWNTIME_REASONS
from workers.mqtt.sparkplug.decode import decode_message
from workers.mqtt.sparkplug.session import SparkplugHostSession
from workers.mqtt.uns import DecodedEvent, UnsDecoder
from workers.simulator.edge_agent import DegradationSettings
from workers.simulator.model import OrderSpec, OutboundMessage, PlantSpec
from workers.simulator.simulation import (
    MAX_TICK_HZ,
    PlantSimulation,
    SimulationSettings,
    SparkplugNodeSettings,
    base_readings_per_tick,
    rate_plan,
)
from workers.simulator.stations import STATION_SEQUENCE

START_MS = 1_735_718_400_000  # 2025-01-01T08:00:00Z
ROOT = "simtest/v1"
SPINDLE_7 = "acme/plant1/machining/CNC/cell7/CNC_Spindle_7"
SPINDLE_8 = "acme/plant1/machining/CNC/cell8/CNC_Spindle_8"
MPS1 = "acme/plant1/assembly/MPS1"
REASON_CODES = {code for code, _name, _parent, _element in DOWNTIME_REASONS}
STATES = {"producing", "setup", "down", "idle", "starved", "blocked"}
DEGRADE_7 = {"CNC_Spindle_7": DegradationSettings(onset_s=60, failure_s=300, repair_s=120)}


def _run(
    plant: PlantSpec,
    settings: SimulationSettings,
    seconds: int,
    *,
    step_ms: int = 1000,
    orders: list[OrderSpec] | None = None,
) -> list[OutboundMessage]:
    simulation = PlantSimulation(plant, settings, START_MS)
    messages = []
    for node in simulation.sparkplug_nodes:
        messages += simulation.node_birth(node.node_id, START_MS)
    if orders:
        simulation.orders_update(orders, START_MS)
    for until in range(START_MS, START_MS + seconds * 1000, step_ms):
        messages += simulation.step(until)
    messages += simulation.step(START_MS + seconds * 1000)
    return messages


def _wire(messages: list[OutboundMessage]) -> list[tuple[str, bytes, int, str]]:
    return [(message.topic, message.payload, message.qos, message.channel) for message in messages]


def test_the_same_seed_and_start_publish_the_same_bytes_however_time_is_stepped(
    demo_plant: PlantSpec,
) -> None:
    settings = SimulationSettings(
        seed=11,
        root=ROOT,
        degradation=DEGRADE_7,
        sparkplug_nodes=(SparkplugNodeSettings("acme_plant1", "CNC_Spindle_8", (SPINDLE_8,)),),
    )
    orders = [OrderSpec("CO-1", MPS1, 4)]

    first = _run(demo_plant, settings, 400, orders=orders)
    second = _run(demo_plant, settings, 400, orders=orders)
    coarse = _run(demo_plant, settings, 400, step_ms=7_300, orders=orders)
    other_seed = _run(
        demo_plant, SimulationSettings(seed=12, root=ROOT, degradation=DEGRADE_7), 400
    )

    assert len(first) > 5_000
    assert _wire(second) == _wire(first)
    assert _wire(coarse) == _wire(first)
    uns_first = [
        (topic, payload) for topic, payload, _, channel in _wire(first) if channel == "uns"
    ]
    uns_other = [(m.topic, m.payload) for m in other_seed]
    assert uns_other[:24] != uns_first[:24]


def test_every_uns_payload_decodes_and_respects_the_demo_contract(demo_plant: PlantSpec) -> None:
    decoder = UnsDecoder(root=ROOT)
    settings = SimulationSettings(seed=3, root=ROOT, degradation=DEGRADE_7)
    signals = {
        (equipment.path, signal.name): signal
        for equipment in demo_plant.equipment
        for signal in equipment.signals
    }
    paths = {equipment.path for equipment in demo_plant.equipment}
    messages = _run(demo_plant, settings, 900, orders=[OrderSpec("CO-1", MPS1, 3)])

    kinds: Counter[str] = Counter()
    readings_seen: set[tuple[str, str]] = set()
    previous_ts = None
    for message in messages:
        decoded = decoder.decode(message.topic, message.payload)  # raises on any violation
        if isinstance(decoded, DecodedEvent):
            assert decoded.equipment_path in paths
            kinds[decoded.kind] += 1
            if decoded.kind == "state":
                assert decoded.data["state"] in STATES
                assert decoded.data["reason"] is None or decoded.data["reason"] in REASON_CODES
            elif decoded.kind == "count":
                assert decoded.data["good"] + decoded.data["scrap"] == 1
                assert decoded.data["rework"] == 0
            else:
                assert decoded.kind == "station"
                assert decoded.data["station"] in STATION_SEQUENCE
            ts = decoded.ts
        else:
            ts = decoded[0].ts
            if message.topic.endswith("/_features"):
                assert [reading.signal for reading in decoded][:4] == [
                    "vibration_rms",
                    "vibration_peak_to_peak",
                    "vibration_kurtosis",
                    "vibration_crest_factor",
                ]
                # every feature is a declared signal of the demo spindle (the data contract)
                assert all((r.equipment_path, r.signal) in signals for r in decoded)
                continue
            for reading in decoded:
                signal = signals[(reading.equipment_path, reading.signal)]
                assert isinstance(reading.value, float)
                assert signal.min_value <= reading.value <= signal.max_value, reading
                readings_seen.add((reading.equipment_path, reading.signal))
        assert previous_ts is None or ts >= previous_ts  # published in time order
        previous_ts = ts
    assert readings_seen == set(signals)  # every declared signal, vibration summaries included
    assert kinds["state"] >= len(paths) and kinds["count"] > 100 and kinds["station"] >= 9


def test_one_reading_messages_carry_the_signal_in_the_topic(demo_plant: PlantSpec) -> None:
    decoder = UnsDecoder(root=ROOT)
    settings = SimulationSettings(seed=3, root=ROOT, payload_format="single")

    messages = _run(demo_plant, settings, 0)

    readings = [message for message in messages if message.reading_count == 1]
    assert len(readings) == base_readings_per_tick(demo_plant) == 26
    assert f"{ROOT}/{SPINDLE_7}/spindle_speed" in {message.topic for message in readings}
    for message in readings:
        (reading,) = decoder.decode(message.topic, message.payload)
        assert message.topic.endswith("/" + reading.signal)


def _feature_series(messages: list[OutboundMessage], path: str) -> dict[int, dict[str, float]]:
    decoder = UnsDecoder(root=ROOT)
    series = {}
    for message in messages:
        if message.topic == f"{ROOT}/{path}/_features":
            readings = decoder.decode(message.topic, message.payload)
            offset_s = round((readings[0].ts.timestamp() * 1000 - START_MS) / 1000)
            series[offset_s] = {
                reading.signal.removeprefix("vibration_"): reading.value for reading in readings
            }
    return series


def test_the_degrading_spindle_trends_up_and_breaks_down_while_the_other_stays_flat(
    demo_plant: PlantSpec,
) -> None:
    settings = SimulationSettings(seed=5, root=ROOT, degradation=DEGRADE_7)
    decoder = UnsDecoder(root=ROOT)

    messages = _run(demo_plant, settings, 400)

    def median(series: dict[int, dict[str, float]], feature: str, first: int, last: int) -> float:
        return float(
            np.median(
                [values[feature] for second, values in series.items() if first <= second < last]
            )
        )

    degrading = _feature_series(messages, SPINDLE_7)
    healthy = _feature_series(messages, SPINDLE_8)
    assert median(degrading, "kurtosis", 0, 60) < 2.4
    assert median(degrading, "kurtosis", 240, 300) > 3.5
    assert median(degrading, "rms", 240, 300) > 1.5 * median(degrading, "rms", 0, 60)
    assert 0.9 < median(healthy, "rms", 240, 300) / median(healthy, "rms", 0, 60) < 1.1
    assert median(healthy, "kurtosis", 240, 300) < 2.4
    # At the failure time the spindle breaks down: no vibration while it is repaired (120 s).
    states = [
        decoded
        for message in messages
        if message.topic == f"{ROOT}/{SPINDLE_7}/_event"
        and isinstance(decoded := decoder.decode(message.topic, message.payload), DecodedEvent)
        and decoded.kind == "state"
    ]
    failure = next(event for event in states if event.data["reason"] == "BREAKDOWN_SPINDLE")
    assert round(failure.ts.timestamp() * 1000) == START_MS + 300_000
    assert [second for second in degrading if second > 300] == []  # repaired only at 420 s
    assert len([second for second in healthy if 300 < second <= 400]) > 50


def test_the_spindle_speed_matches_the_bearing_model_and_stops_when_down(
    demo_plant: PlantSpec,
) -> None:
    decoder = UnsDecoder(root=ROOT)
    settings = SimulationSettings(seed=5, root=ROOT, degradation=DEGRADE_7)
    messages = _run(demo_plant, settings, 360)

    speeds = {}
    for message in messages:
        if message.topic == f"{ROOT}/{SPINDLE_7}":
            for reading in decoder.decode(message.topic, message.payload):
                if reading.signal == "spindle_speed":
                    speeds[round(reading.ts.timestamp() * 1000) - START_MS] = reading.value

    assert 1490 < speeds[100_000] < 1510  # 25 Hz shaft of the bearing model
    assert speeds[310_000] == 0.0  # down for repair


def test_station_events_are_published_on_the_line_station_equipment(
    demo_plant: PlantSpec,
) -> None:
    decoder = UnsDecoder(root=ROOT)
    settings = SimulationSettings(seed=2, root=ROOT)

    messages = _run(demo_plant, settings, 600, orders=[OrderSpec("CO-9", MPS1, 2)])

    stations = []
    for message in messages:
        decoded = decoder.decode(message.topic, message.payload)
        if isinstance(decoded, DecodedEvent) and decoded.kind == "station":
            stations.append(
                (decoded.equipment_path, decoded.data["station"], decoded.data["order"])
            )
    assert stations[0] == (f"{MPS1}/distribution/MPS1_distribution", "order_start", "CO-9")
    assert (f"{MPS1}/machining/MPS1_machining", "machining", "CO-9") in stations
    assert stations[-1] == (f"{MPS1}/storage/MPS1_storage", "complete", "CO-9")
    assert {path.split("/")[3] for path, _, _ in stations} == {"MPS1"}


def test_no_order_no_station_event(demo_plant: PlantSpec) -> None:
    messages = _run(demo_plant, SimulationSettings(seed=2, root=ROOT), 300)

    assert not [message for message in messages if b'"type":"station"' in message.payload]


def test_sparkplug_equipment_sends_ddata_the_host_resolves_and_keeps_events_on_uns(
    demo_plant: PlantSpec,
) -> None:
    node = SparkplugNodeSettings("acme_plant1", "CNC", (SPINDLE_7, SPINDLE_8), bd_seq=9)
    settings = SimulationSettings(seed=4, root=ROOT, degradation=DEGRADE_7, sparkplug_nodes=(node,))
    session = SparkplugHostSession()
    decoder = UnsDecoder(root=ROOT)

    messages = _run(demo_plant, settings, 30)

    sparkplug = [message for message in messages if message.channel == "CNC"]
    uns = [message for message in messages if message.channel == "uns"]
    metrics = defaultdict(set)
    for message in sparkplug:
        output = session.handle(
            decode_message(message.topic, message.payload), received_at=_datetime(START_MS)
        )
        assert not output.data_quality_events and not output.rebirth_requests
        for reading in output.readings:
            metrics[reading.device_id].add(reading.metric_name)
    assert metrics["CNC_Spindle_7"] == {
        signal.name for signal in demo_plant.find("CNC_Spindle_7").signals
    }
    assert "vibration_band_energy_2500_5000_hz" in metrics["CNC_Spindle_7"]
    assert not [m for m in uns if m.topic in (f"{ROOT}/{SPINDLE_7}", f"{ROOT}/{SPINDLE_8}")]
    assert f"{ROOT}/{SPINDLE_7}/_features" in {message.topic for message in uns}
    assert f"{ROOT}/{SPINDLE_7}/_event" in {message.topic for message in uns}
    for message in uns:
        decoder.decode(message.topic, message.payload)


def _datetime(ts_ms: int):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts_ms / 1000, UTC)


def test_a_faster_tick_publishes_more_readings_with_distinct_timestamps(
    demo_plant: PlantSpec,
) -> None:
    decoder = UnsDecoder(root=ROOT)
    settings = SimulationSettings(seed=1, root=ROOT, tick_hz=250.0)
    messages = _run(demo_plant, settings, 2)

    timestamps = [
        decoder.decode(message.topic, message.payload)[0].ts
        for message in messages
        if message.topic == f"{ROOT}/{MPS1}/storage/MPS1_storage"
    ]
    assert len(timestamps) == 501  # 0 … 2000 ms every 4 ms
    assert len(set(timestamps)) == 501


def test_the_rate_plan_raises_the_tick_first_then_adds_load_signals(demo_plant: PlantSpec) -> None:
    assert rate_plan(demo_plant, 26.0) == (1.0, 0)
    assert rate_plan(demo_plant, 2600.0) == (100.0, 0)
    assert rate_plan(demo_plant, 26_000.0) == (MAX_TICK_HZ, 0)
    tick_hz, extra = rate_plan(demo_plant, 100_000.0)
    assert extra == 7  # ceil((100 - 26) / 12)
    assert tick_hz == pytest.approx(100_000 / (26 + 7 * 12))
    with pytest.raises(ValueError, match="positive"):
        rate_plan(demo_plant, 0.0)


def test_extra_load_signals_fill_the_batches(demo_plant: PlantSpec) -> None:
    decoder = UnsDecoder(root=ROOT)
    settings = SimulationSettings(seed=1, root=ROOT, extra_signal_count=3)

    messages = _run(demo_plant, settings, 0)

    batch = next(message for message in messages if message.topic == f"{ROOT}/{SPINDLE_8}")
    names = [reading.signal for reading in decoder.decode(batch.topic, batch.payload)]
    assert names == ["temperature", "power", "spindle_speed", "load_001", "load_002", "load_003"]


def test_bad_settings_are_refused(demo_plant: PlantSpec) -> None:
    with pytest.raises(ValueError, match="no such equipment"):
        PlantSimulation(
            demo_plant, SimulationSettings(degradation={"CNC_9": DegradationSettings()}), START_MS
        )
    with pytest.raises(ValueError, match="not a spindle"):
        PlantSimulation(
            demo_plant,
            SimulationSettings(degradation={"MPS1_storage": DegradationSettings()}),
            START_MS,
        )
    with pytest.raises(ValueError, match="tick_hz"):
        SimulationSettings(tick_hz=1001)
    with pytest.raises(ValueError, match="payload_format"):
        SimulationSettings(payload_format="xml")
    with pytest.raises(ValueError, match="wildcard"):
        SimulationSettings(root="a/+/b")
    with pytest.raises(ValueError, match="seconds, not milliseconds"):
        PlantSimulation(demo_plant, SimulationSettings(), 1_735_718_400)
    with pytest.raises(ValueError, match="two Sparkplug nodes"):
        PlantSimulation(
            demo_plant,
            SimulationSettings(
                sparkplug_nodes=(
                    SparkplugNodeSettings("g", "a", (SPINDLE_7,)),
                    SparkplugNodeSettings("g", "b", (SPINDLE_7,)),
                )
            ),
            START_MS,
        )
