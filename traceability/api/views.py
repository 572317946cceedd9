from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from mes_site.api import ERROR_RESPONSES, command_schema
from mes_site.errors import ValidationFailed
from traceability import filtersets, selectors, services
from traceability.api import serializers as s
from traceability.models import SerialUnit
from traceability.selectors.trace import trace_both_ways


class LotViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    queryset = selectors.lot_list()  # for the permission class; see get_queryset
    serializer_class = s.LotSerializer
    filterset_class = filtersets.LotFilterSet
    search_fields = ["code"]
    command_permissions = {
        "consume": "traceability.add_genealogylink",
        "set_status": "traceability.change_lot",
    }

    def get_queryset(self):
        return selectors.lot_list_scoped(user=self.request.user)

    @extend_schema(
        request=s.LotCreateSerializer, responses={201: s.LotSerializer, **ERROR_RESPONSES}
    )
    def create(self, request, *args, **kwargs):
        serializer = s.LotCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        lot = services.lot_create(actor=request.user, **serializer.validated_data)
        return Response(s.LotSerializer(lot).data, status=status.HTTP_201_CREATED)

    @command_schema(request=s.LotConsumeSerializer, response=s.GenealogyLinkSerializer(many=True))
    @action(detail=True, methods=["post"])
    def consume(self, request, pk=None):
        """Record the lots consumed to make this lot."""
        lot = self.get_object()
        serializer = s.LotConsumeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        links = services.lot_consume(
            produced_lot_id=lot.pk,
            consumptions=[
                services.Consumption(lot_id=entry["lot"].pk, quantity=entry["quantity"])
                for entry in serializer.validated_data["consumed"]
            ],
            actor=request.user,
        )
        return Response(s.GenealogyLinkSerializer(links, many=True).data)

    @command_schema(request=s.LotStatusSerializer, response=s.LotSerializer)
    @action(detail=True, methods=["post"], url_path="status")
    def set_status(self, request, pk=None):
        lot = self.get_object()
        serializer = s.LotStatusSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        updated = services.lot_set_status(
            lot_id=lot.pk, actor=request.user, **serializer.validated_data
        )
        return Response(s.LotSerializer(updated).data)

    @extend_schema(
        parameters=[OpenApiParameter("direction", str, enum=["backward", "forward"])],
        responses={200: s.GenealogyEdgeSerializer(many=True), **ERROR_RESPONSES},
    )
    # the whole trace at once, a bare list: not paginated, not filtered like the lots
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def genealogy(self, request, pk=None):
        """Trace a lot backward to its inputs or forward to where it went."""
        lot = self.get_object()
        direction = request.query_params.get("direction", "backward")
        if direction not in {"backward", "forward"}:
            raise ValidationFailed(
                "direction is 'backward' or 'forward'.", detail={"direction": direction}
            )
        trace = selectors.lot_genealogy(
            lot_id=lot.pk,
            direction=direction,
            visible=selectors.lot_list_scoped(user=request.user),
        )
        return Response(trace)

    @extend_schema(responses={200: s.TraceSerializer, **ERROR_RESPONSES})
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def trace(self, request, pk=None):
        """Backward (what went into it) and forward (where it went) through the genealogy of
        lots and serial units, to any depth, each node with its path from this lot."""
        lot = self.get_object()
        return Response(
            trace_both_ways(lot_id=lot.pk, visible=selectors.lot_list_scoped(user=request.user))
        )


class SerialUnitViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = SerialUnit.objects.select_related("lot")  # for the permission class
    serializer_class = s.SerialUnitSerializer
    filterset_class = filtersets.SerialUnitFilterSet
    search_fields = ["serial"]

    def get_queryset(self):
        return selectors.serial_unit_list_scoped(user=self.request.user)

    @extend_schema(responses={200: s.TraceSerializer, **ERROR_RESPONSES})
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def trace(self, request, pk=None):
        """Backward and forward from a serial unit (see the lots' ``trace``)."""
        unit = self.get_object()
        visible = selectors.lot_list_scoped(user=request.user)
        return Response(trace_both_ways(serial_unit_id=unit.pk, visible=visible))


class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = selectors.audit_event_list()  # for the permission class; see get_queryset
    serializer_class = s.AuditEventSerializer
    filterset_class = filtersets.AuditEventFilterSet

    def get_queryset(self):
        return selectors.audit_event_list_scoped(user=self.request.user)
