"""The SPC API: control charts (scoped by their station's line), subgroup entry and the
plotted points with their violations, versioned control limits (recomputed on request) and
capability; the rule violations of the scope."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from mes_site.api import ERROR_RESPONSES, validated_input
from mes_site.errors import ValidationFailed
from quality import filtersets, selectors, services
from quality.api import spc_serializers as s
from quality.choices import SubgroupSource
from quality.models import ControlChart, RuleViolation

POINTS_LIMIT_MAX = 1000


class ControlChartViewSet(
    mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet
):
    """Charts of the characteristics measured on the machines in scope."""

    queryset = ControlChart.objects.none()  # for the permission class; see get_queryset
    serializer_class = s.ControlChartSerializer
    filterset_class = filtersets.ControlChartFilterSet
    http_method_names = ["get", "post", "put", "head", "options"]
    command_permissions = {
        "subgroups": "quality.add_measurement",
        "limits": "quality.add_controllimitset",
    }

    def get_queryset(self):
        return selectors.control_chart_list(user=self.request.user)

    def get_permissions(self):
        # reading a chart's points or limits needs only the view permission
        if self.action in {"subgroups", "limits"} and self.request.method == "GET":
            self.command_permissions = {}
        return super().get_permissions()

    def _configure(self, request, characteristic=None):
        data = request.data.copy() if hasattr(request.data, "copy") else dict(request.data)
        if characteristic is not None:
            data["characteristic"] = characteristic.pk
        serializer = s.ControlChartInputSerializer(data=data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        return services.control_chart_configure(actor=request.user, **serializer.validated_data)

    @extend_schema(
        request=s.ControlChartInputSerializer,
        responses={201: s.ControlChartSerializer, **ERROR_RESPONSES},
    )
    def create(self, request, *args, **kwargs):
        chart = self._configure(request)
        return Response(s.ControlChartSerializer(chart).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.ControlChartInputSerializer,
        responses={200: s.ControlChartSerializer, **ERROR_RESPONSES},
    )
    def update(self, request, *args, **kwargs):
        chart = self.get_object()
        chart = self._configure(request, characteristic=chart.characteristic)
        return Response(s.ControlChartSerializer(chart).data)

    @extend_schema(
        methods=["GET"],
        parameters=[OpenApiParameter("last", int, description="Only the last N points.")],
        responses={200: s.PointSerializer(many=True), **ERROR_RESPONSES},
        summary="The plotted points with their violations",
    )
    @extend_schema(
        methods=["POST"],
        request=s.SubgroupInputSerializer,
        responses={201: s.PointSerializer, **ERROR_RESPONSES},
        summary="Enter one subgroup: plotted and checked against the run rules at once",
    )
    @action(detail=True, methods=["get", "post"])
    def subgroups(self, request, pk=None):
        chart = self.get_object()
        if request.method == "GET":
            points = selectors.chart_points_list(chart=chart)
            last = _last_param(request)
            if last is not None:
                points = list(points.order_by("-index")[:last])[::-1]
            return Response(s.PointSerializer(points, many=True).data)
        serializer = s.SubgroupInputSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        subgroup = services.subgroup_record(
            chart=chart, actor=request.user, source=SubgroupSource.API, **serializer.validated_data
        )
        point = selectors.chart_points_list(chart=chart).get(pk=subgroup.pk)
        return Response(s.PointSerializer(point).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        methods=["GET"],
        responses={200: s.LimitSetSerializer(many=True), **ERROR_RESPONSES},
        summary="The versions of the chart's control limits, newest first",
    )
    @extend_schema(
        methods=["POST"],
        request=s.LimitsComputeSerializer,
        responses={201: s.LimitSetSerializer, **ERROR_RESPONSES},
        summary="Compute a new version of the limits from a baseline (audited: who and why)",
    )
    @action(detail=True, methods=["get", "post"])
    def limits(self, request, pk=None):
        chart = self.get_object()
        if request.method == "GET":
            return Response(
                s.LimitSetSerializer(selectors.limit_set_list(chart=chart), many=True).data
            )
        data = validated_input(s.LimitsComputeSerializer, request)
        limit_set = services.control_limits_compute(chart_id=chart.pk, actor=request.user, **data)
        return Response(s.LimitSetSerializer(limit_set).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[s.CapabilityQuerySerializer],
        responses={200: s.ProcessCapabilitySerializer, **ERROR_RESPONSES},
        summary="Cp, Cpk (with Bissell's 95 % interval), Pp, Ppk, Cpm and Anderson–Darling",
    )
    @action(detail=True, methods=["get"])
    def capability(self, request, pk=None):
        chart = self.get_object()
        query = s.CapabilityQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        result = selectors.chart_capability(chart=chart, **query.validated_data)
        return Response(s.ProcessCapabilitySerializer(result).data)


def _last_param(request) -> int | None:
    raw = request.query_params.get("last")
    if raw is None:
        return None
    try:
        last = int(raw)
    except ValueError:
        last = -1
    if not 1 <= last <= POINTS_LIMIT_MAX:
        message = f"last is a whole number from 1 to {POINTS_LIMIT_MAX}."
        raise ValidationFailed(message, detail={"last": [message]})
    return last


class RuleViolationViewSet(viewsets.ReadOnlyModelViewSet):
    """Run-rule violations of the charts in scope, newest first."""

    queryset = RuleViolation.objects.none()  # for the permission class; see get_queryset
    serializer_class = s.RuleViolationSerializer
    filterset_class = filtersets.RuleViolationFilterSet

    def get_queryset(self):
        return selectors.rule_violation_list(user=self.request.user)
