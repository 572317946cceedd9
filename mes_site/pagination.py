"""The API's pagination: ``?limit=&offset=``, checked instead of silently defaulted.

A limit that is not a whole number ≥ 1, or an offset that is not a whole number in
0..2⁶³−1, is a 400 ``invalid`` naming the parameter; a limit above ``MAX_PAGE_SIZE`` is
clamped to it (the ``next`` link carries on from there).

``count`` is exact up to ``EXACT_COUNT_MAX`` objects past the page asked for; beyond, counting
a big table (a million audit events: ~160 ms, every page) would cost more than the page, so
``count`` is PostgreSQL's planner estimate of the whole query (never below what was counted)
and ``count_is_exact`` is false. ``next`` is exact either way (docs/api.md "Conventions").
"""

from __future__ import annotations

import json

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import QuerySet
from rest_framework import pagination, serializers
from rest_framework.response import Response

from mes_site.fields import BIGINT_MAX, IntegerField

MAX_PAGE_SIZE = 1000
EXACT_COUNT_MAX = 10_000


class PageQuerySerializer(serializers.Serializer):
    # no upper bound here: any larger limit is clamped to MAX_PAGE_SIZE
    limit = serializers.IntegerField(min_value=1, required=False)
    offset = IntegerField(min_value=0, max_value=BIGINT_MAX, required=False)


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    max_limit = MAX_PAGE_SIZE

    def paginate_queryset(self, queryset, request, view=None):
        query = PageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        self._page_query = query.validated_data
        return super().paginate_queryset(queryset, request, view)

    def get_count(self, queryset) -> int:
        self.count_is_exact = True
        if not isinstance(queryset, QuerySet):
            return super().get_count(queryset)
        offset = self._page_query.get("offset", 0)
        bound = max(EXACT_COUNT_MAX, offset + self.get_limit(self.request)) + 1
        # The query's SQL is built once for the bounded count and the estimate, without its
        # ordering (the number of rows up to the bound does not depend on it).
        connection = connections[queryset.db]
        try:
            sql, params = queryset.order_by().values("pk").query.sql_with_params()
        except EmptyResultSet:  # a condition no row can meet (e.g. an empty plant scope)
            return 0
        with connection.cursor() as cursor:
            # Django's own SQL and an integer, never user text
            cursor.execute(f"SELECT COUNT(*) FROM ({sql} LIMIT {int(bound)}) bounded", params)  # noqa: S608
            counted = cursor.fetchone()[0]
        if counted < bound:
            return counted
        self.count_is_exact = False
        return max(counted, _planner_estimate(connection, sql, params))

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        return Response({**response.data, "count_is_exact": self.count_is_exact})

    def get_paginated_response_schema(self, schema):
        paginated = super().get_paginated_response_schema(schema)
        paginated["properties"]["count_is_exact"] = {
            "type": "boolean",
            "description": (
                f"False when there are more than {EXACT_COUNT_MAX} objects past this page: "
                "`count` is then the database's estimate."
            ),
        }
        paginated["required"] = [*paginated["required"], "count_is_exact"]
        return paginated

    def get_limit(self, request):
        limit = self._page_query.get("limit")
        return self.default_limit if limit is None else min(limit, self.max_limit)

    def get_offset(self, request):
        return self._page_query.get("offset", 0)

    def get_schema_operation_parameters(self, view):
        """The parameters with their bounds: a generated client (and the contract test) sends
        only what is accepted. A larger ``limit`` is still answered, clamped."""
        bounds = {
            self.limit_query_param: {"minimum": 1, "maximum": self.max_limit},
            self.offset_query_param: {"minimum": 0, "maximum": BIGINT_MAX},
        }
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters


def _planner_estimate(connection, sql: str, params) -> int:
    """The number of rows PostgreSQL's planner expects the query to return (0 elsewhere)."""
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])
