"""Real processes for the integration tests: a private Mosquitto, the bridge and a Celery
worker, all pointed at the pytest-django test database and a private Redis namespace."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.mosquitto import Mosquitto

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
CELERY = str(Path(sys.executable).parent / "celery")
SIGNALS = [f"s{index}" for index in range(10)]


def wait_for(condition, timeout_s: float = 30.0, interval_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval_s)
    return bool(condition())


@dataclass
class ManagedProcess:
    name: str
    command: list[str]
    environment: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None
    starts: int = 0

    def start(self) -> ManagedProcess:
        self.starts += 1
        log = open(self.log_path, "ab")  # noqa: SIM115 (handed to the child)
        log.write(f"\n==== start {self.starts} ====\n".encode())
        log.flush()
        self.process = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=self.environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill it with its children
        )
        log.close()
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_since_start(self) -> str:
        return self.log().rsplit(f"==== start {self.starts} ====", 1)[-1]

    def wait_for_log(self, pattern: str, timeout_s: float = 60.0) -> None:
        regex = re.compile(pattern)
        if not wait_for(lambda: regex.search(self.log_since_start()) is not None, timeout_s):
            raise AssertionError(f"{self.name}: no {pattern!r} in its log:\n{self.log()[-3000:]}")

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self, signum: int = signal.SIGKILL) -> None:
        if self.is_running():
            assert self.process is not None
            try:
                os.killpg(self.process.pid, signum)
            except ProcessLookupError:
                return
            self.process.wait(timeout=30)

    def pause(self) -> None:
        """SIGSTOP to the process group: it runs nothing until ``resume`` (or a SIGKILL)."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGCONT)

    def terminate(self, timeout_s: float = 30.0) -> int:
        """SIGTERM to the main process; its exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout_s)


@dataclass
class Pipeline:
    broker_port: int
    root: str
    client_id: str
    queue: str
    prefix: str
    environment: dict[str, str]
    tmp_path: Path
    processes: list[ManagedProcess] = field(default_factory=list)

    def bridge(self, *extra: str) -> ManagedProcess:
        process = ManagedProcess(
            "bridge",
            [PYTHON, "manage.py", "mqtt_bridge", "--stats-interval", "0", *extra],
            self.environment,
            self.tmp_path / f"bridge-{len(self.processes)}.log",
        )
        self.processes.append(process)
        return process

    def worker(self) -> ManagedProcess:
        process = ManagedProcess(
            "worker",
            [
                CELERY,
                "-A",
                "mes_site",
                "worker",
                "-Q",
                self.queue,
                "-c",
                "1",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"{self.queue}@%h",
                "--loglevel",
                "INFO",
            ],
            self.environment,
            self.tmp_path / f"worker-{len(self.processes)}.log",
        )
        self.processes.append(process)
        return process

    def topic(self, equipment_path: str, leaf: str | None = None) -> str:
        return "/".join(part for part in (self.root, equipment_path, leaf) if part)


@pytest.fixture
def broker(tmp_path):
    """A private Mosquitto whose queue for an absent persistent session is large (the machine's
    broker keeps only 1,000 messages per session) and whose in-flight window is unlimited."""
    mosquitto = Mosquitto(
        tmp_path / "broker", limits={"max_queued_messages": 1_000_000, "max_inflight_messages": 0}
    ).start()
    yield mosquitto.port
    mosquitto.kill()


@pytest.fixture
def pipeline(broker, tmp_path, settings, transactional_db):
    """Environment of the subprocesses: the test database, a private queue and namespace."""
    from django.db import connection

    from mes_site.redis import redis_client
    from workers import selectors

    tag = uuid.uuid4().hex[:10]
    database = connection.settings_dict
    database_url = (
        f"postgres://{database['USER'] or 'postgres'}@{database['HOST'] or 'localhost'}:"
        f"{database['PORT'] or 5432}/{database['NAME']}"
    )
    root = f"it-{tag}"
    queue = f"test-ingest-{tag}"
    prefix = f"test-ingest:{tag}"
    settings.INGEST_REDIS_PREFIX = prefix
    settings.INGEST_QUEUE = queue
    settings.INGEST_FOLLOWUP_QUEUE = f"{queue}-followup"
    settings.MQTT_UNS_ROOT = root
    selectors.contracts_forget()
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DATABASE_CONN_MAX_AGE": "0",
        "REDIS_URL": settings.REDIS_URL,
        "MQTT_URL": f"mqtt://127.0.0.1:{broker}",
        "MQTT_UNS_ROOT": root,
        "MQTT_BRIDGE_CLIENT_ID": f"it-bridge-{tag}",
        "MQTT_SESSION_EXPIRY_S": "300",
        "SPARKPLUG_HOST_ENABLED": "false",
        "SPARKPLUG_HOST_ID": f"it-host-{tag}",
        "INGEST_QUEUE": queue,
        "INGEST_FOLLOWUP_QUEUE": f"{queue}-followup",
        "INGEST_REDIS_PREFIX": prefix,
        "INGEST_BATCH_MAX_WAIT_MS": "50",
        "CELERY_VISIBILITY_TIMEOUT_S": "4",
        "PYTHONUNBUFFERED": "1",
    }
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    result = Pipeline(broker, root, f"it-bridge-{tag}", queue, prefix, environment, tmp_path)
    yield result
    for process in result.processes:
        process.kill()
    client = redis_client()
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    for name in (queue, f"{queue}-followup"):
        keys += [name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}"]
    client.delete(*keys)
    selectors.contracts_forget()


@pytest.fixture
def equipment(plant):
    """The test plant's equipment with number signals s0…s9 (°C, ±100)."""
    from production.models import Signal

    for name in SIGNALS:
        Signal.objects.create(
            equipment=plant.equipment, name=name, unit="degC", min_value=-100, max_value=100
        )
    return plant.equipment
