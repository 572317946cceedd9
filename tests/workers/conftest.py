"""Fixtures of the ingest tests: an isolated Redis namespace and Celery queues per test, and
signals with contracts on the shared test plant."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from tests.mosquitto import HOST, Mosquitto


@dataclass
class IngestEnvironment:
    tag: str
    queue: str
    followup_queue: str
    redis: Any

    def followup_tasks(self) -> list[tuple[str, str]]:
        """(task name, argsrepr) of the follow-up tasks enqueued so far."""
        raw = self.redis.lrange(self.followup_queue, 0, -1)
        tasks = []
        for item in reversed(raw):
            headers = json.loads(item)["headers"]
            tasks.append((headers["task"], headers["argsrepr"]))
        return tasks


@pytest.fixture
def ingest_env(settings):
    from mes_site.redis import redis_client
    from workers import selectors

    tag = uuid.uuid4().hex[:12]
    settings.INGEST_REDIS_PREFIX = f"test-ingest:{tag}"
    settings.INGEST_QUEUE = f"test-ingest-{tag}"
    settings.INGEST_FOLLOWUP_QUEUE = f"test-followup-{tag}"
    settings.MQTT_UNS_ROOT = ""
    selectors.contracts_forget()
    client = redis_client()
    environment = IngestEnvironment(
        tag, settings.INGEST_QUEUE, settings.INGEST_FOLLOWUP_QUEUE, client
    )
    yield environment
    selectors.contracts_forget()
    keys = list(client.scan_iter(match=f"test-ingest:{tag}:*", count=1000))
    for queue in (environment.queue, environment.followup_queue):
        keys += [queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}"]
    client.delete(*keys)


@dataclass
class Telemetry:
    equipment: Any
    path: str
    temperature: Any
    running: Any
    program: Any


@pytest.fixture
def telemetry(plant, ingest_env) -> Telemetry:
    from production.models import Signal

    equipment = plant.equipment
    temperature = Signal.objects.create(
        equipment=equipment,
        name="temperature",
        unit="degC",
        data_type="number",
        min_value=-50.0,
        max_value=200.0,
    )
    running = Signal.objects.create(equipment=equipment, name="running", data_type="boolean")
    program = Signal.objects.create(equipment=equipment, name="program", data_type="string")
    return Telemetry(equipment, equipment.uns_path, temperature, running, program)


class MqttPublisher:
    """A plain paho publisher for tests (QoS 1, waits for every PUBACK)."""

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as mqtt

        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"test-pub-{uuid.uuid4().hex[:12]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.connect(HOST, port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(timeout=10)

    def publish_many(self, messages, *, qos: int = 1) -> None:
        infos = [self.client.publish(topic, payload, qos=qos) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout=10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def broker_address(mosquitto):
    """The session's broker as the bridge addresses it."""
    from workers.mqtt.address import BrokerAddress

    return BrokerAddress(mosquitto.host, mosquitto.port)


@pytest.fixture
def mqtt_publisher(mosquitto):
    """A publisher on the session's broker."""
    publisher = MqttPublisher(mosquitto.port)
    yield publisher
    publisher.close()


@pytest.fixture
def own_broker(tmp_path):
    """A private Mosquitto of the test alone (to kill and restart), with room for 100,000
    queued messages per client."""
    broker = Mosquitto(tmp_path / "own-broker", limits={"max_queued_messages": 100_000})
    broker.start()
    yield broker
    broker.kill()


@pytest.fixture
def make_mqtt_publisher():
    """Publishers for other ports (e.g. an own_broker); closed at the end of the test."""
    made: list[MqttPublisher] = []

    def make(port: int) -> MqttPublisher:
        publisher = MqttPublisher(port)
        made.append(publisher)
        return publisher

    yield make
    for publisher in made:
        publisher.close()
