"""API of OEE: current (live) OEE per scope object, history (snapshots), losses over a
window, the OEE of a work order.

Every read is scoped to the user's plant (objects of other lines are 404; the OEE of a site
or area is 404 to a user scoped to some of its lines only, as it sums the others); permission
``view_oeesnapshot`` (the equipment timeline: ``view_equipmentstateinterval``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from mes_site.api import ERROR_RESPONSES
from mes_site.errors import NotFound
from mes_site.fields import FloatField, IntegerField, ModelSerializer
from production.api.permissions import ActionPermissions
from production.api.state_intervals import STATE_HELP, TimelineQuerySerializer, TimelineSerializer
from production.choices import OeeScope
from production.filtersets import OeeSnapshotFilterSet
from production.models import OeeSnapshot
from production.selectors.losses import loss_pareto
from production.selectors.oee import (
    oee_area_list,
    oee_current,
    oee_site_list,
    oee_snapshot_list,
    oee_window,
    oee_work_order,
)
from production.selectors.oee_reports import report_elements, six_big_losses_waterfall
from production.selectors.plant import equipment_list, line_list, work_order_list
from production.selectors.state_intervals import equipment_timeline

# --- serializers ----------


class OeeElementsSerializer(serializers.Serializer):
    """ISO 22400-2 time elements (seconds) and counts."""

    planned_operation_time_s = FloatField(help_text="POT")
    planned_down_time_s = FloatField(help_text="PDOT")
    planned_busy_time_s = FloatField(help_text="PBT = POT − PDOT")
    actual_production_time_s = FloatField(help_text="APT")
    actual_setup_time_s = FloatField(help_text="AUST")
    actual_processing_time_s = FloatField(help_text="AUPT = APT + AUST")
    actual_delay_time_s = FloatField(help_text="ADET")
    actual_down_time_s = FloatField(help_text="ADOT")
    no_data_time_s = FloatField(help_text="Time without state data (excluded).")
    minor_stop_time_s = FloatField(help_text="Part of ADET: stops below threshold.")
    needs_reason_time_s = FloatField(help_text="Part of ADET: unexplained stops.")
    produced_quantity = FloatField(help_text="PQ")
    good_quantity = FloatField(help_text="GQ")
    scrap_quantity = FloatField(help_text="SQ")
    rework_quantity = FloatField(help_text="RQ")
    planned_time_of_produced_s = FloatField(help_text="Σ PRU·PQ")
    planned_time_of_scrap_s = FloatField(help_text="Σ PRU·SQ")
    planned_time_of_rework_s = FloatField(help_text="Σ PRU·RQ")


class OeeKpisSerializer(serializers.Serializer):
    """KPIs as fractions (0.85 = 85 %); null where undefined (a zero denominator)."""

    availability = FloatField(allow_null=True, help_text="APT / (PBT − no data)")
    effectiveness = FloatField(allow_null=True, help_text="Σ PRU·PQ / APT (raw)")
    quality_ratio = FloatField(allow_null=True, help_text="GQ / PQ")
    oee = FloatField(allow_null=True, help_text="A · E · Q")
    nee = FloatField(allow_null=True, help_text="AUPT / (PBT − no data) · E · Q")
    technical_efficiency = FloatField(allow_null=True, help_text="APT / (APT+ADET)")
    setup_rate = FloatField(allow_null=True, help_text="AUST / AUPT")
    scrap_ratio = FloatField(allow_null=True, help_text="SQ / PQ")
    rework_ratio = FloatField(allow_null=True, help_text="RQ / PQ")
    data_coverage = FloatField(allow_null=True, help_text="(PBT − no data) / PBT")


FLAG_HELP = (
    "Set flags: effectiveness_above_one, has_no_data_time, has_downtime_needing_reason, "
    "has_counts_without_production_time, has_counts_without_run_time."
)


class EquipmentLiveSerializer(serializers.Serializer):
    equipment_id = IntegerField()
    code = serializers.CharField()
    state = serializers.CharField(allow_null=True, help_text=STATE_HELP)
    state_since = serializers.DateTimeField(allow_null=True)
    reason_id = IntegerField(allow_null=True)
    availability = FloatField(allow_null=True)
    effectiveness = FloatField(allow_null=True)
    quality_ratio = FloatField(allow_null=True)
    oee = FloatField(allow_null=True)


class OeeCurrentSerializer(serializers.Serializer):
    """OEE of the open shift (or the latest one between shifts), kept current live."""

    scope = serializers.ChoiceField(choices=OeeScope.choices)
    scope_id = IntegerField()
    period = serializers.CharField()
    shift = serializers.CharField(allow_null=True)
    period_start_at = serializers.DateTimeField(allow_null=True)
    period_end_at = serializers.DateTimeField(allow_null=True)
    is_open = serializers.BooleanField()
    computed_at = serializers.DateTimeField()
    elements = OeeElementsSerializer()
    kpis = OeeKpisSerializer()
    flags = serializers.ListField(child=serializers.CharField(), help_text=FLAG_HELP)
    minor_stop_count = IntegerField()
    needs_reason_count = IntegerField()
    counts_without_run_time = IntegerField()
    equipment = EquipmentLiveSerializer(many=True)


class OeeWindowSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=OeeScope.choices)
    scope_id = IntegerField()
    period_start_at = serializers.DateTimeField()
    period_end_at = serializers.DateTimeField()
    computed_at = serializers.DateTimeField()
    elements = OeeElementsSerializer()
    kpis = OeeKpisSerializer()
    flags = serializers.ListField(child=serializers.CharField(), help_text=FLAG_HELP)
    minor_stop_count = IntegerField()
    needs_reason_count = IntegerField()
    counts_without_run_time = IntegerField()


class OeeWorkOrderSerializer(serializers.Serializer):
    work_order_id = IntegerField()
    work_order_number = serializers.CharField()
    period_start_at = serializers.DateTimeField()
    period_end_at = serializers.DateTimeField()
    is_open = serializers.BooleanField()
    computed_at = serializers.DateTimeField()
    elements = OeeElementsSerializer()
    kpis = OeeKpisSerializer()
    flags = serializers.ListField(child=serializers.CharField(), help_text=FLAG_HELP)
    minor_stop_count = IntegerField()
    needs_reason_count = IntegerField()
    counts_without_run_time = IntegerField()


class OeeSnapshotSerializer(ModelSerializer):
    work_order_number = serializers.CharField(
        source="work_order.number", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = OeeSnapshot
        fields = [
            "id",
            "scope",
            "scope_id",
            "period",
            "period_start_at",
            "period_end_at",
            "label",
            "work_order",
            "work_order_number",
            "is_closed",
            "planned_operation_time_s",
            "planned_down_time_s",
            "planned_busy_time_s",
            "actual_production_time_s",
            "actual_setup_time_s",
            "actual_delay_time_s",
            "actual_down_time_s",
            "no_data_time_s",
            "minor_stop_time_s",
            "needs_reason_time_s",
            "planned_time_of_produced_s",
            "planned_time_of_scrap_s",
            "planned_time_of_rework_s",
            "produced_quantity",
            "good_quantity",
            "scrap_quantity",
            "rework_quantity",
            "availability",
            "effectiveness",
            "quality_ratio",
            "oee",
            "nee",
            "computed_at",
        ]


class ParetoRowSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="Reason code, 'minor_stop', 'unclassified' or state.")
    label = serializers.CharField()
    iso_element = serializers.CharField()
    duration_s = FloatField()
    stop_count = IntegerField()
    share = FloatField(allow_null=True)
    cumulative_share = FloatField(allow_null=True)


class ParetoSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=OeeScope.choices)
    scope_id = IntegerField()
    start_at = serializers.DateTimeField()
    end_at = serializers.DateTimeField()
    total_s = FloatField()
    rows = ParetoRowSerializer(many=True)


class WaterfallStepSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    iso = serializers.CharField(help_text="How the loss is read from the ISO 22400 elements.")
    duration_s = FloatField()


class WaterfallSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=OeeScope.choices)
    scope_id = IntegerField()
    period_start_at = serializers.DateTimeField(allow_null=True)
    period_end_at = serializers.DateTimeField(allow_null=True)
    start_s = FloatField(help_text="PBT − no data: where the waterfall starts.")
    planned_busy_time_s = FloatField()
    no_data_s = FloatField()
    steps = WaterfallStepSerializer(many=True)
    fully_productive_s = FloatField()
    needs_reason_s = FloatField()


class WindowQuerySerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=OeeScope.choices, default=OeeScope.LINE)
    scope_id = IntegerField(min_value=1)
    start = serializers.DateTimeField(required=False, help_text="Default: the current shift.")
    end = serializers.DateTimeField(required=False, help_text="Default: now.")

    def validate(self, attrs):
        start, end = attrs.get("start"), attrs.get("end")
        if start is None:
            if end is not None:
                raise serializers.ValidationError({"start": "Give start with end."})
            return attrs
        if end is None:
            end = attrs["end"] = timezone.now()
        if end <= start:
            raise serializers.ValidationError({"end": "The end must be after the start."})
        if end - start > timedelta(days=62):
            raise serializers.ValidationError({"end": "At most 62 days at once."})
        return attrs


# --- views ----------


OEE_READ = ["production.view_oeesnapshot"]


def _current_list_schema(scope_label: str):
    return extend_schema_view(
        list=extend_schema(
            summary=f"Current OEE of each {scope_label} in your scope (open shift, live)",
            responses={200: OeeCurrentSerializer(many=True), **ERROR_RESPONSES},
        ),
        retrieve=extend_schema(
            summary=f"Current OEE of one {scope_label}: ISO elements, KPIs, flags",
            responses={200: OeeCurrentSerializer, **ERROR_RESPONSES},
        ),
    )


class _OeeCurrentViewSet(viewsets.GenericViewSet):
    """Live OEE of the open shift per scope object (paginated list; one object)."""

    scope: str = ""
    selector = None
    permission_classes = [ActionPermissions]
    action_permissions = {"*": OEE_READ}
    serializer_class = OeeCurrentSerializer
    filter_backends: list = []

    def get_queryset(self):
        return type(self).selector(user=self.request.user)

    def list(self, request):
        page = self.paginate_queryset(self.get_queryset().order_by("pk"))
        ids = [obj.pk for obj in page]
        reports = oee_current(scope=self.scope, scope_ids=ids)
        data = OeeCurrentSerializer([reports[i] for i in ids], many=True).data
        return self.get_paginated_response(data)

    def retrieve(self, request, pk=None):
        obj = self.get_object()
        report = oee_current(scope=self.scope, scope_ids=[obj.pk])[obj.pk]
        return Response(OeeCurrentSerializer(report).data)


@_current_list_schema("line")
class LineOeeViewSet(_OeeCurrentViewSet):
    scope = OeeScope.LINE
    selector = line_list


@_current_list_schema("area")
class AreaOeeViewSet(_OeeCurrentViewSet):
    scope = OeeScope.AREA
    selector = oee_area_list


@_current_list_schema("site")
class SiteOeeViewSet(_OeeCurrentViewSet):
    scope = OeeScope.SITE
    selector = oee_site_list


@_current_list_schema("equipment")
class EquipmentOeeViewSet(_OeeCurrentViewSet):
    scope = OeeScope.EQUIPMENT
    selector = equipment_list
    action_permissions = {
        "*": OEE_READ,
        "timeline": ["production.view_equipmentstateinterval"],
    }

    @extend_schema(
        summary="State timeline of one equipment for a range (for charts)",
        parameters=[TimelineQuerySerializer],
        responses={200: TimelineSerializer, **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["get"])
    def timeline(self, request, pk=None):
        equipment = self.get_object()
        query = TimelineQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = equipment_timeline(
            equipment=equipment,
            start=query.validated_data["start"],
            end=query.validated_data["end"],
        )
        return Response(TimelineSerializer(data).data)


@extend_schema_view(
    list=extend_schema(summary="OEE history: stored snapshots (filter scope, period, range)"),
    retrieve=extend_schema(summary="One OEE snapshot"),
)
class OeeSnapshotViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = OeeSnapshotSerializer
    permission_classes = [ActionPermissions]
    action_permissions = {"*": OEE_READ}
    filterset_class = OeeSnapshotFilterSet
    ordering_fields = ["period_start_at", "oee", "availability"]
    ordering = ["-period_start_at", "scope", "scope_id"]

    def get_queryset(self):
        return oee_snapshot_list(user=self.request.user)


def _scope_object_check(request, scope: str, scope_id: int) -> None:
    """404 unless the scope object exists and is in the user's plant scope."""
    selector = {
        OeeScope.EQUIPMENT: equipment_list,
        OeeScope.LINE: line_list,
        OeeScope.AREA: oee_area_list,
        OeeScope.SITE: oee_site_list,
    }[scope]
    if not selector(user=request.user).filter(pk=scope_id).exists():
        raise NotFound(f"No {scope} {scope_id} in your plant scope.")


def _window(request) -> tuple[str, int, datetime | None, datetime | None]:
    query = WindowQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    data = query.validated_data
    _scope_object_check(request, data["scope"], data["scope_id"])
    return data["scope"], data["scope_id"], data.get("start"), data.get("end")


class OeeLossesViewSet(viewsets.GenericViewSet):
    """Loss reports of one scope object over a window (default: its current shift)."""

    permission_classes = [ActionPermissions]
    action_permissions = {"*": OEE_READ}
    serializer_class = ParetoSerializer
    filter_backends: list = []
    pagination_class = None

    def get_queryset(self):
        return OeeSnapshot.objects.none()

    @extend_schema(
        summary="Loss Pareto by downtime reason (largest first, with cumulative share)",
        parameters=[WindowQuerySerializer],
        responses={200: ParetoSerializer, **ERROR_RESPONSES},
    )
    @action(detail=False, methods=["get"])
    def pareto(self, request):
        scope, scope_id, start, end = _window(request)
        if start is None:
            start, end = _current_window(scope, scope_id)
        data = loss_pareto(scope=scope, scope_id=scope_id, start=start, end=end)
        return Response(ParetoSerializer(data).data)

    @extend_schema(
        summary="Six big losses as a waterfall from PBT to fully productive time",
        parameters=[WindowQuerySerializer],
        responses={200: WaterfallSerializer, **ERROR_RESPONSES},
    )
    @action(detail=False, methods=["get"], url_path="six-big-losses")
    def six_big_losses(self, request):
        scope, scope_id, start, end = _window(request)
        if start is None:
            report = oee_current(scope=scope, scope_ids=[scope_id])[scope_id]
            elements = report_elements(report["elements"])
            start, end = report["period_start_at"], report["period_end_at"]
        else:
            _, elements = oee_window(scope=scope, scope_id=scope_id, start=start, end=end)
        data = {
            "scope": scope,
            "scope_id": scope_id,
            "period_start_at": start,
            "period_end_at": end,
            **six_big_losses_waterfall(elements),
        }
        return Response(WaterfallSerializer(data).data)

    @extend_schema(
        summary="OEE of one scope object over any window, computed from the timeline",
        parameters=[WindowQuerySerializer],
        responses={200: OeeWindowSerializer, **ERROR_RESPONSES},
    )
    @action(detail=False, methods=["get"])
    def window(self, request):
        scope, scope_id, start, end = _window(request)
        if start is None:
            start, end = _current_window(scope, scope_id)
        report, _ = oee_window(scope=scope, scope_id=scope_id, start=start, end=end)
        return Response(OeeWindowSerializer(report).data)


def _current_window(scope: str, scope_id: int) -> tuple[datetime, datetime]:
    report = oee_current(scope=scope, scope_ids=[scope_id])[scope_id]
    now = timezone.now()
    if report["period_start_at"] is None:
        return now - timedelta(hours=8), now
    return report["period_start_at"], min(report["period_end_at"], now)


@extend_schema_view(
    retrieve=extend_schema(
        summary="OEE of a work order (its operations' runs, its counts)",
        responses={200: OeeWorkOrderSerializer, **ERROR_RESPONSES},
    )
)
class WorkOrderOeeViewSet(viewsets.GenericViewSet):
    permission_classes = [ActionPermissions]
    action_permissions = {"*": OEE_READ}
    serializer_class = OeeWorkOrderSerializer
    filter_backends: list = []

    def get_queryset(self):
        return work_order_list(user=self.request.user)

    def retrieve(self, request, pk=None):
        work_order = self.get_object()
        return Response(OeeWorkOrderSerializer(oee_work_order(work_order=work_order)).data)
