"""/api/live/: the HMI's idempotent good/scrap report."""

from __future__ import annotations

import uuid

import pytest
from django.core.cache import cache

from live.api.views import report_fingerprint_body
from mes_site.idempotency import Fingerprint
from production.models import Operation
from traceability.models import IdempotencyKey
from traceability.services.idempotency import idempotency_key_claim

pytestmark = pytest.mark.django_db


@pytest.fixture
def running_operation(plant, make_work_order):
    from production import services

    work_order = make_work_order(state="in_progress")
    operation = work_order.operations.order_by("sequence").first()
    services.operation_start(operation_id=operation.pk, actor=None)
    return operation


def test_a_repeated_report_request_is_booked_once(api_for, running_operation):
    operator = api_for("operator")
    request_id = str(uuid.uuid4())
    url = f"/api/live/operations/{running_operation.pk}/report/"
    first = operator.post(url, {"request_id": request_id, "scrap": 2, "reason": "Burr"}, "json")
    second = operator.post(url, {"request_id": request_id, "scrap": 2, "reason": "Burr"}, "json")
    assert first.status_code == 200
    assert first.json()["quantity_scrap"] == 2
    assert "duplicate" not in first.json()
    assert second.status_code == 200
    assert second.json()["duplicate"] is True
    assert second.json()["quantity_scrap"] == 2
    assert Operation.objects.get(pk=running_operation.pk).quantity_scrap == 2
    other = operator.post(url, {"request_id": str(uuid.uuid4()), "good": 1}, "json")
    assert other.json()["quantity_good"] == 1


def test_a_refused_report_can_be_sent_again(api_for, running_operation):
    from production import services

    operator = api_for("operator")
    request_id = str(uuid.uuid4())
    url = f"/api/live/operations/{running_operation.pk}/report/"
    services.operation_complete(operation_id=running_operation.pk, actor=None)
    refused = operator.post(url, {"request_id": request_id, "good": 1}, "json")
    assert refused.status_code == 409
    assert cache.get(f"live:report:{refused.wsgi_request.user.pk}:{request_id}") is None
    assert not IdempotencyKey.objects.exists()


def test_a_report_needs_a_request_id_and_the_scope(api_for, plant, running_operation):
    operator = api_for("operator")
    url = f"/api/live/operations/{running_operation.pk}/report/"
    missing = operator.post(url, {"good": 1}, "json")
    assert missing.status_code == 400
    assert "request_id" in missing.json()["detail"]
    elsewhere = api_for("operator", lines=[plant.other_line], username="elsewhere")
    assert elsewhere.post(
        url, {"request_id": str(uuid.uuid4()), "good": 1}, "json"
    ).status_code == (404)
    quality = api_for("quality")
    refused = quality.post(url, {"request_id": str(uuid.uuid4()), "good": 1}, "json")
    assert refused.status_code == 403
    assert Operation.objects.get(pk=running_operation.pk).quantity_good == 0


def test_a_report_request_id_is_an_idempotency_key(api_for, running_operation):
    operator = api_for("operator")
    request_id = str(uuid.uuid4())
    url = f"/api/live/operations/{running_operation.pk}/report/"
    first = operator.post(url, {"request_id": request_id, "good": 3}, "json")
    second = operator.post(url, {"request_id": request_id, "good": 3}, "json")
    assert first.status_code == second.status_code == 200
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == {**first.json(), "duplicate": True}
    assert cache.get(f"live:report:{first.wsgi_request.user.pk}:{request_id}") is None
    record = IdempotencyKey.objects.get()
    assert (record.key, record.path, record.response_status) == (
        f"hmi-report:{request_id}",
        url,
        200,
    )
    changed = operator.post(url, {"request_id": request_id, "good": 4}, "json")
    assert changed.status_code == 422
    assert changed.json()["code"] == "idempotency_key_reused"
    assert Operation.objects.get(pk=running_operation.pk).quantity_good == 3


def test_a_report_still_being_booked_is_409(api_for, running_operation):
    operator = api_for("operator")
    request_id = str(uuid.uuid4())
    url = f"/api/live/operations/{running_operation.pk}/report/"
    first = operator.post(url, {"request_id": request_id, "good": 1}, "json")
    IdempotencyKey.objects.all().delete()
    user = first.wsgi_request.user
    other_id = str(uuid.uuid4())
    body = {"request_id": other_id, "good": 1, "scrap": 0, "reason": ""}
    claim = idempotency_key_claim(
        user_id=user.pk,
        key=f"hmi-report:{other_id}",
        fingerprint=Fingerprint.of(method="POST", path=url, body=report_fingerprint_body(body)),
    )
    assert claim.is_claimed
    busy = operator.post(url, {"request_id": other_id, "good": 1}, "json")
    assert busy.status_code == 409
    assert busy.json()["code"] == "idempotency_key_in_flight"
    assert Operation.objects.get(pk=running_operation.pk).quantity_good == 1
