"""Follow-up tasks in a real Celery worker: a dropped database connection is retried, and a
killed worker's task (not only ingest) is handed out again after the visibility timeout.

Celery closes a worker's database connections around every task, so the connection is
dropped while the task runs: the task waits for a lock the test holds, and the test
terminates that task's backend (``pg_terminate_backend``), as a PostgreSQL restart would.
"""

from __future__ import annotations

import re
import signal
import time
from contextlib import contextmanager
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from production.models import Alert, AlertRule, Signal
from production.tasks import alerts_evaluate_signal_values

from .conftest import wait_for

VISIBILITY_TIMEOUT_S = 4  # the pipeline's CELERY_VISIBILITY_TIMEOUT_S


@pytest.fixture
def rule(plant):
    Signal.objects.create(equipment=plant.equipment, name="temperature", unit="degC")
    return AlertRule.objects.create(
        name="hot",
        metric="signal",
        equipment=plant.equipment,
        signal_name="temperature",
        comparison="above",
        threshold=60.0,
        severity="warning",
    )


def _evaluate(pipeline, plant, value: float, **options) -> None:
    ts = (timezone.now() + timedelta(milliseconds=value)).isoformat()
    alerts_evaluate_signal_values.apply_async(
        args=[[[plant.equipment.pk, "temperature", value, ts]]], queue=pipeline.queue, **options
    )


@contextmanager
def _alert_table_locked():
    """Another session holds an exclusive lock on the alert table until the block ends."""
    database = connection.settings_dict
    with psycopg.connect(
        dbname=database["NAME"],
        user=database.get("USER") or "postgres",
        password=database.get("PASSWORD") or None,
        host=database.get("HOST") or "localhost",
        port=database.get("PORT") or 5432,
    ) as locker:
        locker.execute(f"LOCK TABLE {Alert._meta.db_table} IN ACCESS EXCLUSIVE MODE")
        yield locker.info.backend_pid
        locker.rollback()


def _waiting_backends(locker_pid: int) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid NOT IN (pg_backend_pid(), %s)",
            [locker_pid],
        )
        return [row[0] for row in cursor.fetchall()]


def _backend_terminate(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        return cursor.fetchone()[0]


def _is_raised(rule) -> bool:
    return Alert.objects.filter(rule=rule, state="active").exists()


def test_a_follow_up_task_whose_connection_drops_while_it_runs_is_retried(pipeline, plant, rule):
    worker = pipeline.worker().start()
    worker.wait_for_log("ready")
    with _alert_table_locked() as locker_pid:
        _evaluate(pipeline, plant, 90.0)
        # The task waits for the lock on its connection: drop that connection under it.
        assert wait_for(lambda: len(_waiting_backends(locker_pid)) == 1, 60)
        [task_backend] = _waiting_backends(locker_pid)
        assert _backend_terminate(task_backend) is True
        worker.wait_for_log(r"alerts_evaluate_signal_values\[.*\] retry: Retry in")
    assert wait_for(lambda: _is_raised(rule), 60)
    log = worker.log_since_start()
    assert re.search(r"retry: Retry in \d+s: OperationalError", log)
    assert Alert.objects.filter(rule=rule).count() == 1


def test_a_killed_workers_follow_up_task_is_handed_out_again(pipeline, plant, rule):
    first = pipeline.worker().start()
    first.wait_for_log("ready")
    _evaluate(pipeline, plant, 90.0, countdown=10)  # held by the worker, unacknowledged
    first.wait_for_log(r"alerts_evaluate_signal_values\[.*\] received")
    first.kill(signal.SIGKILL)
    assert not _is_raised(rule)
    # Nothing to wait on until the visibility timeout has passed: Redis restores the task to
    # a worker that starts after that.
    time.sleep(VISIBILITY_TIMEOUT_S + 1)
    second = pipeline.worker().start()
    second.wait_for_log("ready")
    assert wait_for(lambda: _is_raised(rule), 60)
    assert Alert.objects.filter(rule=rule).count() == 1
