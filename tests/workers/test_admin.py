"""Dead-letter admin: grouped by reason, resolve, replay, map an unknown topic to a Signal."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from production.models import Signal
from tests.mfa import login_verified
from workers.ingest.uns import ingest_uns_batch
from workers.models import DeadLetter, Reading

pytestmark = pytest.mark.django_db


def _ingest(messages) -> None:
    ingest_uns_batch(batch_id=str(uuid.uuid4()), published_at=datetime.now(UTC), messages=messages)


def _message(topic: str, value, unit: str | None = None, offset_ms: int = 0) -> list:
    document = {"ts": round(datetime.now(UTC).timestamp() * 1000) + offset_ms, "value": value}
    if unit:
        document["unit"] = unit
    return [topic, json.dumps(document).encode()]


@pytest.fixture
def admin_client(client, admin_user):
    return login_verified(client, admin_user)


def test_the_changelist_sums_open_dead_letters_by_reason(telemetry, admin_client):
    path = telemetry.path
    _ingest([[f"{path}/temperature", b"{"]] * 3 + [[f"{path}/running", b"{"]])
    _ingest([_message(f"{path}/humidity", 1)])
    response = admin_client.get("/admin/workers/deadletter/")
    assert response.status_code == 200
    assert response.context["reason_summary"] == [
        {"reason_code": "bad_json", "groups": 2, "messages": 4},
        {"reason_code": "unknown_signal", "groups": 1, "messages": 1},
    ]
    assert b"Map to a signal" in response.content


def test_mapping_an_unknown_topic_creates_the_signal_and_replays(
    telemetry, admin_client, django_capture_on_commit_callbacks
):
    topic = f"{telemetry.path}/humidity"
    _ingest([_message(topic, 41.0, "%", -10), _message(topic, 42.0, "%")])
    dead_letter = DeadLetter.objects.get(reason_code="unknown_signal")
    url = f"/admin/workers/deadletter/{dead_letter.pk}/map-signal/"
    form = admin_client.get(url)
    assert form.status_code == 200
    initial = form.context["form"].initial
    assert (initial["equipment"], initial["name"], initial["unit"], initial["data_type"]) == (
        telemetry.equipment,
        "humidity",
        "%",
        "number",
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            url,
            {
                "equipment": telemetry.equipment.pk,
                "name": "humidity",
                "data_type": "number",
                "unit": "%",
                "min_value": "0",
                "max_value": "100",
                "replay": "on",
            },
        )
    assert response.status_code == 302
    signal = Signal.objects.get(equipment=telemetry.equipment, name="humidity")
    assert (signal.unit, signal.min_value, signal.max_value) == ("%", 0.0, 100.0)
    assert sorted(Reading.objects.filter(signal=signal).values_list("value", flat=True)) == [
        41.0,
        42.0,
    ]
    dead_letter.refresh_from_db()
    assert (dead_letter.is_resolved, dead_letter.count) == (True, 0)


def test_mapping_refuses_an_equipment_the_topic_does_not_name(telemetry, admin_client, plant):
    _ingest([_message(f"{telemetry.path}/humidity", 41.0)])
    dead_letter = DeadLetter.objects.get(reason_code="unknown_signal")
    response = admin_client.post(
        f"/admin/workers/deadletter/{dead_letter.pk}/map-signal/",
        {"equipment": plant.other_equipment.pk, "name": "humidity", "data_type": "number"},
    )
    assert response.status_code == 200
    assert "readings are matched by their equipment" in str(response.context["form"].errors)
    assert not Signal.objects.filter(name="humidity").exists()


def test_resolve_and_replay_actions(telemetry, admin_client):
    _ingest([_message(f"{telemetry.path}/humidity", 41.0), [f"{telemetry.path}/running", b"{"]])
    unknown = DeadLetter.objects.get(reason_code="unknown_signal")
    bad = DeadLetter.objects.get(reason_code="bad_json")
    response = admin_client.post(
        "/admin/workers/deadletter/",
        {"action": "resolve", "_selected_action": [bad.pk]},
    )
    assert response.status_code == 302
    bad.refresh_from_db()
    assert bad.is_resolved is True
    Signal.objects.create(equipment=telemetry.equipment, name="humidity")
    from workers.selectors import contracts_forget

    contracts_forget()
    admin_client.post(
        "/admin/workers/deadletter/", {"action": "replay", "_selected_action": [unknown.pk]}
    )
    unknown.refresh_from_db()
    assert unknown.is_resolved is True
    assert Reading.objects.filter(signal__name="humidity").count() == 1


def test_a_user_without_the_permissions_cannot_map(telemetry, client, make_user):
    _ingest([_message(f"{telemetry.path}/humidity", 41.0)])
    dead_letter = DeadLetter.objects.get()
    user = make_user("supervisor")
    user.is_staff = True
    user.save()
    login_verified(client, user)
    response = client.get(f"/admin/workers/deadletter/{dead_letter.pk}/map-signal/")
    assert response.status_code == 403
