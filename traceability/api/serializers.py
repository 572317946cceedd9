from rest_framework import serializers

from mes_site.fields import IntegerField, ModelSerializer
from traceability.models import AuditEvent, GenealogyLink, Lot, SerialUnit

# The items lots are of (inventory sits above traceability: the model is reached through the
# foreign key, not imported).
Item = Lot._meta.get_field("item").related_model


class LotSerializer(ModelSerializer):
    item_code = serializers.CharField(source="item.code", read_only=True)

    class Meta:
        model = Lot
        fields = [
            "id",
            "item",
            "item_code",
            "code",
            "quantity",
            "status",
            "origin",
            "produced_by",
            "created_at",
        ]
        read_only_fields = fields


class LotCreateSerializer(serializers.Serializer):
    item = serializers.SlugRelatedField(slug_field="code", queryset=Item.objects.all())
    code = serializers.CharField(max_length=100)
    quantity = serializers.DecimalField(max_digits=14, decimal_places=3, min_value=0)
    origin = serializers.ChoiceField(choices=["received", "produced"])


class ConsumptionSerializer(serializers.Serializer):
    lot = serializers.PrimaryKeyRelatedField(queryset=Lot.objects.all())
    quantity = serializers.DecimalField(max_digits=14, decimal_places=3)


class LotConsumeSerializer(serializers.Serializer):
    consumed = ConsumptionSerializer(many=True, allow_empty=False)


class LotStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["available", "on_hold", "scrapped", "shipped"])
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class GenealogyEdgeSerializer(serializers.Serializer):
    depth = IntegerField()
    consumed_lot = serializers.CharField()
    produced_lot = serializers.CharField()
    quantity = serializers.CharField()
    operation_id = IntegerField(allow_null=True)


class GenealogyLinkSerializer(ModelSerializer):
    class Meta:
        model = GenealogyLink
        fields = [
            "id",
            "parent",
            "child",
            "quantity",
            "operation",
            "method",
            "linked_at",
            "actor",
        ]
        read_only_fields = fields


class SerialUnitSerializer(ModelSerializer):
    class Meta:
        model = SerialUnit
        fields = ["id", "lot", "serial", "status", "created_at"]


class AuditEventSerializer(ModelSerializer):
    model = serializers.CharField(source="content_type.model", read_only=True)

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "at",
            "actor_name",
            "model",
            "object_id",
            "object_repr",
            "action",
            "old_value",
            "new_value",
            "reason",
            "data",
            "chain_seq",
            "prev_hash",
            "hash",
        ]
        read_only_fields = fields


class TraceNodeSerializer(serializers.Serializer):
    node = IntegerField(allow_null=True)
    kind = serializers.CharField(help_text="lot or serial")
    code = serializers.CharField()
    item = serializers.CharField()
    status = serializers.CharField()
    lot = serializers.CharField()
    supplier_lot_code = serializers.CharField()
    depth = IntegerField()
    via = IntegerField(allow_null=True, help_text="The node before this one on its path.")
    path = serializers.CharField(help_text="The chain of links from the start to this node.")


class TraceLinkSerializer(serializers.Serializer):
    parent = IntegerField(help_text="The node made.")
    child = IntegerField(help_text="The node consumed into it.")
    quantity = serializers.CharField()
    operation = IntegerField(allow_null=True)
    method = serializers.CharField()
    linked_at = serializers.DateTimeField()


class TraceDirectionSerializer(serializers.Serializer):
    direction = serializers.ChoiceField(choices=["backward", "forward"])
    nodes = TraceNodeSerializer(many=True)
    links = TraceLinkSerializer(many=True)


class TraceSerializer(serializers.Serializer):
    start = TraceNodeSerializer()
    backward = TraceDirectionSerializer()
    forward = TraceDirectionSerializer()
