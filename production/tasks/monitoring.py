"""Celery tasks of the monitoring area."""
