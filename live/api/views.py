"""Command endpoints only the live screens need (under /api/live/).

An explicit POST that calls exactly one service and answers with the API's one error format;
objects outside the user's plant scope are 404, as everywhere in the API.

- an operation's good/scrap report with a client request id, so that a double-tapped HMI
  button (or a retried request) is booked once: the request id is the request's
  idempotency key (``mes_site.idempotency``, the mechanism behind the ``Idempotency-Key``
  header), derived as ``hmi-report:<request_id>`` once the input, permission and scope are
  checked. A repeat gets the first answer again with ``"duplicate": true``; a refused report
  (409, the operation not running) stores nothing, so the tablet may send it again.

Decisions on proposed actions, the autonomy mode and the kill switch use the production API
(``/api/production/proposed-actions/<id>/approve/`` …, ``/api/production/autonomy/``).
"""

from __future__ import annotations

import json
from dataclasses import replace

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from mes_site.api import ERROR_RESPONSES, validated_input
from mes_site.errors import Forbidden
from mes_site.fields import IntegerField
from mes_site.idempotency import Fingerprint, StoredResponse, run_idempotent
from production import selectors, services
from production.api.serializers import OperationSerializer

REPORT_KEY_PREFIX = "hmi-report:"


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
        fingerprint = Fingerprint.of(
            method=request.method, path=request.get_full_path(), body=report_fingerprint_body(data)
        )

        def book() -> Response:
            updated = services.operation_report_quantity(
                operation_id=operation.pk,
                good=data["good"],
                scrap=data["scrap"],
                reason=data["reason"],
                actor=request.user,
            )
            return Response(OperationSerializer(updated).data, status=status.HTTP_200_OK)

        return run_idempotent(
            user_id=request.user.pk,
            key=f"{REPORT_KEY_PREFIX}{data['request_id']}",
            fingerprint=fingerprint,
            call=book,
            on_replay=_marked_duplicate,
        )


def report_fingerprint_body(data: dict) -> bytes:
    """The report's checked input as canonical JSON: what a repeat must match."""
    return json.dumps(
        {name: str(data[name]) for name in ("request_id", "good", "scrap", "reason")},
        sort_keys=True,
    ).encode()


def _marked_duplicate(stored: StoredResponse) -> StoredResponse:
    if stored.status_code != status.HTTP_200_OK or not isinstance(stored.body, dict):
        return stored
    return replace(stored, body={**stored.body, "duplicate": True})
