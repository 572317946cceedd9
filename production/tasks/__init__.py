"""Celery tasks of the production app, one module per area (found by autodiscovery)."""

from production.tasks import monitoring, scheduling

__all__ = ["monitoring", "scheduling"]
