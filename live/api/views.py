"""Command endpoints only the live screens need (under /api/live/).

An explicit POST that calls exactly one service and answers with the API's one error format;
objects outside the user's plant scope are 404, as everywhere in the API.

- an operation's good/scrap report with a client request id, so that a double-tapped HMI
  button (or a retried request) is booked once.

Decisions on proposed actions, the autonomy mode and the kill switch use the production API
(``/api/production/proposed-actions/<id>/approve/`` …, ``/api/production/autonomy/``).
"""

from __future__ import annotations

from django.core.cache import cache
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from mes_site.api import ERROR_RESPONSES, validated_input
from mes_site.errors import Conflict, Forbidden
from mes_site.fields import IntegerField
from production import selectors, services
from production.api.serializers import OperationSerializer

REQUEST_ID_TTL_S = 24 * 3600


class IdempotentReportSerializer(serializers.Serializer):
    request_id = serializers.UUIDField(
        help_text="Chosen by the client once per report; a repeat is answered, not booked."
    )
    good = IntegerField(min_value=0, default=0)
    scrap = IntegerField(min_value=0, default=0)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class OperationReportView(APIView):
    """Report good and scrap units once per client request id (safe against double taps)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=IdempotentReportSerializer,
        responses={200: OperationSerializer, **ERROR_RESPONSES},
        summary="Report good/scrap units of a running operation, at most once per request id",
    )
    def post(self, request, operation_id: int):
        if not request.user.has_perm("production.operate_operation"):
            raise Forbidden("You may not report quantities.")
        operation = get_object_or_404(selectors.operation_list(user=request.user), pk=operation_id)
        data = validated_input(IdempotentReportSerializer, request)
        key = f"live:report:{request.user.pk}:{data['request_id']}"
        if not cache.add(key, "in_flight", timeout=REQUEST_ID_TTL_S):
            previous = cache.get(key)
            if previous == "in_flight":
                raise Conflict("This report is being booked already.", code="duplicate_request")
            operation.refresh_from_db()
            return Response({**OperationSerializer(operation).data, "duplicate": True})
        try:
            updated = services.operation_report_quantity(
                operation_id=operation.pk,
                good=data["good"],
                scrap=data["scrap"],
                reason=data["reason"],
                actor=request.user,
            )
        except Exception:
            cache.delete(key)  # not booked: the same request may be tried again
            raise
        cache.set(key, "done", timeout=REQUEST_ID_TTL_S)
        return Response(OperationSerializer(updated).data, status=status.HTTP_200_OK)
