"""The base of the follow-up tasks: retried on a transient database error.

A follow-up task (alerts, OEE publish, health refresh, a schedule run) that meets a dropped
database connection — a PostgreSQL restart or fail-over, an idle connection cut by a proxy,
``pg_terminate_backend`` — would otherwise fail once and its work would be lost. With
``base=DatabaseRetryTask`` Celery retries it on ``OperationalError``/``InterfaceError`` with
exponential backoff and full jitter (at most ``retry_backoff_max`` s between tries,
``max_retries`` tries), after closing the thread's database connections so that the retry
opens fresh ones instead of reusing the dead socket.
"""

from __future__ import annotations

from celery import Task
from django.db import InterfaceError, OperationalError, connections

TRANSIENT_DATABASE_ERRORS = (OperationalError, InterfaceError)


def database_connections_close() -> None:
    """Close this thread's database connections (a dead one cannot be reused)."""
    for connection in connections.all(initialized_only=True):
        connection.close()


class DatabaseRetryTask(Task):
    autoretry_for = TRANSIENT_DATABASE_ERRORS
    max_retries = 5
    retry_backoff = 2  # seconds before the first retry, doubled each time (then jittered)
    retry_backoff_max = 60
    retry_jitter = True

    def retry(self, *args, exc=None, **kwargs):
        if isinstance(exc, TRANSIENT_DATABASE_ERRORS):
            database_connections_close()
        return super().retry(*args, exc=exc, **kwargs)
