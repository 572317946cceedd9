"""``python manage.py connect`` as a process: runs the connections of the database and records
each one's state (with the reason) on the Connection, which the admin shows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from connectors.choices import ConnectionState, Protocol
from connectors.models import Connection, TagMapping
from tests.mosquitto import HOST, free_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]


def _wait_for(condition, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {condition}"
        time.sleep(0.05)


def test_connect_records_the_state_of_each_connection(plant, mosquitto, settings):
    from django.db import connection as database

    from production.models import Signal

    signal_ = Signal.objects.create(equipment=plant.equipment, name="pressure")
    port = free_port()  # nothing listens there
    device = Connection.objects.create(
        name="press-modbus", protocol=Protocol.MODBUS, endpoint=f"modbus://{HOST}:{port}"
    )
    TagMapping.objects.create(connection=device, signal=signal_, address="10")
    values = database.settings_dict
    environment = {
        **os.environ,
        "DATABASE_URL": f"postgres://{values['USER'] or 'postgres'}@{values['HOST'] or 'localhost'}"
        f":{values['PORT'] or 5432}/{values['NAME']}",
        "MQTT_URL": mosquitto.url,
        "PYTHONUNBUFFERED": "1",
    }
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    process = subprocess.Popen(
        [sys.executable, "manage.py", "connect"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for(
            lambda: Connection.objects.get(pk=device.pk).state == ConnectionState.DISCONNECTED
        )
        device.refresh_from_db()
        assert device.state_reason == f"cannot connect to {HOST}:{port}"
        assert device.state_changed_at is not None
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    device.refresh_from_db()
    assert device.state == ConnectionState.STOPPED
