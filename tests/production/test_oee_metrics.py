"""The OEE computations are timed for Prometheus (docs/observability.md)."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from production.services.oee_snapshots import oee_snapshots_maintain

pytestmark = pytest.mark.django_db


def _count(kind: str) -> float:
    labels = {"kind": kind}
    return REGISTRY.get_sample_value("mes_oee_computation_seconds_count", labels) or 0.0


def test_the_snapshot_maintenance_is_timed(plant):
    before, live_before = _count("snapshots_maintain"), _count("live_publish")
    oee_snapshots_maintain()
    assert _count("snapshots_maintain") == before + 1
    assert _count("live_publish") == live_before  # another kind, not touched here
