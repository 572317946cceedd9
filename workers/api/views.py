"""Telemetry API: a signal's series (LTTB-downsampled), current values per equipment, the
ingest status and the dead letters. Read-only; scoped to the user's plant (404 outside)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mes_site.api import ErrorSerializer
from mes_site.errors import NotFound, ValidationFailed
from production.choices import SignalDataType
from workers import selectors
from workers.api import serializers as s
from workers.filtersets import DeadLetterFilterSet
from workers.models import DeadLetter

READ_ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid query parameters."),
    403: OpenApiResponse(ErrorSerializer, description="Missing permission."),
    404: OpenApiResponse(ErrorSerializer, description="Unknown id, or outside your scope."),
}


def model_permission(codename: str) -> type[permissions.BasePermission]:
    """Read permission of views that are not a model viewset."""

    class HasPermission(permissions.BasePermission):
        def has_permission(self, request, view) -> bool:
            return bool(
                request.user
                and request.user.is_authenticated
                and request.method in permissions.SAFE_METHODS
                and request.user.has_perm(codename)
            )

    HasPermission.__name__ = f"Has_{codename.replace('.', '_')}"
    return HasPermission


class SignalSeriesView(APIView):
    permission_classes = [model_permission("workers.view_reading")]

    @extend_schema(
        parameters=[s.SeriesQuerySerializer],
        responses={200: s.SeriesSerializer, **READ_ERRORS},
        summary="A numeric signal's values over a time range, downsampled with LTTB",
    )
    def get(self, request: Request, signal_id: int) -> Response:
        query = s.SeriesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        signal = selectors.signal_for_user_get(user=request.user, signal_id=signal_id)
        if signal is None:
            raise NotFound(f"No signal {signal_id}.")
        if signal.data_type == SignalDataType.STRING:
            raise ValidationFailed(
                f"Signal {signal.name!r} holds text; series are for numbers and booleans.",
                code="not_numeric",
            )
        end = query.validated_data.get("end") or timezone.now()
        start = query.validated_data.get("start") or end - timedelta(hours=1)
        if start >= end:
            raise ValidationFailed("start must be before end.", detail={"start": ["after end"]})
        series = selectors.signal_series(
            signal=signal,
            start=start,
            end=end,
            max_points=query.validated_data["max_points"],
            source=query.validated_data.get("source"),
        )
        body = {
            "signal": signal.id,
            "name": signal.name,
            "unit": signal.unit,
            "data_type": signal.data_type,
            "start": start,
            "end": end,
            "source": series.source,
            "total_points": series.total_points,
            "points": [
                {
                    "ts": point.ts,
                    "value": point.value,
                    "min_value": point.min_value,
                    "max_value": point.max_value,
                }
                for point in series.points
            ],
        }
        return Response(s.SeriesSerializer(body).data)


class CurrentValuesView(APIView):
    permission_classes = [model_permission("workers.view_reading")]

    @extend_schema(
        responses={200: s.CurrentValuesSerializer, **READ_ERRORS},
        summary="Current values of an equipment's signals (live cache; stale ones flagged)",
    )
    def get(self, request: Request, equipment_id: int) -> Response:
        equipment = selectors.equipment_for_user_get(user=request.user, equipment_id=equipment_id)
        if equipment is None:
            raise NotFound(f"No equipment {equipment_id}.")
        body = {
            "equipment": equipment.id,
            "uns_path": equipment.uns_path,
            "values": selectors.current_values_list(equipment=equipment),
        }
        return Response(s.CurrentValuesSerializer(body).data)


class IngestStatusView(APIView):
    permission_classes = [model_permission("workers.view_ingestbatch")]

    @extend_schema(
        responses={200: s.IngestStatusSerializer, 403: READ_ERRORS[403]},
        summary=(
            "Ingest rate and lag over the last minute, queue length, dead letters by reason; "
            "the ERP backlogs (webhook deliveries, procurement outbox)"
        ),
    )
    def get(self, request: Request) -> Response:
        return Response(s.IngestStatusSerializer(selectors.ingest_status()).data)


class DeadLetterViewSet(viewsets.ReadOnlyModelViewSet):
    """Dead letters grouped by (source, topic, reason) with their counters."""

    serializer_class = s.DeadLetterSerializer
    filterset_class = DeadLetterFilterSet
    ordering_fields = ["last_seen_at", "count", "reason_code"]
    search_fields = ["topic", "message"]
    queryset = DeadLetter.objects.none()  # for the permission class; see get_queryset

    def get_queryset(self):
        return selectors.dead_letter_list(user=self.request.user)
