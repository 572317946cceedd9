"""The SPC API: chart configuration, subgroup entry, points with their violations, limits
recomputed on request, capability; bad input is a 400 naming the field; the plant scope; the
OpenAPI schema."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from quality.models import ControlChart, Subgroup

pytestmark = pytest.mark.django_db

BASELINE = [[10.0, 10.2, 9.8], [10.1, 9.9, 10.0], [9.9, 10.1, 10.2], [10.0, 9.8, 10.1]]


@pytest.fixture
def quality_api(api_for):
    return api_for("quality")


def _chart(client, measured, equipment, **overrides):
    body = {
        "characteristic": measured.pk,
        "chart_type": "xbar_r",
        "subgroup_size": 3,
        "equipment": equipment.pk,
        "rules": ["nelson_1", "nelson_2"],
        "reaction": "none",
        **overrides,
    }
    return client.post("/api/quality/control-charts/", body, format="json")


def _base(client, chart_id):
    for row in BASELINE:
        response = client.post(
            f"/api/quality/control-charts/{chart_id}/subgroups/",
            {"values": row, "unit": "mm"},
            format="json",
        )
        assert response.status_code == 201, response.json()


def test_the_whole_round_trip(quality_api, characteristic, plant):
    created = _chart(quality_api, characteristic, plant.equipment)
    assert created.status_code == 201, created.json()
    chart_id = created.json()["id"]
    assert created.json()["current_limits"] is None
    _base(quality_api, chart_id)

    limits = quality_api.post(
        f"/api/quality/control-charts/{chart_id}/limits/",
        {"first_index": 0, "last_index": 3, "reason": "initial study"},
        format="json",
    )
    assert limits.status_code == 201, limits.json()
    assert limits.json()["version"] == 1
    assert limits.json()["computed_by"] == "quality_user"

    out = quality_api.post(
        f"/api/quality/control-charts/{chart_id}/subgroups/",
        {"values": [11.0, 11.1, 10.9]},
        format="json",
    )
    assert out.status_code == 201
    point = out.json()
    assert (point["index"], point["zone"]) == (4, "beyond_upper")
    assert [(v["rule"], v["point_indices"]) for v in point["violations"]] == [("nelson_1", [4])]

    points = quality_api.get(f"/api/quality/control-charts/{chart_id}/subgroups/", {"last": 2})
    assert [p["index"] for p in points.json()] == [3, 4]
    assert points.json()[0]["violations"] == []
    violations = quality_api.get("/api/quality/rule-violations/").json()
    assert [(v["rule"], v["subgroup_index"]) for v in violations["results"]] == [("nelson_1", 4)]

    capability = quality_api.get(f"/api/quality/control-charts/{chart_id}/capability/")
    assert capability.status_code == 200
    body = capability.json()
    assert body["subgroups"] == 5 and body["count"] == 15
    assert body["cpk"] < body["cp"]
    assert set(body["normality"]) == {"statistic", "p_value", "is_normal"}
    assert body["cpk_lower"] < body["cpk"] < body["cpk_upper"]
    versions = quality_api.get(f"/api/quality/control-charts/{chart_id}/limits/").json()
    assert [v["version"] for v in versions] == [1]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"values": [10.0, 10.1]}, "values"),
        ({"values": [10.0, "NaN", 10.1]}, "values"),
        ({"values": [10.0, 10.1, 9.9], "unit": "in"}, "unit"),
        ({"values": [10.0, 10.1, 9.9], "lot": 999999}, "lot"),
    ],
)
def test_bad_subgroups_are_400_with_the_field(quality_api, characteristic, plant, body, field):
    chart_id = _chart(quality_api, characteristic, plant.equipment).json()["id"]
    response = quality_api.post(
        f"/api/quality/control-charts/{chart_id}/subgroups/", body, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert field in response.json()["detail"]
    assert not Subgroup.objects.exists()


def test_nan_in_raw_json_is_refused_before_it_reaches_the_chart(quality_api, characteristic, plant):
    chart_id = _chart(quality_api, characteristic, plant.equipment).json()["id"]
    response = quality_api.post(
        f"/api/quality/control-charts/{chart_id}/subgroups/",
        '{"values": [10.0, NaN, 10.1]}',
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"  # the JSON parser refuses NaN itself
    assert not Subgroup.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"characteristic": 999999}, "characteristic"),
        ({"subgroup_size": 30}, "subgroup_size"),
        ({"chart_type": "i_mr"}, "subgroup_size"),
        ({"rules": ["nelson_9"]}, "rules"),
    ],
)
def test_bad_chart_settings_are_400_with_the_field(
    quality_api, characteristic, plant, overrides, field
):
    response = _chart(quality_api, characteristic, plant.equipment, **overrides)
    assert response.status_code == 400
    assert field in response.json()["detail"]
    assert not ControlChart.objects.exists()


def test_capability_needs_two_subgroups_and_spread(quality_api, characteristic, plant):
    chart_id = _chart(quality_api, characteristic, plant.equipment).json()["id"]
    url = f"/api/quality/control-charts/{chart_id}/capability/"
    response = quality_api.get(url)
    assert response.status_code == 400
    assert "values" in response.json()["detail"]
    for _ in range(2):
        quality_api.post(
            f"/api/quality/control-charts/{chart_id}/subgroups/",
            {"values": [10.0, 10.0, 10.0]},
            format="json",
        )
    flat = quality_api.get(url)
    assert flat.status_code == 400
    assert "spread" in flat.json()["message"]
    limits = quality_api.post(
        f"/api/quality/control-charts/{chart_id}/limits/",
        {"first_index": 0, "last_index": 1, "reason": "try"},
        format="json",
    )
    assert limits.status_code == 400
    assert "baseline" in limits.json()["detail"]


def test_operators_enter_subgroups_but_do_not_recompute_limits(
    quality_api, api_for, characteristic, plant
):
    chart_id = _chart(quality_api, characteristic, plant.equipment).json()["id"]
    operator = api_for("operator")
    entered = operator.post(
        f"/api/quality/control-charts/{chart_id}/subgroups/",
        {"values": [10.0, 10.1, 9.9]},
        format="json",
    )
    assert entered.status_code == 201
    refused = operator.post(
        f"/api/quality/control-charts/{chart_id}/limits/",
        {"first_index": 0, "last_index": 0, "reason": "x"},
        format="json",
    )
    assert refused.status_code == 403


def test_a_chart_on_another_line_is_not_found(quality_api, api_for, characteristic, plant):
    chart_id = _chart(quality_api, characteristic, plant.other_equipment).json()["id"]
    operator = api_for("operator")  # scoped to L1
    assert operator.get(f"/api/quality/control-charts/{chart_id}/").status_code == 404
    assert operator.get("/api/quality/control-charts/").json()["results"] == []
    posted = operator.post(
        f"/api/quality/control-charts/{chart_id}/subgroups/",
        {"values": [10.0, 10.1, 9.9]},
        format="json",
    )
    assert posted.status_code == 404
    assert not Subgroup.objects.exists()


def test_point_list_query_count_does_not_grow_with_the_points(quality_api, characteristic, plant):
    chart_id = _chart(quality_api, characteristic, plant.equipment).json()["id"]
    _base(quality_api, chart_id)
    url = f"/api/quality/control-charts/{chart_id}/subgroups/"
    with CaptureQueriesContext(connection) as few:
        quality_api.get(url)
    _base(quality_api, chart_id)
    with CaptureQueriesContext(connection) as more:
        quality_api.get(url)
    assert len(more) == len(few)


def test_the_schema_documents_the_spc_api(quality_api):
    schema = quality_api.get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    assert "post" in paths["/api/quality/control-charts/{id}/subgroups/"]
    assert "post" in paths["/api/quality/control-charts/{id}/limits/"]
    assert "get" in paths["/api/quality/control-charts/{id}/capability/"]
    assert "ProcessCapability" in schema["components"]["schemas"]
