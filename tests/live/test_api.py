"""/api/live/: the HMI's idempotent good/scrap report."""

from __future__ import annotations

import uuid

import pytest
from django.core.cache import cache

from production.models import Operation

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
