"""Every task of the project has explicit time limits, and the broker's visibility timeout
outlasts the longest time a live worker may hold a task unacknowledged, so a killed
worker's tasks (every queue) come back within minutes and a live worker's never twice."""

from __future__ import annotations

from django.conf import settings

from mes_site.celery import app
from mes_site.tasks import DatabaseRetryTask

PROJECT_PACKAGES = ("autonomy.", "inventory.", "live.", "maintenance.", "planning.")
PROJECT_PACKAGES += ("production.", "quality.", "traceability.", "workers.")
# The longest countdown a task waits for on a worker (maintenance retries cap theirs at 300 s).
LONGEST_COUNTDOWN_S = 300
FOLLOW_UP_TASKS = {
    "workers.tasks.alerts_evaluate",
    "production.tasks.alerts_evaluate_signal_values",
    "production.tasks.oee_publish_trailing",
    "maintenance.tasks.health_refresh",
    "maintenance.tasks.diagnostics_publish",
    "planning.tasks.schedule_run_execute",
}


def _project_tasks():
    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if name.startswith(PROJECT_PACKAGES)}


def test_every_task_has_a_soft_and_a_hard_time_limit():
    tasks = _project_tasks()
    assert len(tasks) >= 19
    missing = sorted(
        name
        for name, task in tasks.items()
        if not task.time_limit
        or not task.soft_time_limit
        or task.soft_time_limit >= task.time_limit
    )
    assert missing == []


def test_the_visibility_timeout_outlasts_the_longest_task_and_is_minutes_not_an_hour():
    longest_s = max(task.time_limit for task in _project_tasks().values())
    visibility_timeout_s = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert visibility_timeout_s > longest_s + LONGEST_COUNTDOWN_S
    assert visibility_timeout_s <= 1800


def test_follow_up_tasks_retry_transient_database_errors_with_jittered_backoff():
    tasks = _project_tasks()
    for name in sorted(FOLLOW_UP_TASKS):
        task = tasks[name]
        assert isinstance(task, DatabaseRetryTask), name
        assert task.retry_backoff and task.retry_jitter, name
        assert task.retry_backoff_max == 60, name
