"""Idempotency keys on the API's unsafe methods (the IETF ``Idempotency-Key`` header draft)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from mes_site.idempotency import Fingerprint
from production.models import WorkOrder
from tests.api_tokens import make_api_token
from traceability.choices import IdempotencyKeyState
from traceability.models import IdempotencyKey
from traceability.services import idempotency as idempotency_services

URL = "/api/production/work-orders/"


def _payload(plant, **overrides) -> dict:
    return {
        "number": "ERP-7",
        "product": plant.product.code,
        "quantity": 7,
        "due_at": "2026-12-01T08:00:00Z",
        "site": plant.site.pk,
        "line": plant.line.pk,
        **overrides,
    }


@pytest.mark.django_db
def test_a_retry_with_the_same_key_replays_the_first_response(api_for, plant):
    client = api_for("integration")
    first = client.post(URL, _payload(plant), format="json", HTTP_IDEMPOTENCY_KEY="order-7")
    second = client.post(URL, _payload(plant), format="json", HTTP_IDEMPOTENCY_KEY="order-7")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    assert second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.headers["Content-Type"] == "application/json"
    assert second.json() == first.json()
    assert WorkOrder.objects.filter(number="ERP-7").count() == 1
    record = IdempotencyKey.objects.get()
    assert (record.key, record.state, record.response_status) == (
        "order-7",
        IdempotencyKeyState.COMPLETED,
        201,
    )
    assert (record.method, record.path) == ("POST", URL)


@pytest.mark.django_db
def test_keys_belong_to_their_user(api_for, plant):
    first = api_for("integration").post(
        URL, _payload(plant), format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    other = api_for("planner").post(
        URL, _payload(plant, number="ERP-8"), format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert (first.status_code, other.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in other.headers
    assert WorkOrder.objects.count() == 2


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_422(api_for, plant):
    client = api_for("integration")
    client.post(URL, _payload(plant), format="json", HTTP_IDEMPOTENCY_KEY="order-7")
    reused = client.post(
        URL, _payload(plant, quantity=8), format="json", HTTP_IDEMPOTENCY_KEY="order-7"
    )
    assert reused.status_code == 422
    assert reused.json() == {
        "code": "idempotency_key_reused",
        "message": "This Idempotency-Key was used for a different request.",
        "detail": {},
    }
    assert "Idempotent-Replayed" not in reused.headers
    assert list(WorkOrder.objects.values_list("quantity", flat=True)) == [7]


@pytest.mark.django_db
def test_the_same_key_on_another_path_is_422(api_for, make_work_order):
    work_order = make_work_order(state="planned")
    client = api_for("supervisor")
    client.post(f"{URL}{work_order.pk}/release/", {}, format="json", HTTP_IDEMPOTENCY_KEY="cmd-1")
    reused = client.post(
        f"{URL}{work_order.pk}/cancel/", {}, format="json", HTTP_IDEMPOTENCY_KEY="cmd-1"
    )
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"
    assert WorkOrder.objects.get(pk=work_order.pk).state == "released"


@pytest.mark.django_db
def test_a_retry_while_the_first_is_processed_is_409(api_for, plant, make_user):
    user = make_user("integration")
    client = APIClient()
    client.force_authenticate(user)
    body = client._encode_data(_payload(plant), format="json")[0]
    claim = idempotency_services.idempotency_key_claim(
        user_id=user.pk,
        key="order-7",
        fingerprint=Fingerprint.of(method="POST", path=URL, body=body),
    )
    assert claim.is_claimed
    busy = client.post(URL, _payload(plant), format="json", HTTP_IDEMPOTENCY_KEY="order-7")
    assert busy.status_code == 409
    assert busy.json() == {
        "code": "idempotency_key_in_flight",
        "message": "A request with this Idempotency-Key is still being processed.",
        "detail": {},
    }
    assert not WorkOrder.objects.exists()
    assert IdempotencyKey.objects.get().state == IdempotencyKeyState.IN_FLIGHT


@pytest.mark.django_db
def test_a_4xx_result_is_stored_and_replayed(api_for, plant):
    client = api_for("integration")
    bad = _payload(plant, quantity=0)
    first = client.post(URL, bad, format="json", HTTP_IDEMPOTENCY_KEY="bad-1")
    second = client.post(URL, bad, format="json", HTTP_IDEMPOTENCY_KEY="bad-1")
    assert first.status_code == second.status_code == 400
    assert second.json() == first.json()
    assert second.json()["code"] == "invalid"
    assert second.headers["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_a_failed_first_request_releases_the_key(api_for, plant, monkeypatch):
    from production.api import views as production_views

    client = api_for("integration")

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(production_views.services, "work_order_create", broken)
    client.raise_request_exception = False
    failed = client.post(URL, _payload(plant), format="json", HTTP_IDEMPOTENCY_KEY="order-7")
    assert failed.status_code == 500
    assert not IdempotencyKey.objects.exists()
    monkeypatch.undo()
    retried = client.post(URL, _payload(plant), format="json", HTTP_IDEMPOTENCY_KEY="order-7")
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried.headers
    assert WorkOrder.objects.filter(number="ERP-7").count() == 1


@pytest.mark.django_db
def test_a_5xx_response_releases_the_key(api_for, plant, monkeypatch):
    from rest_framework.response import Response

    from production.api import views as production_views

    client = api_for("integration")
    monkeypatch.setattr(
        production_views.WorkOrderViewSet,
        "create",
        lambda self, request, *args, **kwargs: Response({"code": "busy"}, status=503),
    )
    unavailable = client.post(URL, _payload(plant), format="json", HTTP_IDEMPOTENCY_KEY="order-7")
    assert unavailable.status_code == 503
    assert not IdempotencyKey.objects.exists()


@pytest.mark.django_db
def test_requests_without_the_header_are_unchanged(api_for, plant):
    client = api_for("integration")
    first = client.post(URL, _payload(plant), format="json")
    second = client.post(URL, _payload(plant), format="json")
    assert (first.status_code, second.status_code) == (201, 409)
    assert second.json()["code"] == "conflict"
    assert "Idempotent-Replayed" not in second.headers
    assert not IdempotencyKey.objects.exists()


@pytest.mark.django_db
def test_safe_methods_ignore_the_header(api_for, plant):
    response = api_for("integration").get(URL, HTTP_IDEMPOTENCY_KEY="")
    assert response.status_code == 200
    assert not IdempotencyKey.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there", "line\x7f"])
def test_a_malformed_key_is_400(api_for, plant, key):
    response = api_for("integration").post(
        URL, _payload(plant), format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid",
        "message": "The request is not valid.",
        "detail": {
            "Idempotency-Key": ["Must be 1 to 255 printable ASCII characters."],
        },
    }
    assert not WorkOrder.objects.exists()
    assert not IdempotencyKey.objects.exists()


@pytest.mark.django_db
def test_a_quoted_key_is_the_same_key(api_for, plant):
    client = api_for("integration")
    client.post(URL, _payload(plant), format="json", HTTP_IDEMPOTENCY_KEY='"order-7"')
    second = client.post(URL, _payload(plant), format="json", HTTP_IDEMPOTENCY_KEY="order-7")
    assert second.headers["Idempotent-Replayed"] == "true"
    assert IdempotencyKey.objects.get().key == "order-7"


@pytest.mark.django_db
def test_an_expired_key_is_purged_and_may_be_used_again(api_for, plant, settings):
    client = api_for("integration")
    client.post(URL, _payload(plant), format="json", HTTP_IDEMPOTENCY_KEY="order-7")
    record = IdempotencyKey.objects.get()
    assert record.expires_at - record.created_at == timedelta(
        seconds=settings.IDEMPOTENCY_KEY_TTL_S
    )
    assert settings.IDEMPOTENCY_KEY_TTL_S == 24 * 3600
    later = timezone.now() + timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_S + 1)
    assert idempotency_services.idempotency_keys_purge_expired(now=timezone.now()) == 0
    assert idempotency_services.idempotency_keys_purge_expired(now=later) == 1
    assert not IdempotencyKey.objects.exists()


@pytest.mark.django_db
def test_an_expired_key_is_not_replayed(api_for, plant):
    client = api_for("integration")
    client.post(URL, _payload(plant), format="json", HTTP_IDEMPOTENCY_KEY="order-7")
    IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    again = client.post(URL, _payload(plant), format="json", HTTP_IDEMPOTENCY_KEY="order-7")
    assert again.status_code == 409
    assert again.json()["code"] == "conflict"
    assert "Idempotent-Replayed" not in again.headers
    assert IdempotencyKey.objects.get().response_status == 409


def test_the_cleanup_task_is_scheduled(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["idempotency-keys-purge"]
    assert entry["task"] == "traceability.tasks.idempotency_keys_purge"


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_requests_create_one_object(make_user, plant):
    user = make_user("integration")
    payload = _payload(plant)
    results: list[tuple[int, str | None]] = []
    start = threading.Barrier(20)

    def post() -> None:
        client = APIClient()
        client.force_authenticate(user)
        try:
            start.wait()
            response = client.post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY="same")
            results.append((response.status_code, response.headers.get("Idempotent-Replayed")))
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 20
    assert WorkOrder.objects.filter(number="ERP-7").count() == 1
    assert results.count((201, None)) == 1
    assert set(results) <= {(201, None), (201, "true"), (409, None)}
    assert IdempotencyKey.objects.get().state == IdempotencyKeyState.COMPLETED


def test_the_schema_documents_the_header_on_unsafe_operations():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    work_orders = schema["paths"]["/api/production/work-orders/"]
    create = work_orders["post"]
    headers = [p["name"] for p in create["parameters"] if p["in"] == "header"]
    assert headers == ["Idempotency-Key"]
    assert set(create["responses"]) >= {"201", "409", "422"}
    assert create["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert all(p["in"] != "header" for p in work_orders["get"].get("parameters", []))


@pytest.mark.django_db
def test_the_cleanup_task_deletes_expired_keys(api_for, plant):
    from traceability.tasks import idempotency_keys_purge

    client = api_for("integration")
    client.post(URL, _payload(plant), format="json", HTTP_IDEMPOTENCY_KEY="old")
    client.post(URL, _payload(plant, number="ERP-8"), format="json", HTTP_IDEMPOTENCY_KEY="new")
    IdempotencyKey.objects.filter(key="old").update(expires_at=timezone.now())
    assert idempotency_keys_purge() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


@pytest.mark.django_db
def test_a_token_client_is_replayed_and_keeps_its_token_authentication(make_user, plant):
    user = make_user("integration")
    client = APIClient(enforce_csrf_checks=True)  # as a real client: no CSRF exemption
    client.credentials(HTTP_AUTHORIZATION=f"Token {make_api_token(user)}")
    first = client.post(URL, _payload(plant), format="json", HTTP_IDEMPOTENCY_KEY="order-7")
    second = client.post(URL, _payload(plant), format="json", HTTP_IDEMPOTENCY_KEY="order-7")
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.headers["Idempotent-Replayed"] == "true"
    assert IdempotencyKey.objects.get().user == user


@pytest.mark.django_db
def test_a_session_without_csrf_token_is_refused_and_claims_nothing(make_user, plant):
    user = make_user("integration")
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    refused = client.post(URL, _payload(plant), format="json", HTTP_IDEMPOTENCY_KEY="order-7")
    assert refused.status_code == 403
    assert refused.json()["code"] == "permission_denied"
    assert not IdempotencyKey.objects.exists()
    assert not WorkOrder.objects.exists()


@pytest.mark.django_db
def test_an_anonymous_request_is_refused_and_claims_nothing(plant):
    refused = APIClient().post(URL, _payload(plant), format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert refused.status_code == 403
    assert not IdempotencyKey.objects.exists()


@pytest.mark.django_db
def test_a_replayed_204_has_no_body(api_for, plant):
    from production.models import DowntimeReason

    reason = DowntimeReason.objects.create(code="JAM", name="Jam")
    client = api_for("admin")
    url = f"/api/production/downtime-reasons/{reason.pk}/"
    first = client.delete(url, HTTP_IDEMPOTENCY_KEY="del-1")
    second = client.delete(url, HTTP_IDEMPOTENCY_KEY="del-1")
    assert (first.status_code, second.status_code) == (204, 204)
    assert second.content == b""
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Content-Type" not in second.headers
