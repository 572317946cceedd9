"""Telemetry API: series with LTTB, current values, ingest status, dead letters; permissions
and plant scope."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from production.models import Signal
from workers import store
from workers.ingest.uns import ingest_uns_batch

pytestmark = pytest.mark.django_db


def _base() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)


def _write(signal, start: datetime, values: list[float], step_s: float = 1.0) -> None:
    store.readings_write(
        [
            (signal.id, start + timedelta(seconds=step_s * index), value, None, 192)
            for index, value in enumerate(values)
        ]
    )


def _series_url(signal, **query) -> str:
    params = "&".join(f"{key}={value}" for key, value in query.items())
    return f"/api/telemetry/signals/{signal.id}/series/?{params}"


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_a_series_of_ten_thousand_points_is_downsampled_to_a_hundred_keeping_the_peak(
    telemetry, api_for
):
    start = _base()
    values = [20.0 + (index % 7) * 0.1 for index in range(10_000)]
    values[6543] = 180.0  # one spike
    _write(telemetry.temperature, start, values, step_s=0.5)
    client = api_for("operator")
    response = client.get(
        _series_url(
            telemetry.temperature,
            start=_iso(start),
            end=_iso(start + timedelta(hours=2)),
            max_points=100,
        )
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["source"], body["total_points"], len(body["points"])) == ("raw", 10_000, 100)
    assert (body["name"], body["unit"], body["data_type"]) == ("temperature", "degC", "number")
    assert max(point["value"] for point in body["points"]) == 180.0
    assert body["points"][0]["ts"] == _iso(start)
    assert body["points"][-1]["ts"] == _iso(start + timedelta(seconds=0.5 * 9_999)).replace(
        ".500000", ".500000"
    )
    assert body["points"][0]["min_value"] is None


def test_a_long_range_reads_the_minute_rollups(telemetry, api_for, settings):
    settings.INGEST_SERIES_RAW_MAX_RANGE_S = 3600
    start = _base().replace(second=0)
    values = [float(index % 60) for index in range(180)]  # three minutes at 1 Hz
    _write(telemetry.temperature, start, values)
    client = api_for("supervisor")
    response = client.get(
        _series_url(
            telemetry.temperature,
            start=_iso(start - timedelta(hours=1)),
            end=_iso(start + timedelta(hours=1)),
        )
    )
    body = response.json()
    assert (body["source"], body["total_points"]) == ("rollup", 3)
    assert [
        (point["ts"], point["value"], point["min_value"], point["max_value"])
        for point in body["points"]
    ] == [(_iso(start + timedelta(minutes=m)), 29.5, 0.0, 59.0) for m in range(3)]


def test_series_refuses_text_signals_and_bad_ranges(telemetry, api_for):
    client = api_for("operator")
    text = client.get(_series_url(telemetry.program))
    assert (text.status_code, text.json()["code"]) == (400, "not_numeric")
    start = _base()
    backwards = client.get(
        _series_url(telemetry.temperature, start=_iso(start), end=_iso(start - timedelta(hours=1)))
    )
    assert (backwards.status_code, backwards.json()["code"]) == (400, "invalid")
    too_many = client.get(_series_url(telemetry.temperature, max_points=20_000))
    assert too_many.status_code == 400


def test_signals_and_equipment_outside_the_users_scope_are_404(telemetry, api_for, plant):
    other_signal = Signal.objects.create(equipment=plant.other_equipment, name="temperature")
    operator = api_for("operator")
    assert operator.get(_series_url(other_signal)).status_code == 404
    assert (
        operator.get(
            f"/api/telemetry/equipment/{plant.other_equipment.id}/current-values/"
        ).status_code
        == 404
    )
    assert operator.get(_series_url(telemetry.temperature)).status_code == 200
    assert api_for("maintenance", username="m").get(_series_url(other_signal)).status_code == 200


def test_users_without_the_telemetry_view_permissions_get_403(telemetry):
    # Every role reads telemetry; a user in no role (e.g. a fresh account) does not.
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    outsider = APIClient()
    outsider.force_authenticate(get_user_model().objects.create_user("nobody", password="x" * 12))
    assert outsider.get(_series_url(telemetry.temperature)).status_code == 403
    assert outsider.get("/api/telemetry/status/").status_code == 403
    assert outsider.get("/api/telemetry/dead-letters/").status_code == 403
    assert (
        outsider.get(
            f"/api/telemetry/equipment/{telemetry.equipment.id}/current-values/"
        ).status_code
        == 403
    )


def test_current_values_come_from_the_live_cache_with_stale_marks(telemetry, api_for):
    ts = datetime.now(UTC).replace(microsecond=0)
    store.current_values_apply(
        {telemetry.equipment.id: {"temperature": (ts, 71.5, 192), "running": (ts, True, 192)}}
    )
    store.current_values_mark_stale([(telemetry.equipment.id, ["running"], ts)])
    response = api_for("operator").get(
        f"/api/telemetry/equipment/{telemetry.equipment.id}/current-values/"
    )
    assert response.status_code == 200
    assert response.json() == {
        "equipment": telemetry.equipment.id,
        "uns_path": telemetry.path,
        "values": [
            {
                "signal": "running",
                "value": True,
                "unit": "",
                "ts": _iso(ts),
                "quality": 192,
                "is_stale": True,
                "stale_at": _iso(ts),
            },
            {
                "signal": "temperature",
                "value": 71.5,
                "unit": "degC",
                "ts": _iso(ts),
                "quality": 192,
                "is_stale": False,
                "stale_at": None,
            },
        ],
    }


def _ingest(messages) -> None:
    ingest_uns_batch(batch_id=str(uuid.uuid4()), published_at=datetime.now(UTC), messages=messages)


def _message(topic: str, value) -> list:
    ts = round(datetime.now(UTC).timestamp() * 1000)
    return [topic, json.dumps({"ts": ts, "value": value}).encode()]


def test_the_status_reports_rate_lag_and_dead_letters_by_reason(telemetry, api_for):
    path = telemetry.path
    _ingest([_message(f"{path}/temperature", 20.0), _message(f"{path}/running", True)])
    _ingest([[f"{path}/temperature", b"{"], [f"{path}/running", b"{"], _message(f"{path}/x", 1)])
    response = api_for("supervisor").get("/api/telemetry/status/")
    assert response.status_code == 200
    body = response.json()
    assert body["batch_count"] == 2
    assert body["messages_per_s"] == pytest.approx(5 / 60)
    assert body["stored_per_s"] == pytest.approx(2 / 60)
    assert body["dead_letters_per_s"] == pytest.approx(3 / 60)
    assert body["lag_max_s"] >= 0
    assert body["queue_length"] == 0
    assert body["dead_letters_by_reason"] == [
        {"reason_code": "bad_json", "group_count": 2, "message_count": 2},
        {"reason_code": "unknown_signal", "group_count": 1, "message_count": 1},
    ]


def test_dead_letters_are_listed_filtered_and_scoped(telemetry, api_for, plant):
    other_path = plant.other_equipment.uns_path
    _ingest(
        [
            [f"{telemetry.path}/temperature", b"{"],
            _message(f"{telemetry.path}/humidity", 1),
            _message(f"{other_path}/humidity", 1),
            _message("a/b/c/d/e/f/g", 1),
        ]
    )
    admin = api_for("admin")
    everything = admin.get("/api/telemetry/dead-letters/").json()
    assert everything["count"] == 4
    unknown = admin.get("/api/telemetry/dead-letters/?reason_code=unknown_signal").json()
    assert sorted(item["topic"] for item in unknown["results"]) == sorted(
        [f"{other_path}/humidity", f"{telemetry.path}/humidity"]
    )
    operator = api_for("operator").get("/api/telemetry/dead-letters/").json()
    assert sorted(item["topic"] for item in operator["results"]) == [
        f"{telemetry.path}/humidity",
        f"{telemetry.path}/temperature",
    ]
    item = operator["results"][0]
    assert set(item) == {
        "id",
        "source",
        "topic",
        "reason_code",
        "message",
        "payload_excerpt",
        "payload_size_bytes",
        "count",
        "first_seen_at",
        "last_seen_at",
        "equipment",
        "is_resolved",
        "resolved_at",
    }


def test_the_dead_letter_list_takes_a_constant_number_of_queries(telemetry, api_for):
    admin = api_for("admin")
    _ingest([_message(f"{telemetry.path}/unknown_{index}", 1) for index in range(3)])
    assert admin.get("/api/telemetry/dead-letters/").status_code == 200  # warms the caches
    with CaptureQueriesContext(connection) as few:
        assert admin.get("/api/telemetry/dead-letters/").status_code == 200
    _ingest([_message(f"{telemetry.path}/more_{index}", 1) for index in range(20)])
    with CaptureQueriesContext(connection) as many:
        assert admin.get("/api/telemetry/dead-letters/").json()["count"] == 23
    assert len(many.captured_queries) == len(few.captured_queries)
