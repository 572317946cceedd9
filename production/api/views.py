from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from autonomy.services import guardrails
from mes_site.api import ERROR_RESPONSES, ScopedModelViewSet, command_schema, validated_input
from mes_site.errors import NotFound
from production import filtersets, selectors, services
from production.api import bom as bom_api
from production.api import serializers as s
from production.models import (
    Capability,
    DowntimeReason,
    Enterprise,
    OperationTemplate,
    PlannedDowntime,
    Product,
    Routing,
    Shift,
    ShiftBreak,
    ShiftCalendar,
)
from production.selectors.bom import operation_consumption_variance
from production.services.consumption import operation_consume_scan


class EnterpriseViewSet(viewsets.ModelViewSet):
    queryset = Enterprise.objects.all()
    serializer_class = s.EnterpriseSerializer
    search_fields = ["code", "name"]


class SiteViewSet(ScopedModelViewSet):
    selector = selectors.site_list
    serializer_class = s.SiteSerializer
    filterset_class = filtersets.SiteFilterSet
    search_fields = ["code", "name"]


class AreaViewSet(ScopedModelViewSet):
    selector = selectors.area_list
    serializer_class = s.AreaSerializer
    filterset_class = filtersets.AreaFilterSet
    search_fields = ["code", "name"]


class LineViewSet(ScopedModelViewSet):
    selector = selectors.line_list
    serializer_class = s.LineSerializer
    filterset_class = filtersets.LineFilterSet
    search_fields = ["code", "name"]


class CellViewSet(ScopedModelViewSet):
    selector = selectors.cell_list
    serializer_class = s.CellSerializer
    filterset_class = filtersets.CellFilterSet
    search_fields = ["code", "name"]


class CapabilityViewSet(viewsets.ModelViewSet):
    queryset = Capability.objects.all()
    serializer_class = s.CapabilitySerializer
    search_fields = ["code", "name"]


class EquipmentViewSet(ScopedModelViewSet):
    selector = selectors.equipment_list
    serializer_class = s.EquipmentSerializer
    filterset_class = filtersets.EquipmentFilterSet
    search_fields = ["code", "name", "uns_path"]


class SignalViewSet(ScopedModelViewSet):
    selector = selectors.signal_list
    serializer_class = s.SignalSerializer
    filterset_class = filtersets.SignalFilterSet
    search_fields = ["name"]


class ProductViewSet(viewsets.ModelViewSet):
    queryset = Product.objects.select_related("item")
    serializer_class = s.ProductSerializer
    search_fields = ["code", "name"]


class RoutingViewSet(viewsets.ModelViewSet):
    queryset = Routing.objects.select_related("product").prefetch_related("operations")
    serializer_class = s.RoutingSerializer
    filterset_class = filtersets.RoutingFilterSet


class OperationTemplateViewSet(viewsets.ModelViewSet):
    queryset = OperationTemplate.objects.select_related("routing", "capability")
    serializer_class = s.OperationTemplateSerializer
    filterset_class = filtersets.OperationTemplateFilterSet


class ShiftCalendarViewSet(viewsets.ModelViewSet):
    queryset = ShiftCalendar.objects.prefetch_related("shifts__breaks", "planned_downtimes")
    serializer_class = s.ShiftCalendarSerializer
    filterset_class = filtersets.ShiftCalendarFilterSet


class ShiftViewSet(viewsets.ModelViewSet):
    queryset = Shift.objects.prefetch_related("breaks")
    serializer_class = s.ShiftSerializer
    filterset_class = filtersets.ShiftFilterSet


class ShiftBreakViewSet(viewsets.ModelViewSet):
    queryset = ShiftBreak.objects.all()
    serializer_class = s.ShiftBreakSerializer
    filterset_class = filtersets.ShiftBreakFilterSet


class PlannedDowntimeViewSet(viewsets.ModelViewSet):
    queryset = PlannedDowntime.objects.all()
    serializer_class = s.PlannedDowntimeSerializer
    filterset_class = filtersets.PlannedDowntimeFilterSet


class DowntimeReasonViewSet(viewsets.ModelViewSet):
    queryset = DowntimeReason.objects.select_related("parent")
    serializer_class = s.DowntimeReasonSerializer
    filterset_class = filtersets.DowntimeReasonFilterSet
    search_fields = ["code", "name"]


def _reason(request) -> str:
    serializer = s.ReasonSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data["reason"]


class WorkOrderViewSet(ScopedModelViewSet):
    """Work orders: created by planners or the ERP, moved through explicit commands."""

    selector = selectors.work_order_list
    http_method_names = ["get", "post", "head", "options"]
    filterset_class = filtersets.WorkOrderFilterSet
    search_fields = ["number"]
    ordering_fields = ["due_at", "priority", "number", "created_at"]
    command_permissions = {
        "release": "production.release_workorder",
        "cancel": "production.release_workorder",
        "start": "production.operate_workorder",
        "pause": "production.operate_workorder",
        "resume": "production.operate_workorder",
        "complete": "production.operate_workorder",
    }

    def get_serializer_class(self):
        if self.action == "create":
            return s.WorkOrderCreateSerializer
        if self.action == "retrieve":
            return s.WorkOrderDetailSerializer
        return s.WorkOrderSerializer

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action == "list":
            # The list shows the codes of the product and line; routing and site are ids.
            queryset = queryset.select_related(None).select_related("product", "line")
        if self.action == "retrieve":
            queryset = queryset.prefetch_related(
                "operations__capability", "operations__assigned_equipment"
            )
        return queryset

    @extend_schema(
        request=s.WorkOrderCreateSerializer,
        responses={201: s.WorkOrderDetailSerializer, **ERROR_RESPONSES},
    )
    def create(self, request, *args, **kwargs):
        serializer = s.WorkOrderCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        source = "erp" if request.user.groups.filter(name="integration").exists() else "planner"
        work_order = services.work_order_create(
            number=data["number"],
            product=data["product"],
            quantity=data["quantity"],
            due_at=data["due_at"],
            site=data["site"],
            line=data.get("line"),
            routing=data.get("routing"),
            priority=data["priority"],
            source=source,
            actor=request.user,
        )
        return Response(
            s.WorkOrderDetailSerializer(work_order).data, status=status.HTTP_201_CREATED
        )

    def _command(self, request, service):
        work_order = self.get_object()  # 404 outside the user's scope
        updated = service(work_order_id=work_order.pk, actor=request.user, reason=_reason(request))
        return Response(s.WorkOrderSerializer(updated).data)

    @command_schema(request=s.ReasonSerializer, response=s.WorkOrderSerializer)
    @action(detail=True, methods=["post"])
    def release(self, request, pk=None):
        return self._command(request, services.work_order_release)

    @command_schema(request=s.ReasonSerializer, response=s.WorkOrderSerializer)
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        return self._command(request, services.work_order_start)

    @command_schema(request=s.ReasonSerializer, response=s.WorkOrderSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return self._command(request, services.work_order_pause)

    @command_schema(request=s.ReasonSerializer, response=s.WorkOrderSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return self._command(request, services.work_order_resume)

    @command_schema(request=s.ReasonSerializer, response=s.WorkOrderSerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        return self._command(request, services.work_order_complete)

    @command_schema(request=s.ReasonSerializer, response=s.WorkOrderSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._command(request, services.work_order_cancel)


class OperationViewSet(ScopedModelViewSet):
    selector = selectors.operation_list
    serializer_class = s.OperationSerializer
    http_method_names = ["get", "post", "head", "options"]
    filterset_class = filtersets.OperationFilterSet
    command_permissions = {
        "start": "production.operate_operation",
        "pause": "production.operate_operation",
        "resume": "production.operate_operation",
        "complete": "production.operate_operation",
        "report": "production.operate_operation",
        "consume": "production.operate_operation",
    }

    def create(self, request, *args, **kwargs):  # operations come from the routing
        return Response(
            {
                "code": "method_not_allowed",
                "message": "Operations are created with their work order.",
                "detail": {},
            },
            status=status.HTTP_405_METHOD_NOT_ALLOWED,
        )

    @command_schema(request=s.OperationStartSerializer, response=s.OperationSerializer)
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        operation = self.get_object()
        serializer = s.OperationStartSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        equipment = serializer.validated_data.get("equipment")
        updated = services.operation_start(
            operation_id=operation.pk,
            actor=request.user,
            equipment_id=equipment.pk if equipment else None,
        )
        return Response(s.OperationSerializer(updated).data)

    @command_schema(request=s.ReasonSerializer, response=s.OperationSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        operation = self.get_object()
        updated = services.operation_pause(
            operation_id=operation.pk, actor=request.user, reason=_reason(request)
        )
        return Response(s.OperationSerializer(updated).data)

    @command_schema(request=None, response=s.OperationSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        operation = self.get_object()
        updated = services.operation_resume(operation_id=operation.pk, actor=request.user)
        return Response(s.OperationSerializer(updated).data)

    @command_schema(
        request=bom_api.ScanConsumeSerializer, response=bom_api.ConsumedLinkSerializer(many=True)
    )
    @action(detail=True, methods=["post"])
    def consume(self, request, pk=None):
        """Book a scanned lot or serial unit (GS1 element string) into the unit being made."""
        operation = self.get_object()
        data = validated_input(bom_api.ScanConsumeSerializer, request)
        links = operation_consume_scan(
            operation_id=operation.pk,
            scan=data["scan"],
            quantity=data["quantity"],
            into=data["into"],
            actor=request.user,
        )
        return Response(bom_api.ConsumedLinkSerializer(links, many=True).data)

    @extend_schema(responses={200: bom_api.ConsumptionVarianceSerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def consumption(self, request, pk=None):
        """Consumed against the BOM: required (scrap included), consumed, variance per item."""
        operation = self.get_object()
        rows = operation_consumption_variance(operation=operation)
        return Response(bom_api.ConsumptionVarianceSerializer(rows, many=True).data)

    @command_schema(request=None, response=s.OperationSerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        operation = self.get_object()
        updated = services.operation_complete(operation_id=operation.pk, actor=request.user)
        return Response(s.OperationSerializer(updated).data)

    @command_schema(request=s.QuantityReportSerializer, response=s.OperationSerializer)
    @action(detail=True, methods=["post"])
    def report(self, request, pk=None):
        operation = self.get_object()
        serializer = s.QuantityReportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        updated = services.operation_report_quantity(
            operation_id=operation.pk, actor=request.user, **serializer.validated_data
        )
        return Response(s.OperationSerializer(updated).data)


def _site_in_scope(user, site_id: int):
    """The site of a site-wide setting: one the user sees whole (the one scoping rule)."""
    site = selectors.site_whole_list(user=user).filter(pk=site_id).first()
    if site is None:
        raise NotFound(
            f"Site {site_id} is unknown or outside your plant scope "
            "(a site-wide setting needs every line of the site in your scope)."
        )
    return site


class AutonomyViewSet(viewsets.GenericViewSet):
    """The autonomy mode of each site in scope, its change, and the kill switch."""

    serializer_class = s.SiteAutonomySerializer
    pagination_class = None  # a site has one mode; the list is every site in scope, unpaged
    command_permissions = {
        "set_mode": "autonomy.set_autonomy_mode",
        "kill_switch": "autonomy.set_autonomy_mode",
    }

    def get_queryset(self):
        return selectors.site_list(user=self.request.user).order_by("code")

    @extend_schema(responses={200: s.SiteAutonomySerializer(many=True), **ERROR_RESPONSES})
    def list(self, request):
        return Response(s.SiteAutonomySerializer(self.get_queryset(), many=True).data)

    @command_schema(request=s.AutonomySetSerializer, response=s.SiteAutonomySerializer)
    @action(detail=False, methods=["post"], url_path="set")
    def set_mode(self, request):
        """Set a site's mode: off (propose only), supervised, full."""
        data = validated_input(s.AutonomySetSerializer, request)
        site = _site_in_scope(request.user, data["site"])
        updated = guardrails.autonomy_mode_set(
            site_id=site.pk, mode=data["mode"], actor=request.user, reason=data["reason"]
        )
        return Response(s.SiteAutonomySerializer(updated).data)

    @command_schema(
        request=s.KillSwitchSerializer,
        response=s.SiteAutonomySerializer,
        summary="Kill switch: stop every automatic application on a site at once",
    )
    @action(detail=False, methods=["post"], url_path="kill-switch")
    def kill_switch(self, request):
        data = validated_input(s.KillSwitchSerializer, request)
        site = _site_in_scope(request.user, data["site"])
        updated = guardrails.kill_switch(
            site_id=site.pk, actor=request.user, reason=data["reason"] or "kill switch"
        )
        return Response(s.SiteAutonomySerializer(updated).data)
