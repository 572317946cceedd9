from rest_framework import serializers

from maintenance.models import ComponentPart, MaintenanceWorkOrder
from mes_site.api import ReasonSerializer, model_serializer
from production.models import Equipment

ComponentPartSerializer = model_serializer(ComponentPart)


class MaintenanceWorkOrderSerializer(serializers.ModelSerializer):
    equipment_code = serializers.CharField(source="equipment.code", read_only=True)

    class Meta:
        model = MaintenanceWorkOrder
        fields = [
            "id",
            "number",
            "equipment",
            "equipment_code",
            "kind",
            "state",
            "priority",
            "title",
            "description",
            "component",
            "requested_at",
            "window_start_at",
            "window_end_at",
            "started_at",
            "completed_at",
            "estimated_duration_h",
        ]
        read_only_fields = fields


class MaintenanceWorkOrderCreateSerializer(serializers.Serializer):
    equipment = serializers.PrimaryKeyRelatedField(queryset=Equipment.objects.all())
    kind = serializers.ChoiceField(choices=["corrective", "preventive", "predictive"])
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    priority = serializers.ChoiceField(
        choices=["low", "medium", "high", "critical"], default="medium"
    )
    component = serializers.CharField(required=False, allow_blank=True, default="")


class ScheduleSerializer(serializers.Serializer):
    window_start_at = serializers.DateTimeField()
    window_end_at = serializers.DateTimeField()
    reason = serializers.CharField(required=False, allow_blank=True, default="")


__all__ = ["ReasonSerializer"]
