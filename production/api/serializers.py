from rest_framework import serializers

from autonomy.choices import AutonomyMode
from mes_site.api import ReasonSerializer, model_serializer
from mes_site.fields import IntegerField, ModelSerializer
from production.models import (
    Area,
    Capability,
    Cell,
    DowntimeReason,
    Enterprise,
    Equipment,
    Line,
    Operation,
    OperationTemplate,
    PlannedDowntime,
    Product,
    Routing,
    Shift,
    ShiftBreak,
    ShiftCalendar,
    Signal,
    Site,
    WorkOrder,
)

EnterpriseSerializer = model_serializer(Enterprise)
SiteSerializer = model_serializer(Site)
AreaSerializer = model_serializer(Area)
LineSerializer = model_serializer(Line)
CellSerializer = model_serializer(Cell)
CapabilitySerializer = model_serializer(Capability)
SignalSerializer = model_serializer(Signal, read_only=["is_suspect"])  # set by sensor drift
ProductSerializer = model_serializer(Product)
OperationTemplateSerializer = model_serializer(OperationTemplate)
ShiftBreakSerializer = model_serializer(ShiftBreak)
PlannedDowntimeSerializer = model_serializer(PlannedDowntime)
DowntimeReasonSerializer = model_serializer(DowntimeReason)


class EquipmentSerializer(ModelSerializer):
    class Meta:
        model = Equipment
        fields = [
            "id",
            "cell",
            "code",
            "name",
            "uns_path",
            "capabilities",
            "stress_limit_kn",
            "bottleneck_weight",
            "is_active",
        ]
        read_only_fields = ["uns_path"]


class RoutingSerializer(ModelSerializer):
    operations = OperationTemplateSerializer(many=True, read_only=True)

    class Meta:
        model = Routing
        fields = ["id", "product", "version", "is_active", "operations"]


class ShiftSerializer(ModelSerializer):
    breaks = ShiftBreakSerializer(many=True, read_only=True)

    class Meta:
        model = Shift
        fields = ["id", "calendar", "name", "start_time", "end_time", "weekdays", "breaks"]


class ShiftCalendarSerializer(ModelSerializer):
    shifts = ShiftSerializer(many=True, read_only=True)
    planned_downtimes = PlannedDowntimeSerializer(many=True, read_only=True)

    class Meta:
        model = ShiftCalendar
        fields = ["id", "site", "line", "name", "shifts", "planned_downtimes"]


class OperationSerializer(ModelSerializer):
    capability = serializers.SlugRelatedField(slug_field="code", read_only=True)
    assigned_equipment_code = serializers.CharField(
        source="assigned_equipment.code", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Operation
        fields = [
            "id",
            "work_order",
            "sequence",
            "name",
            "capability",
            "planned_run_time_per_unit_s",
            "setup_time_s",
            "force_kn",
            "assigned_equipment",
            "assigned_equipment_code",
            "state",
            "quantity_good",
            "quantity_scrap",
            "planned_start_at",
            "planned_end_at",
            "actual_start_at",
            "actual_end_at",
        ]
        read_only_fields = fields


class WorkOrderSerializer(ModelSerializer):
    product_code = serializers.CharField(source="product.code", read_only=True)
    line_code = serializers.CharField(
        source="line.code", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = WorkOrder
        fields = [
            "id",
            "number",
            "product",
            "product_code",
            "routing",
            "quantity",
            "quantity_good",
            "quantity_scrap",
            "due_at",
            "priority",
            "state",
            "site",
            "line",
            "line_code",
            "source",
            "created_at",
            "released_at",
            "started_at",
            "completed_at",
        ]
        read_only_fields = fields


class WorkOrderDetailSerializer(WorkOrderSerializer):
    operations = OperationSerializer(many=True, read_only=True)

    class Meta(WorkOrderSerializer.Meta):
        fields = [*WorkOrderSerializer.Meta.fields, "operations"]
        read_only_fields = fields


class WorkOrderCreateSerializer(serializers.Serializer):
    number = serializers.CharField(max_length=64)
    product = serializers.SlugRelatedField(slug_field="code", queryset=Product.objects.all())
    quantity = IntegerField(min_value=1)
    due_at = serializers.DateTimeField()
    site = serializers.PrimaryKeyRelatedField(queryset=Site.objects.all())
    line = serializers.PrimaryKeyRelatedField(
        queryset=Line.objects.all(), required=False, allow_null=True
    )
    routing = serializers.PrimaryKeyRelatedField(
        queryset=Routing.objects.all(), required=False, allow_null=True
    )
    priority = IntegerField(min_value=1, max_value=9, default=5)


class OperationStartSerializer(serializers.Serializer):
    equipment = serializers.PrimaryKeyRelatedField(
        queryset=Equipment.objects.all(), required=False, allow_null=True
    )


class QuantityReportSerializer(serializers.Serializer):
    good = IntegerField(min_value=0, default=0)
    scrap = IntegerField(min_value=0, default=0)
    reason = serializers.CharField(required=False, allow_blank=True, default="")


__all__ = ["ReasonSerializer"]


class SiteAutonomySerializer(ModelSerializer):
    class Meta:
        model = Site
        fields = ["id", "code", "name", "autonomy_mode"]
        read_only_fields = fields


class AutonomySetSerializer(serializers.Serializer):
    site = IntegerField()
    mode = serializers.ChoiceField(choices=AutonomyMode.choices)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class KillSwitchSerializer(serializers.Serializer):
    site = IntegerField()
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
