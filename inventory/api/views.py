from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from inventory import selectors, services
from inventory.api import serializers as s
from mes_site.api import ERROR_RESPONSES


class ItemViewSet(viewsets.ModelViewSet):
    queryset = selectors.item_list()
    serializer_class = s.ItemSerializer
    filterset_fields = ["kind"]
    search_fields = ["code", "name"]


class LocationViewSet(viewsets.ModelViewSet):
    queryset = selectors.location_list()
    serializer_class = s.LocationSerializer
    filterset_fields = ["site"]
    search_fields = ["code", "name"]


class StockViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = selectors.stock_list()
    serializer_class = s.StockSerializer
    filterset_fields = ["lot", "location", "lot__item"]


class StockMovementViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """The stock ledger; POST books one movement (receipt, issue, transfer, adjustment)."""

    queryset = selectors.stock_movement_list()
    serializer_class = s.StockMovementSerializer
    filterset_fields = ["kind", "lot", "from_location", "to_location"]

    @extend_schema(
        request=s.StockMoveSerializer, responses={201: s.StockMovementSerializer, **ERROR_RESPONSES}
    )
    def create(self, request, *args, **kwargs):
        serializer = s.StockMoveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        movement = services.stock_move(actor=request.user, **serializer.validated_data)
        return Response(s.StockMovementSerializer(movement).data, status=status.HTTP_201_CREATED)
