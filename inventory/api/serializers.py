from rest_framework import serializers

from inventory.models import (
    Item,
    Location,
    ProcurementRequest,
    Reservation,
    Stock,
    StockMovement,
)
from mes_site.api import ReasonSerializer, model_serializer
from mes_site.fields import FloatField, IntegerField, ModelSerializer
from production.models import Site
from traceability.models import Lot

ItemSerializer = model_serializer(Item)
LocationSerializer = model_serializer(Location)
# The maintenance work orders a reservation may be for (maintenance sits above inventory: the
# model is reached through the foreign key, not imported).
MaintenanceWorkOrder = Reservation._meta.get_field("maintenance_work_order").related_model


class StockSerializer(ModelSerializer):
    lot_code = serializers.CharField(source="lot.code", read_only=True)
    item_code = serializers.CharField(source="lot.item.code", read_only=True)
    location_code = serializers.CharField(source="location.code", read_only=True)
    reserved = serializers.DecimalField(
        max_digits=14, decimal_places=3, read_only=True, source="reserved_quantity"
    )
    available = serializers.DecimalField(
        max_digits=14, decimal_places=3, read_only=True, source="available_quantity"
    )

    class Meta:
        model = Stock
        fields = [
            "id",
            "lot",
            "lot_code",
            "item_code",
            "location",
            "location_code",
            "quantity",
            "reserved",
            "available",
        ]
        read_only_fields = fields


class StockMovementSerializer(ModelSerializer):
    class Meta:
        model = StockMovement
        fields = [
            "id",
            "at",
            "kind",
            "lot",
            "from_location",
            "to_location",
            "quantity",
            "reference",
        ]
        read_only_fields = fields


class StockMoveSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["receipt", "issue", "transfer", "adjustment"])
    lot = serializers.PrimaryKeyRelatedField(queryset=Lot.objects.all())
    quantity = serializers.DecimalField(max_digits=14, decimal_places=3)
    from_location = serializers.PrimaryKeyRelatedField(
        queryset=Location.objects.all(), required=False, allow_null=True
    )
    to_location = serializers.PrimaryKeyRelatedField(
        queryset=Location.objects.all(), required=False, allow_null=True
    )
    reference = serializers.CharField(required=False, allow_blank=True, default="")


class ReservationSerializer(ModelSerializer):
    lot_code = serializers.CharField(source="stock.lot.code", read_only=True)
    item = IntegerField(source="stock.lot.item_id", read_only=True)
    item_code = serializers.CharField(source="stock.lot.item.code", read_only=True)
    location_code = serializers.CharField(source="stock.location.code", read_only=True)
    work_order_number = serializers.CharField(
        source="maintenance_work_order.number", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Reservation
        fields = [
            "id",
            "stock",
            "lot_code",
            "item",
            "item_code",
            "location_code",
            "quantity",
            "status",
            "maintenance_work_order",
            "work_order_number",
            "reference",
            "reason",
            "created_at",
            "closed_at",
        ]
        read_only_fields = fields


class ReservationCreateSerializer(serializers.Serializer):
    """Reserve from one stock row, or (item + site) from the oldest lot that has it."""

    stock = IntegerField(required=False, allow_null=True, default=None)
    item = IntegerField(required=False, allow_null=True, default=None)
    site = IntegerField(required=False, allow_null=True, default=None)
    quantity = serializers.DecimalField(max_digits=14, decimal_places=3)
    maintenance_work_order = serializers.PrimaryKeyRelatedField(
        queryset=MaintenanceWorkOrder.objects.all(), required=False, allow_null=True, default=None
    )
    reference = serializers.CharField(required=False, allow_blank=True, default="")
    reason = serializers.CharField(required=False, allow_blank=True, default="")

    def validate(self, attrs):
        if attrs["stock"] is None and (attrs["item"] is None or attrs["site"] is None):
            raise serializers.ValidationError("Give a stock row, or an item and a site.")
        return attrs


class ProcurementRequestSerializer(ModelSerializer):
    item_code = serializers.CharField(source="item.code", read_only=True)
    site_code = serializers.CharField(source="site.code", read_only=True)
    work_order_number = serializers.CharField(
        source="maintenance_work_order.number", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = ProcurementRequest
        fields = [
            "id",
            "number",
            "site",
            "site_code",
            "item",
            "item_code",
            "quantity",
            "needed_by",
            "status",
            "reason",
            "reference",
            "maintenance_work_order",
            "work_order_number",
            "created_at",
            "sent_at",
            "send_count",
            "acknowledged_at",
            "erp_reference",
            "is_stale",
            "stale_since",
            "cancelled_at",
        ]
        read_only_fields = fields


class ProcurementRequestCreateSerializer(serializers.Serializer):
    site = serializers.PrimaryKeyRelatedField(queryset=Site.objects.all())
    item = serializers.PrimaryKeyRelatedField(queryset=Item.objects.all())
    quantity = serializers.DecimalField(max_digits=14, decimal_places=3)
    needed_by = serializers.DateTimeField(required=False, allow_null=True, default=None)
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    reference = serializers.CharField(required=False, allow_blank=True, default="")


class ProcurementFetchSerializer(serializers.Serializer):
    limit = IntegerField(min_value=1, max_value=1000, default=100)


class ProcurementAcknowledgeSerializer(serializers.Serializer):
    erp_reference = serializers.CharField(max_length=200)


__all__ = ["ReasonSerializer"]


class CycleCountSerializer(serializers.Serializer):
    counted_quantity = serializers.DecimalField(max_digits=14, decimal_places=3)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=300, default="")


class PickLineSerializer(serializers.Serializer):
    stock_id = IntegerField()
    lot_code = serializers.CharField()
    location_code = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=14, decimal_places=3)
    expires_at = serializers.DateTimeField(allow_null=True)


class PickProposalSerializer(serializers.Serializer):
    rule = serializers.ChoiceField(choices=["fefo", "fifo"])
    lines = PickLineSerializer(many=True)
    shortfall = serializers.DecimalField(max_digits=14, decimal_places=3)


class PickQuerySerializer(serializers.Serializer):
    quantity = FloatField(min_value=0, max_value=1e9)
    rule = serializers.ChoiceField(choices=["fefo", "fifo"], required=False, default="fefo")
    site = IntegerField(
        required=False, allow_null=True, default=None, min_value=1, max_value=2**31 - 1
    )


class ExpiringQuerySerializer(serializers.Serializer):
    within_days = IntegerField(required=False, default=30, min_value=0, max_value=3650)


class ExpiringStockSerializer(serializers.Serializer):
    id = IntegerField()
    lot = IntegerField(source="lot_id")
    lot_code = serializers.CharField(source="lot.code")
    item_code = serializers.CharField(source="lot.item.code")
    lot_status = serializers.CharField(source="lot.status")
    location_code = serializers.CharField(source="location.code")
    quantity = serializers.DecimalField(max_digits=14, decimal_places=3)
    expires_at = serializers.DateTimeField(source="lot.expires_at")
    is_expired = serializers.SerializerMethodField()

    def get_is_expired(self, stock) -> bool:
        return stock.lot.expires_at <= self.context["now"]
