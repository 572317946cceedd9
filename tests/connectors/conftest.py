"""Fixtures of the connector tests: the ingest environment and signals of tests/workers."""

from tests.workers.conftest import ingest_env, telemetry

__all__ = ["ingest_env", "telemetry"]
