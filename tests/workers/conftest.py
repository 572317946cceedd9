"""Fixtures of the ingest tests: an isolated Redis namespace and Celery queues per test, and
signals with contracts on the shared test plant."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest


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
    from workers import selectors, store

    tag = uuid.uuid4().hex[:12]
    settings.INGEST_REDIS_PREFIX = f"test-ingest:{tag}"
    settings.INGEST_QUEUE = f"test-ingest-{tag}"
    settings.INGEST_FOLLOWUP_QUEUE = f"test-followup-{tag}"
    settings.MQTT_UNS_ROOT = ""
    selectors.contracts_forget()
    client = store.redis_client()
    environment = IngestEnvironment(
        tag, settings.INGEST_QUEUE, settings.INGEST_FOLLOWUP_QUEUE, client
    )
    yield environment
    selectors.contracts_forget()
    keys = list(client.scan_iter(match=f"test-ingest:{tag}:*", count=1000))
    keys += [environment.queue, environment.followup_queue]
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
