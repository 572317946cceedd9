from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from maintenance import selectors, services
from maintenance.api import serializers as s
from mes_site.api import ERROR_RESPONSES, ScopedModelViewSet, command_schema
from mes_site.errors import NotFound
from production.selectors import equipment_list


class ComponentPartViewSet(viewsets.ModelViewSet):
    queryset = selectors.component_part_list()
    serializer_class = s.ComponentPartSerializer
    filterset_fields = ["equipment", "spare_item"]


class MaintenanceWorkOrderViewSet(ScopedModelViewSet):
    selector = selectors.maintenance_work_order_list
    serializer_class = s.MaintenanceWorkOrderSerializer
    http_method_names = ["get", "post", "head", "options"]
    filterset_fields = ["state", "kind", "equipment", "priority"]
    search_fields = ["number", "title"]
    command_permissions = {
        "schedule": "maintenance.schedule_maintenanceworkorder",
        "start": "maintenance.perform_maintenanceworkorder",
        "complete": "maintenance.perform_maintenanceworkorder",
        "cancel": "maintenance.schedule_maintenanceworkorder",
    }

    @extend_schema(
        request=s.MaintenanceWorkOrderCreateSerializer,
        responses={201: s.MaintenanceWorkOrderSerializer, **ERROR_RESPONSES},
    )
    def create(self, request, *args, **kwargs):
        serializer = s.MaintenanceWorkOrderCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if not equipment_list(user=request.user).filter(pk=data["equipment"].pk).exists():
            raise NotFound("No such equipment in your plant scope.")
        order = services.maintenance_work_order_create(actor=request.user, **data)
        return Response(
            s.MaintenanceWorkOrderSerializer(order).data, status=status.HTTP_201_CREATED
        )

    @command_schema(request=s.ScheduleSerializer, response=s.MaintenanceWorkOrderSerializer)
    @action(detail=True, methods=["post"])
    def schedule(self, request, pk=None):
        order = self.get_object()
        serializer = s.ScheduleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        updated = services.maintenance_work_order_schedule(
            order_id=order.pk, actor=request.user, **serializer.validated_data
        )
        return Response(s.MaintenanceWorkOrderSerializer(updated).data)

    def _command(self, request, service):
        order = self.get_object()
        serializer = s.ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        updated = service(order_id=order.pk, actor=request.user, **serializer.validated_data)
        return Response(s.MaintenanceWorkOrderSerializer(updated).data)

    @command_schema(request=s.ReasonSerializer, response=s.MaintenanceWorkOrderSerializer)
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        return self._command(request, services.maintenance_work_order_start)

    @command_schema(request=s.ReasonSerializer, response=s.MaintenanceWorkOrderSerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        return self._command(request, services.maintenance_work_order_complete)

    @command_schema(request=s.ReasonSerializer, response=s.MaintenanceWorkOrderSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._command(request, services.maintenance_work_order_cancel)
