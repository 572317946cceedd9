from decimal import Decimal

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from inventory import filtersets, selectors, services
from inventory.api import serializers as s
from mes_site.api import ERROR_RESPONSES, command_schema, validated_input


class ItemViewSet(viewsets.ModelViewSet):
    queryset = selectors.item_list()
    serializer_class = s.ItemSerializer
    filterset_class = filtersets.ItemFilterSet
    search_fields = ["code", "name"]

    @extend_schema(
        parameters=[s.PickQuerySerializer],
        responses={200: s.PickProposalSerializer, **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def pick(self, request, pk=None):
        """Where to pick a quantity of the item from (the stock in your scope): first expiring
        first (FEFO) or oldest first (FIFO); expired, held and reserved stock is left out."""
        item = self.get_object()
        params = _pick_query(request)
        stocks = selectors.stock_list_scoped(user=request.user)
        if params.get("site") is not None:
            stocks = stocks.filter(location__site_id=params["site"])
        lines, shortfall = selectors.pick_proposal(
            stocks=stocks,
            item_id=item.pk,
            quantity=Decimal(str(params["quantity"])).quantize(Decimal("0.001")),
            rule=params["rule"],
        )
        return Response(
            s.PickProposalSerializer(
                {"rule": params["rule"], "lines": lines, "shortfall": shortfall}
            ).data
        )


class LocationViewSet(viewsets.ModelViewSet):
    queryset = selectors.location_list()  # for the permission class; see get_queryset
    serializer_class = s.LocationSerializer
    filterset_class = filtersets.LocationFilterSet

    def get_queryset(self):
        return selectors.location_list_scoped(user=self.request.user)

    search_fields = ["code", "name"]


class StockViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = selectors.stock_list()  # for the permission class; see get_queryset
    serializer_class = s.StockSerializer
    filterset_class = filtersets.StockFilterSet

    command_permissions = {"count": "inventory.add_stockmovement"}

    def get_queryset(self):
        return selectors.stock_list_scoped(user=self.request.user)

    @extend_schema(
        parameters=[s.ExpiringQuerySerializer],
        responses={200: s.ExpiringStockSerializer(many=True), **ERROR_RESPONSES},
    )
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def expiring(self, request):
        """Shelf-life alerts: stock in your scope whose lot expires within ``within_days``
        (30 by default), expired lots included, first expiring first."""
        query = s.ExpiringQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        now = timezone.now()
        rows = selectors.stock_expiring(
            stocks=self.get_queryset(), within_days=query.validated_data["within_days"], now=now
        )
        return Response(s.ExpiringStockSerializer(rows, many=True, context={"now": now}).data)

    @command_schema(request=s.CycleCountSerializer, response=s.StockSerializer)
    @action(detail=True, methods=["post"])
    def count(self, request, pk=None):
        """A cycle count: the difference to the book quantity is booked as an adjustment and
        the count is audited."""
        stock = self.get_object()
        data = validated_input(s.CycleCountSerializer, request)
        services.cycle_count_record(
            stock_id=stock.pk,
            counted_quantity=data["counted_quantity"],
            reason=data["reason"],
            actor=request.user,
        )
        return Response(s.StockSerializer(selectors.stock_list().get(pk=stock.pk)).data)


class StockMovementViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """The stock ledger; POST books one movement (receipt, issue, transfer, adjustment)."""

    queryset = selectors.stock_movement_list()  # for the permission class; see get_queryset
    serializer_class = s.StockMovementSerializer
    filterset_class = filtersets.StockMovementFilterSet

    def get_queryset(self):
        return selectors.stock_movement_list_scoped(user=self.request.user)

    @extend_schema(
        request=s.StockMoveSerializer, responses={201: s.StockMovementSerializer, **ERROR_RESPONSES}
    )
    def create(self, request, *args, **kwargs):
        serializer = s.StockMoveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        movement = services.stock_move(actor=request.user, **serializer.validated_data)
        return Response(s.StockMovementSerializer(movement).data, status=status.HTTP_201_CREATED)


class ReservationViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Reservations of stock; they lower the available quantity, not the on-hand one."""

    queryset = selectors.reservation_list()  # for the permission class; see get_queryset
    serializer_class = s.ReservationSerializer
    filterset_class = filtersets.ReservationFilterSet

    def get_queryset(self):
        return selectors.reservation_list_scoped(user=self.request.user)

    command_permissions = {
        "release": "inventory.change_reservation",
        "consume": "inventory.change_reservation",
    }

    @extend_schema(
        request=s.ReservationCreateSerializer,
        responses={201: s.ReservationSerializer, **ERROR_RESPONSES},
    )
    def create(self, request, *args, **kwargs):
        serializer = s.ReservationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        common = {
            "quantity": data["quantity"],
            "maintenance_work_order": data["maintenance_work_order"],
            "reference": data["reference"]
            or (data["maintenance_work_order"].number if data["maintenance_work_order"] else ""),
            "reason": data["reason"],
            "actor": request.user,
        }
        if data["stock"] is not None:
            reservation = services.reservation_create(stock_id=data["stock"], **common)
        else:
            reservation = services.item_reserve(
                item_id=data["item"], site_id=data["site"], **common
            )
        return Response(s.ReservationSerializer(reservation).data, status=status.HTTP_201_CREATED)

    @command_schema(request=s.ReasonSerializer, response=s.ReservationSerializer)
    @action(detail=True, methods=["post"])
    def release(self, request, pk=None):
        reservation = self.get_object()
        serializer = s.ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        updated = services.reservation_release(
            reservation_id=reservation.pk, actor=request.user, **serializer.validated_data
        )
        return Response(
            s.ReservationSerializer(selectors.reservation_list().get(pk=updated.pk)).data
        )

    @command_schema(
        request=s.ReasonSerializer,
        response=s.ReservationSerializer,
        summary="Issue the reserved quantity from its stock (one ledger row)",
    )
    @action(detail=True, methods=["post"])
    def consume(self, request, pk=None):
        reservation = self.get_object()
        serializer = s.ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        updated = services.reservation_consume(
            reservation_id=reservation.pk, actor=request.user, **serializer.validated_data
        )
        return Response(
            s.ReservationSerializer(selectors.reservation_list().get(pk=updated.pk)).data
        )


class ProcurementRequestViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """The procurement outbox for the ERP.

    The ERP polls with ``POST fetch/`` (pending and stale requests; they become ``sent``)
    and confirms each with ``POST {id}/acknowledge/`` and its own reference.
    """

    queryset = selectors.procurement_request_list()  # for the permission class; see get_queryset
    serializer_class = s.ProcurementRequestSerializer
    filterset_class = filtersets.ProcurementRequestFilterSet

    def get_queryset(self):
        return selectors.procurement_request_list_scoped(user=self.request.user)

    search_fields = ["number", "reference", "erp_reference"]
    command_permissions = {
        "fetch": "inventory.exchange_procurementrequest",
        "acknowledge": "inventory.exchange_procurementrequest",
        "cancel": "inventory.change_procurementrequest",
    }

    @extend_schema(
        request=s.ProcurementRequestCreateSerializer,
        responses={201: s.ProcurementRequestSerializer, **ERROR_RESPONSES},
    )
    def create(self, request, *args, **kwargs):
        serializer = s.ProcurementRequestCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        created = services.procurement_request_create(
            actor=request.user, **serializer.validated_data
        )
        return Response(
            s.ProcurementRequestSerializer(created).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        summary="ERP poll: hand out the pending (and stale) requests, marking them sent",
        request=s.ProcurementFetchSerializer,
        responses={200: s.ProcurementRequestSerializer(many=True), **ERROR_RESPONSES},
    )
    @action(detail=False, methods=["post"])
    def fetch(self, request):
        serializer = s.ProcurementFetchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rows = services.procurement_requests_fetch(
            actor=request.user, limit=serializer.validated_data["limit"]
        )
        return Response(s.ProcurementRequestSerializer(rows, many=True).data)

    @command_schema(
        request=s.ProcurementAcknowledgeSerializer,
        response=s.ProcurementRequestSerializer,
        summary="ERP: the request is taken over under the ERP's reference",
    )
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        serializer = s.ProcurementAcknowledgeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        updated = services.procurement_request_acknowledge(
            request_id=self.get_object().pk,
            actor=request.user,
            erp_reference=serializer.validated_data["erp_reference"],
        )
        return Response(s.ProcurementRequestSerializer(updated).data)

    @command_schema(request=s.ReasonSerializer, response=s.ProcurementRequestSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        serializer = s.ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        updated = services.procurement_request_cancel(
            request_id=self.get_object().pk, actor=request.user, **serializer.validated_data
        )
        return Response(s.ProcurementRequestSerializer(updated).data)


def _pick_query(request) -> dict:
    serializer = s.PickQuerySerializer(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
