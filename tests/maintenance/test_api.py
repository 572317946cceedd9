"""Maintenance API: health trend and current, baselines, raw windows, plans, failures,
reliability — plant scope, permissions, errors and query counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from maintenance.models import (
    AnomalyEpisode,
    FailureEvent,
    HealthBaseline,
    HealthSnapshot,
    MaintenanceWorkOrder,
    PreventivePlan,
)
from tests.maintenance.conftest import BASELINE_WINDOWS
from workers.models import Reading


def _snapshot(equipment, ts, **values) -> HealthSnapshot:
    defaults = {
        "state": "assessed",
        "alpha": 0.1,
        "health_index": 0.9,
        "rul_state": "not_degrading",
        "recommendation": "low",
        "model_version": "maint-health-1.0",
    }
    defaults.update(values)
    return HealthSnapshot.objects.create(equipment=equipment, ts=ts, **defaults)


def test_health_trend_and_current_respect_the_plant_scope(api_for, plant):
    t0 = datetime(2026, 5, 1, tzinfo=UTC)
    for hour in range(4):
        _snapshot(plant.equipment, t0 + timedelta(hours=hour), alpha=0.1 * hour)
    _snapshot(plant.other_equipment, t0, alpha=0.9, recommendation="critical")
    supervisor = api_for("supervisor")  # scoped to site 1
    trend = supervisor.get(
        "/api/maintenance/health/",
        {"equipment": plant.equipment.pk, "since": (t0 + timedelta(hours=1)).isoformat()},
    ).json()
    assert [row["alpha"] for row in trend["results"]] == pytest.approx([0.3, 0.2, 0.1])
    assert trend["results"][0]["equipment_code"] == plant.equipment.code
    current = supervisor.get("/api/maintenance/health/current/").json()
    assert [(row["equipment"], row["alpha"]) for row in current] == [
        (plant.equipment.pk, pytest.approx(0.3))
    ]
    other = supervisor.get(
        "/api/maintenance/health/current/", {"equipment": plant.other_equipment.pk}
    ).json()
    assert other == []
    everything = api_for("maintenance").get("/api/maintenance/health/current/").json()
    assert sorted(row["equipment"] for row in everything) == sorted(
        [plant.equipment.pk, plant.other_equipment.pk]
    )
    assert api_for("planner").get("/api/maintenance/health/current/").status_code == 200
    bad = supervisor.get("/api/maintenance/health/current/", {"equipment": "x"})
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid")


def test_refresh_and_relearn_commands_need_maintenance_permissions(api_for, spindle, feed):
    feed.write(spindle, 0.0, BASELINE_WINDOWS)
    body = {"equipment": spindle.equipment.pk}
    assert api_for("operator").post("/api/maintenance/health/refresh/", body).status_code == 403
    technician = api_for("maintenance")
    refreshed = technician.post("/api/maintenance/health/refresh/", body, format="json")
    assert refreshed.status_code == 200, refreshed.content
    assert refreshed.json()["state"] == "assessed"
    relearn = {"equipment": spindle.equipment.pk, "reason": "new bearing"}
    assert (
        api_for("supervisor", username="sup")
        .post("/api/maintenance/baselines/relearn/", relearn, format="json")
        .status_code
        == 403
    )
    created = technician.post("/api/maintenance/baselines/relearn/", relearn, format="json")
    assert created.status_code == 201
    assert (created.json()["status"], created.json()["reason"]) == ("learning", "new bearing")
    baselines = technician.get(
        "/api/maintenance/baselines/", {"equipment": spindle.equipment.pk}
    ).json()
    assert sorted(row["status"] for row in baselines["results"]) == ["current", "learning"]
    unmonitored = technician.post(
        "/api/maintenance/baselines/relearn/", {"equipment": 999_999}, format="json"
    )
    assert (unmonitored.status_code, unmonitored.json()["code"]) == (404, "not_found")


def test_raw_window_is_turned_into_feature_readings(api_for, spindle):
    rng = np.random.default_rng(5)
    samples = rng.normal(0.0, 1.0, 1024)
    ts = timezone.now().replace(microsecond=0) - timedelta(minutes=1)
    body = {
        "equipment": spindle.equipment.pk,
        "ts": ts.isoformat(),
        "sample_rate_hz": 10_000,
        "samples": samples.tolist(),
    }
    assert (
        api_for("planner")
        .post("/api/maintenance/health/raw-windows/", body, format="json")
        .status_code
        == 403
    )
    gateway = api_for("integration")
    response = gateway.post("/api/maintenance/health/raw-windows/", body, format="json")
    assert response.status_code == 201, response.content
    features = response.json()["features"]
    assert features["rms"] == pytest.approx(float(np.sqrt(np.mean(samples**2))))
    assert features["kurtosis"] == pytest.approx(3.0, abs=0.5)
    stored = dict(
        Reading.objects.filter(signal_id__in=spindle.signal_ids.values(), ts=ts).values_list(
            "signal__name", "value"
        )
    )
    assert stored == {f"vibration_{name}": pytest.approx(value) for name, value in features.items()}
    # The same window again is stored once.
    assert (
        gateway.post("/api/maintenance/health/raw-windows/", body, format="json").status_code == 201
    )
    assert Reading.objects.filter(ts=ts).count() == 8


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        ({"samples": [1.0] * 1024}, "constant_signal", "constant"),
        ({"samples": [0.5, None] * 512}, "non_finite_samples", "NaN or infinite"),
        ({"samples": [0.1, -0.2] * 100}, "wrong_window_length", "1024"),
        ({"sample_rate_hz": 20_000}, "wrong_sample_rate", "10000 Hz"),
        ({"ts": "2020-01-01T00:00:00Z"}, "too_old", "retention"),
    ],
)
def test_bad_raw_windows_get_specific_errors(api_for, spindle, change, code, message):
    body = {
        "equipment": spindle.equipment.pk,
        "ts": timezone.now().isoformat(),
        "sample_rate_hz": 10_000,
        "samples": np.random.default_rng(1).normal(size=1024).tolist(),
        **change,
    }
    response = api_for("integration").post(
        "/api/maintenance/health/raw-windows/", body, format="json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["code"] == code
    assert message in response.json()["message"]
    assert not Reading.objects.exists()


def test_failure_events_and_reliability_api(api_for, plant):
    supervisor = api_for("supervisor")
    failed_at = timezone.now() - timedelta(hours=5)
    created = supervisor.post(
        "/api/maintenance/failure-events/",
        {"equipment": plant.equipment.pk, "failed_at": failed_at.isoformat(), "component": "pump"},
        format="json",
    )
    assert created.status_code == 201, created.content
    event = created.json()
    assert event["work_order_number"].startswith("MWO-")
    assert (
        supervisor.post(
            "/api/maintenance/failure-events/",
            {"equipment": plant.other_equipment.pk, "failed_at": failed_at.isoformat()},
            format="json",
        ).status_code
        == 404
    )
    assert (
        api_for("operator")
        .post(
            "/api/maintenance/failure-events/",
            {"equipment": plant.equipment.pk, "failed_at": failed_at.isoformat()},
            format="json",
        )
        .status_code
        == 403
    )
    technician = api_for("maintenance")
    repaired = technician.post(
        f"/api/maintenance/failure-events/{event['id']}/repair/",
        {"repaired_at": (failed_at + timedelta(hours=2)).isoformat()},
        format="json",
    )
    assert repaired.json()["repair_duration_s"] == 7200.0
    figures = supervisor.get(
        "/api/maintenance/reliability/",
        {"equipment": plant.equipment.pk, "since": (failed_at - timedelta(hours=1)).isoformat()},
    ).json()
    assert (figures["failure_event_count"], figures["mean_time_to_repair_h"]) == (1, 2.0)
    assert figures["mean_time_between_failures_s"] == 0.0  # no operating time recorded
    assert (
        supervisor.get(
            "/api/maintenance/reliability/",
            {"equipment": plant.other_equipment.pk, "since": failed_at.isoformat()},
        ).status_code
        == 404
    )
    missing = supervisor.get("/api/maintenance/reliability/", {"equipment": plant.equipment.pk})
    assert (missing.status_code, list(missing.json()["detail"])) == (400, ["since"])


def test_preventive_plan_api(api_for, plant):
    technician = api_for("maintenance")
    body = {
        "equipment": plant.equipment.pk,
        "name": "Grease",
        "trigger": "calendar",
        "interval": 10,
        "cycle_started_at": (timezone.now() - timedelta(days=9.5)).isoformat(),
    }
    assert (
        api_for("supervisor").post("/api/maintenance/plans/", body, format="json").status_code
        == 403
    )
    plan = technician.post("/api/maintenance/plans/", body, format="json").json()
    checked = technician.post(f"/api/maintenance/plans/{plan['id']}/check/").json()
    assert checked["is_due"] is True and checked["due_from"] == 9.0
    assert checked["work_order"]["number"] == f"PM-{plan['id']}-1"
    again = technician.post(f"/api/maintenance/plans/{plan['id']}/check/").json()
    assert again["work_order"]["id"] == checked["work_order"]["id"]
    assert MaintenanceWorkOrder.objects.filter(preventive_plan_id=plan["id"]).count() == 1
    bad = technician.post("/api/maintenance/plans/", {**body, "interval": -1}, format="json")
    assert (bad.status_code, bad.json()["message"]) == (400, "The interval must be positive.")


def _grow(plant, count: int) -> None:
    """``count`` more rows of every listed maintenance model on the supervisor's site."""
    base = HealthSnapshot.objects.count()
    now = timezone.now()
    for index in range(base, base + count):
        ts = now - timedelta(minutes=index + 1)
        episode = AnomalyEpisode.objects.create(
            equipment=plant.equipment, state="closed", started_at=ts, last_anomalous_at=ts
        )
        _snapshot(plant.equipment, ts, episode=episode)
        HealthBaseline.objects.create(equipment=plant.equipment, status="retired")
        PreventivePlan.objects.create(
            equipment=plant.equipment,
            name=f"Plan {index}",
            trigger="calendar",
            interval=30,
            cycle_started_at=ts,
        )
        order = MaintenanceWorkOrder.objects.create(
            number=f"MWO-T-{index}",
            equipment=plant.equipment,
            kind="corrective",
            title="x",
            requested_at=ts,
        )
        FailureEvent.objects.create(equipment=plant.equipment, failed_at=ts, work_order=order)


@pytest.mark.parametrize(
    "url",
    [
        "/api/maintenance/health/",
        "/api/maintenance/health/current/",
        "/api/maintenance/baselines/",
        "/api/maintenance/episodes/",
        "/api/maintenance/plans/",
        "/api/maintenance/failure-events/",
        "/api/maintenance/work-orders/",
    ],
)
def test_list_endpoints_do_not_grow_queries(api_for, plant, url, django_assert_max_num_queries):
    client = api_for("supervisor")
    _grow(plant, 2)
    assert client.get(url).status_code == 200  # warms the user's permission and scope caches
    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    _grow(plant, 5)
    with CaptureQueriesContext(connection) as large:
        response = client.get(url)
    assert response.status_code == 200
    body = response.json()
    assert (body["count"] if isinstance(body, dict) else len(body)) >= 1
    assert len(large.captured_queries) == len(small.captured_queries)
    with django_assert_max_num_queries(6):
        client.get(url)
