from rest_framework import serializers

from inventory.models import Item, Location, Stock, StockMovement
from mes_site.api import model_serializer
from traceability.models import Lot

ItemSerializer = model_serializer(Item)
LocationSerializer = model_serializer(Location)


class StockSerializer(serializers.ModelSerializer):
    lot_code = serializers.CharField(source="lot.code", read_only=True)
    item_code = serializers.CharField(source="lot.item.code", read_only=True)
    location_code = serializers.CharField(source="location.code", read_only=True)

    class Meta:
        model = Stock
        fields = ["id", "lot", "lot_code", "item_code", "location", "location_code", "quantity"]
        read_only_fields = fields


class StockMovementSerializer(serializers.ModelSerializer):
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
