"""Fixtures of the maintenance integration tests: a monitored spindle with its vibration
feature signals, spare parts and stock, and helpers that store synthetic bearing windows as
feature readings exactly as the ingest does (``workers.store.readings_write``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

FEATURE_PREFIX = "vibration_"
BASELINE_WINDOWS = 60


@dataclass
class Spindle:
    equipment: Any
    site: Any
    line: Any
    signal_ids: dict[str, int]
    bearing: Any = None
    store: Any = None
    start: datetime = field(default_factory=lambda: datetime.now(UTC))

    def at(self, hours: float, seconds: float = 0.0) -> datetime:
        return self.start + timedelta(hours=hours, seconds=seconds)


def feature_settings():
    from maintenance.algorithms.signal import FeatureSettings

    return FeatureSettings()


def partitions_ready(first: datetime, last: datetime) -> None:
    """Create the reading partitions up front: creating one while the test's transaction
    holds locks on the readings table would wait for that transaction forever."""
    from workers import store

    store.partitions_ensure(store.partitions_for_range(first, last))


def features_write(spindle: Spindle, times: list[datetime], matrix: np.ndarray) -> int:
    """Store feature windows ``[n, 8]`` at ``times`` as readings of the vibration signals."""
    from django.db import transaction

    from workers import store
    from workers.choices import QUALITY_GOOD

    names = feature_settings().feature_names
    rows = []
    for ts, vector in zip(times, matrix, strict=True):
        for name, value in zip(names, vector, strict=True):
            if np.isnan(value):
                continue  # a missing reading: the window is incomplete
            rows.append((spindle.signal_ids[name], ts, float(value), None, QUALITY_GOOD))
    store.partitions_ensure(store.partitions_for_range(min(times), max(times)))
    with transaction.atomic():
        return store.readings_write(rows)


class BearingFeed:
    """Synthetic degrading bearing (known failure time) → feature windows at spindle times."""

    def __init__(self, *, onset_h: float, failure_h: float, seed: int = 7) -> None:
        from maintenance.algorithms.synthetic import (
            BearingSpec,
            DegradationProfile,
            DegradingBearing,
        )

        self.bearing = DegradingBearing(
            BearingSpec(), DegradationProfile(onset_h=onset_h, failure_h=failure_h)
        )
        self.rng = np.random.default_rng(seed)

    def features(self, hours: float, count: int) -> np.ndarray:
        from maintenance.algorithms.signal import extract_features

        windows = self.bearing.windows(hours, count, self.rng)
        return extract_features(windows, feature_settings()).as_array()

    def write(
        self, spindle: Spindle, hours: float, count: int, *, step_s: float = 1.0, offset_s=0.0
    ) -> list[datetime]:
        """``count`` windows of the bearing at ``hours``, ``step_s`` apart; returns their times."""
        times = [spindle.at(hours, offset_s + index * step_s) for index in range(count)]
        features_write(spindle, times, self.features(hours, count))
        return times


@pytest.fixture
def spindle(plant) -> Spindle:
    """The plant's machine as a monitored spindle; its data start 3 days ago (whole hour)."""
    from production.models import Signal

    equipment = plant.equipment
    signal_ids = {}
    for name in feature_settings().feature_names:
        signal = Signal.objects.create(
            equipment=equipment, name=f"{FEATURE_PREFIX}{name}", min_value=0.0, max_value=1e9
        )
        signal_ids[name] = signal.pk
    start = (datetime.now(UTC) - timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    partitions_ready(start - timedelta(days=1), datetime.now(UTC) + timedelta(days=1))
    return Spindle(
        equipment=equipment, site=plant.site, line=plant.line, signal_ids=signal_ids, start=start
    )


@pytest.fixture
def spares(spindle):
    """Bearing and seal spare items mapped to the spindle, 2 bearings in the site's store."""
    from inventory.models import Item, Location
    from inventory.services import stock_receive
    from maintenance.models import ComponentPart
    from traceability.services import lot_create

    bearing = Item.objects.create(code="SP-BEARING-7014", name="Spindle bearing", kind="spare")
    seal = Item.objects.create(code="SP-SEAL-40", name="Hydraulic seal", kind="spare")
    store = Location.objects.create(site=spindle.site, code="MRO", name="Spare parts store")
    # The hydraulic seal is mapped first: a vibration symptom must still pick the bearing.
    ComponentPart.objects.create(
        equipment=spindle.equipment,
        component="hydraulic_seal",
        spare_item=seal,
        quantity_per_replacement=2,
    )
    ComponentPart.objects.create(
        equipment=spindle.equipment, component="spindle_bearing", spare_item=bearing
    )
    lot = lot_create(item=bearing, code="LOT-BRG-1", quantity=Decimal(2), origin="received")
    stock_receive(lot=lot, location=store, quantity=Decimal(2))
    spindle.bearing = bearing
    spindle.store = store
    return spindle


@pytest.fixture
def policies(db):
    """The demo plant's risk per action kind."""
    from autonomy.choices import ActionKind, ActionRisk
    from autonomy.models import ActionPolicy

    for kind, risk in {
        ActionKind.PART_RESERVATION: ActionRisk.LOW,
        ActionKind.MAINTENANCE_ORDER: ActionRisk.MEDIUM,
        ActionKind.PROCUREMENT_REQUEST: ActionRisk.HIGH,
    }.items():
        ActionPolicy.objects.update_or_create(kind=kind, defaults={"risk": risk})


@pytest.fixture
def autonomy(spindle):
    """Set the spindle's site autonomy mode: ``autonomy("full")``."""
    from production.models import Site

    def set_mode(mode: str) -> None:
        Site.objects.filter(pk=spindle.site.pk).update(autonomy_mode=mode)

    return set_mode


@pytest.fixture
def feed() -> BearingFeed:
    """A bearing that is healthy for 12 h and fails at 72 h."""
    return BearingFeed(onset_h=12.0, failure_h=72.0)


@pytest.fixture
def baseline_learned(spindle, feed):
    """60 healthy windows at hour 0 and the first (baseline-learning) refresh."""
    from maintenance.services import health_refresh

    feed.write(spindle, 0.0, BASELINE_WINDOWS)
    outcome = health_refresh(equipment_id=spindle.equipment.pk)
    assert outcome.snapshot.state == "assessed"
    return outcome.snapshot


@pytest.fixture
def eager_celery(mqtt_url):
    """Run Celery tasks in-process (diagnostics publish, to the session's broker) for the test."""
    from mes_site.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = previous


@pytest.fixture
def no_scheduler(monkeypatch):
    """Record the scheduler triggers instead of running a schedule."""
    import planning.services.schedule_runs as schedule_runs

    calls: list[dict] = []

    def record(**kwargs) -> None:
        calls.append(kwargs)

    monkeypatch.setattr(schedule_runs, "schedule_run_request", record)
    return calls


class UnsListener:
    """A paho subscriber on a unique topic root of the real broker."""

    def __init__(self, url: str, root: str) -> None:
        import threading

        import paho.mqtt.client as mqtt

        from workers.mqtt.address import parse_broker_url

        self.root = root
        self.messages: list[tuple[str, bytes, int, bool]] = []
        self._received = threading.Condition()
        self._subscribed = threading.Event()
        address = parse_broker_url(url)
        self.client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda client, *_: client.subscribe(f"{root}/#", qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(address.host, address.port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "no SUBACK from the MQTT broker"

    def _on_message(self, client, userdata, message) -> None:
        with self._received:
            self.messages.append((message.topic, message.payload, message.qos, message.retain))
            self._received.notify_all()

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[tuple[str, bytes, int, bool]]:
        with self._received:
            self._received.wait_for(lambda: len(self.messages) >= count, timeout=timeout_s)
            return list(self.messages)

    def close(self) -> None:
        for topic in {topic for topic, *_ in self.messages}:
            self.client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def uns_listener(settings, mqtt_url):
    """A listener on the session's broker, which the diagnostics publish to (settings.MQTT_URL)."""
    import uuid

    root = f"test-maint-{uuid.uuid4().hex[:12]}"
    settings.MQTT_UNS_ROOT = root
    listener = UnsListener(mqtt_url, root)
    yield listener
    listener.close()
