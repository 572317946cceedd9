"""Hostile and sloppy input at the edge of the REST API: every refusal is a 4xx in the
documented ``{code, message, detail}`` format, never a 500 and never an HTML page."""

import json
import re
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from rest_framework.test import APIClient

from mes_site import views
from production.models import WorkOrder
from tests.api_tokens import make_api_token

WORK_ORDERS = "/api/production/work-orders/"


@pytest.fixture
def planner(make_user) -> APIClient:
    """A planner calling with a token, as an integration does (real authentication)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {make_api_token(make_user('planner'))}")
    return client


def _work_order(plant, **overrides) -> dict:
    return {
        "number": "WO-1",
        "product": plant.product.code,
        "quantity": 40,
        "due_at": "2026-03-02T14:00:00Z",
        "site": plant.site.pk,
        **overrides,
    }


def _post_raw(client: APIClient, path: str, body: bytes, content_type="application/json"):
    return client.generic("POST", path, body, content_type=content_type)


def _assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) == {"code", "message", "detail"}
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    return body


# 1. integers beyond their column's range


@pytest.mark.parametrize("quantity", [2147483648, 2**63, 10**30], ids=["int32", "int64", "huge"])
def test_quantity_beyond_the_column_range_is_a_field_error(planner, plant, quantity):
    response = _post_raw(planner, WORK_ORDERS, json.dumps(_work_order(plant, quantity=quantity)))
    body = _assert_error(response, 400, "invalid")
    assert body["detail"] == {
        "quantity": ["Ensure this value is less than or equal to 2147483647."]
    }
    assert not WorkOrder.objects.exists()


def test_float_quantity_is_a_field_error(planner, plant):
    response = _post_raw(planner, WORK_ORDERS, b'{"quantity": 1e30}')
    body = _assert_error(response, 400, "invalid")
    assert body["detail"]["quantity"] == ["A valid integer is required."]
    assert not WorkOrder.objects.exists()


def test_model_serializer_integers_are_bounded_by_their_column(make_user, plant):
    client = APIClient()
    client.force_authenticate(make_user("admin"))
    template = plant.routing.operations.first()
    response = client.patch(
        f"/api/production/operation-templates/{template.pk}/", {"sequence": 2**31}, format="json"
    )
    body = _assert_error(response, 400, "invalid")
    assert body["detail"] == {
        "sequence": ["Ensure this value is less than or equal to 2147483647."]
    }


@pytest.mark.parametrize(
    "weight", [b"1e400", b'"2.5"', b"true"], ids=["infinite", "string", "bool"]
)
def test_model_serializer_floats_are_finite_json_numbers(make_user, plant, weight):
    client = APIClient()
    client.force_authenticate(make_user("admin"))
    response = client.generic(
        "PATCH",
        f"/api/production/equipment/{plant.equipment.pk}/",
        b'{"bottleneck_weight": ' + weight + b"}",
        content_type="application/json",
    )
    body = _assert_error(response, 400, "invalid")
    assert body["detail"] == {"bottleneck_weight": ["A valid number is required."]}
    plant.equipment.refresh_from_db()
    assert plant.equipment.bottleneck_weight == 1.0


def test_command_input_integers_are_bounded(make_user, plant):
    client = APIClient()
    client.force_authenticate(make_user("admin"))
    response = client.post("/api/production/autonomy/kill-switch/", {"site": 2**63}, format="json")
    body = _assert_error(response, 400, "invalid")
    assert set(body["detail"]) == {"site"}


# 2. nesting depth


def test_deeply_nested_json_is_a_parse_error(planner, plant):
    response = _post_raw(planner, WORK_ORDERS, b"[" * 100_000 + b"]" * 100_000)
    body = _assert_error(response, 400, "parse_error")
    assert body["detail"] == {"max_depth": 64}
    assert not WorkOrder.objects.exists()


def test_json_nested_just_beyond_the_limit_is_refused_and_at_the_limit_is_parsed(planner, plant):
    too_deep = {"reason": json.loads("[" * 64 + "]" * 64)}
    at_limit = {"reason": json.loads("[" * 63 + "]" * 63)}
    response = _post_raw(planner, WORK_ORDERS, json.dumps(too_deep))
    _assert_error(response, 400, "parse_error")
    response = _post_raw(planner, WORK_ORDERS, json.dumps(at_limit))
    body = _assert_error(response, 400, "invalid")  # parsed; refused by the serializer
    assert "reason" not in body["detail"]


# 3. pagination parameters


def test_limit_beyond_bigint_is_clamped_to_the_maximum_page_size(planner, make_work_order):
    make_work_order()
    response = planner.get(WORK_ORDERS, {"limit": "99999999999999999999"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["count"], len(body["results"]), body["next"]) == (1, 1, None)


def test_page_size_is_at_most_one_thousand(planner, make_work_order):
    for _ in range(3):
        make_work_order()
    response = planner.get(WORK_ORDERS, {"limit": "5000", "offset": "1"})
    body = response.json()
    assert response.status_code == 200
    assert body["previous"].endswith("limit=1000")
    assert len(body["results"]) == 2


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "-5"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"offset": "99999999999999999999"}, "offset"),
    ],
    ids=["negative_limit", "zero_limit", "text_limit", "negative_offset", "huge_offset"],
)
def test_invalid_pagination_parameters_are_400(planner, plant, params, field):
    response = planner.get(WORK_ORDERS, params)
    body = _assert_error(response, 400, "invalid")
    assert list(body["detail"]) == [field]


# 4. NUL bytes


def test_nul_byte_in_a_string_field_is_a_field_error(planner, plant):
    response = _post_raw(planner, WORK_ORDERS, json.dumps(_work_order(plant, number="WO\u0000X")))
    body = _assert_error(response, 400, "invalid")
    assert body["detail"] == {"number": ["Null characters are not allowed."]}
    assert not WorkOrder.objects.exists()


def test_nul_byte_in_a_slug_reference_is_a_field_error(planner, plant):
    response = _post_raw(planner, WORK_ORDERS, json.dumps(_work_order(plant, product="P\u00001")))
    body = _assert_error(response, 400, "invalid")
    assert body["detail"] == {"product": ["Null characters are not allowed."]}


def test_nul_byte_in_a_query_parameter_is_400(planner, plant):
    response = planner.get(WORK_ORDERS, {"search": "WO\x00"})
    body = _assert_error(response, 400, "invalid")
    assert body["detail"] == {"search": ["Null characters are not allowed."]}


# 5. body size and Django's own error pages under /api/


def test_body_beyond_the_upload_limit_is_413_json(planner, plant, settings):
    body = json.dumps(_work_order(plant, reason="x" * 20_000_000)).encode()
    response = _post_raw(planner, WORK_ORDERS, body)
    body = _assert_error(response, 413, "request_too_large")
    assert body["detail"] == {"max_bytes": settings.DATA_UPLOAD_MAX_MEMORY_SIZE}
    assert not WorkOrder.objects.exists()


def test_form_body_beyond_the_upload_limit_is_json_too(make_user, plant):
    """Session clients go through the CSRF check, which reads a form body: still JSON."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(make_user("planner"))
    client.cookies["csrftoken"] = "a" * 32  # a cookie but no token: the check reads the form
    response = _post_raw(
        client,
        WORK_ORDERS,
        b"number=" + b"x" * 3_000_000,
        content_type="application/x-www-form-urlencoded",
    )
    _assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    ("exception", "status", "code"),
    [
        (RequestDataTooBig(), 413, "request_too_large"),
        (SuspiciousOperation(), 400, "bad_request"),
    ],
    ids=["too_big", "suspicious"],
)
def test_djangos_own_400_under_api_is_json(rf, exception, status, code):
    _assert_error(
        views.bad_request(rf.post("/api/production/work-orders/"), exception), status, code
    )
    assert views.bad_request(rf.get("/accounts/login/"), exception)["Content-Type"].startswith(
        "text/html"
    )


def test_djangos_own_403_under_api_is_json(rf):
    request = rf.post("/api/production/work-orders/")
    _assert_error(views.permission_denied(request, PermissionDenied()), 403, "permission_denied")


def test_unknown_api_path_is_404_json(planner):
    response = planner.get("/api/no-such-thing/")
    _assert_error(response, 404, "not_found")


# 6. methods an endpoint does not offer


def test_delete_on_a_work_order_is_405_with_allow(planner, make_work_order):
    work_order = make_work_order()
    response = planner.delete(f"{WORK_ORDERS}{work_order.pk}/")
    _assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET, HEAD, OPTIONS"
    assert WorkOrder.objects.filter(pk=work_order.pk).exists()


def test_put_on_the_work_order_list_is_405_with_allow(planner, plant):
    response = _post_raw(planner, WORK_ORDERS, b"{}")
    assert response.status_code == 400  # POST is offered
    response = planner.put(WORK_ORDERS, {}, format="json")
    _assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET, POST, HEAD, OPTIONS"


def test_offered_method_without_permission_stays_403(make_user, make_work_order):
    client = APIClient()
    client.force_authenticate(make_user("operator"))
    response = client.post(WORK_ORDERS, {}, format="json")
    _assert_error(response, 403, "permission_denied")


# 7. strict JSON types and JSON-only bodies


@pytest.mark.parametrize("quantity", ["40", True, 40.0], ids=["string", "boolean", "float"])
def test_numbers_must_be_json_numbers(planner, plant, quantity):
    response = _post_raw(planner, WORK_ORDERS, json.dumps(_work_order(plant, quantity=quantity)))
    body = _assert_error(response, 400, "invalid")
    assert body["detail"] == {"quantity": ["A valid integer is required."]}
    assert not WorkOrder.objects.exists()


def test_form_encoded_body_is_415(planner, plant):
    response = _post_raw(
        planner,
        WORK_ORDERS,
        b"number=WO-1&product=P1&quantity=40&due_at=2026-03-02T14:00:00Z",
        content_type="application/x-www-form-urlencoded",
    )
    _assert_error(response, 415, "unsupported_media_type")
    assert not WorkOrder.objects.exists()


def test_numbers_in_query_strings_stay_accepted(planner, make_work_order):
    make_work_order()
    response = planner.get(WORK_ORDERS, {"limit": "1", "priority": "5"})
    assert response.status_code == 200, response.content
    assert response.json()["count"] == 1


def test_valid_json_work_order_is_still_created(planner, plant):
    response = _post_raw(planner, WORK_ORDERS, json.dumps(_work_order(plant)))
    assert response.status_code == 201, response.content
    assert WorkOrder.objects.get().quantity == 40


def test_every_serializer_takes_its_numbers_and_model_base_from_mes_site():
    """The strict, bounded fields apply only if no serializer uses DRF's own directly."""
    root = Path(__file__).resolve().parent.parent
    pattern = re.compile(
        r"serializers\.(IntegerField|BigIntegerField|FloatField|ModelSerializer)\b"
    )
    offenders = [
        f"{path.relative_to(root)}:{number}"
        for path in sorted(root.glob("*/**/*.py"))
        if path.parts[len(root.parts)] not in {"tests", ".venv", "mes_site", "node_modules"}
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if pattern.search(line)
    ]
    assert offenders == []
