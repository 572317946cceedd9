"""The API's pagination: ``?limit=&offset=``, checked instead of silently defaulted.

A limit that is not a whole number ≥ 1, or an offset that is not a whole number in
0..2⁶³−1, is a 400 ``invalid`` naming the parameter; a limit above ``MAX_PAGE_SIZE`` is
clamped to it (the ``next`` link carries on from there).
"""

from __future__ import annotations

from rest_framework import pagination, serializers

from mes_site.fields import BIGINT_MAX, IntegerField

MAX_PAGE_SIZE = 1000


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
