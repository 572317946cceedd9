"""What a list request of the REST API costs the database (issue 16, docs/benchmarks.md).

The number of SQL queries of one page is bounded whatever the number of rows on it: a
serializer field that fetched a related object per row would multiply it. The lists are
the ones ``bench/api.py`` loads, read with an API token as an ERP client does. Not a timing
test: ``bench/api_profile.py`` measures the time.
"""

from __future__ import annotations

import django_filters
import pytest
from django.contrib.sessions.models import Session
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.api_tokens import make_api_token
from traceability.services.audit import audit_event_record

pytestmark = pytest.mark.django_db

# The queries of one page: the token with its user, the user's roles and plant scope (one
# query), their permissions (one query), the bounded count, the page; equipment adds its
# capabilities (one prefetch). The planner's estimate joins the count past EXACT_COUNT_MAX
# rows only. Before issue 16's work: 8-12 per page (a session was even created each time).
LIST_QUERIES_MAX = {
    "/api/production/work-orders/": 5,
    "/api/production/work-orders/?state=released": 5,
    "/api/traceability/audit-events/": 5,  # token, permissions, scope, count, page
    "/api/traceability/audit-events/?action=release": 5,
    "/api/production/operations/": 5,
    "/api/production/equipment/": 6,
}


@pytest.fixture
def token_client(plant, make_user, make_work_order):
    supervisor = make_user("supervisor")
    for index in range(12):
        work_order = make_work_order(state="released" if index % 2 else "planned")
        work_order.operations.update(assigned_equipment=plant.equipment)  # two from the routing
        audit_event_record(actor=supervisor, obj=work_order, action="release", new_value="x")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {make_api_token(supervisor)}")
    client.get("/api/production/equipment/")  # the token's first use is noted once
    return client


@pytest.mark.parametrize("url", LIST_QUERIES_MAX)
def test_a_list_page_takes_a_bounded_number_of_queries(
    token_client, url, django_assert_max_num_queries
):
    with django_assert_max_num_queries(LIST_QUERIES_MAX[url]):
        response = token_client.get(url)
    assert response.status_code == 200
    assert response.json()["count"] > 0


def test_a_token_request_opens_no_session(token_client):
    response = token_client.get("/api/production/work-orders/")
    assert response.status_code == 200
    assert "sessionid" not in response.cookies
    assert not Session.objects.exists()


def test_the_cache_keeps_one_redis_client_for_every_call(token_client):
    """Django's Redis backend made a new client (and its callback table) per call; ours keeps
    one per pool, and the throttle still counts through it in the real Redis."""
    first = cache._cache.get_client(write=True)
    cache.set("cost-probe", 1)
    token_client.get("/api/production/work-orders/")
    token_client.get("/api/production/work-orders/")

    assert cache._cache.get_client(write=True) is first
    assert cache._cache.get_client(write=False) is first  # one server: one pool
    assert cache.get("cost-probe") == 1
    throttle_keys = first.keys(f"{cache.key_prefix}:*throttle_user_*")
    assert throttle_keys, "the user throttle wrote its history through the shared client"
    cache.delete("cost-probe")


def test_the_filterset_is_built_only_when_the_query_names_one_of_its_filters(
    token_client, monkeypatch
):
    built = []
    original = django_filters.FilterSet.__init__

    def counting_init(self, *args, **kwargs):
        built.append(type(self).__name__)
        original(self, *args, **kwargs)

    monkeypatch.setattr(django_filters.FilterSet, "__init__", counting_init)

    unfiltered = token_client.get("/api/production/work-orders/", {"limit": 5, "offset": 1})
    filtered = token_client.get("/api/production/work-orders/", {"state": "released"})
    invalid = token_client.get("/api/production/work-orders/", {"state": "exploded"})

    assert unfiltered.status_code == 200
    assert unfiltered.json()["count"] == 12
    assert filtered.json()["count"] == 6
    assert {row["state"] for row in filtered.json()["results"]} == {"released"}
    assert invalid.status_code == 400
    assert "state" in invalid.json()["detail"]
    assert built == ["WorkOrderFilterSet", "WorkOrderFilterSet"]
