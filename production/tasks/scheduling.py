"""Celery tasks of the scheduling area."""
