from rest_framework import serializers

from maintenance.choices import MaintenancePriority, PlanTrigger
from maintenance.models import (
    AnomalyEpisode,
    ComponentPart,
    FailureEvent,
    HealthBaseline,
    HealthSnapshot,
    MaintenanceWorkOrder,
    PreventivePlan,
    SensorSuspicion,
)
from mes_site.api import ReasonSerializer, model_serializer
from mes_site.fields import FloatField, IntegerField, ModelSerializer
from production.models import Equipment

ComponentPartSerializer = model_serializer(ComponentPart)


class MaintenanceWorkOrderSerializer(ModelSerializer):
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
            "preventive_plan",
            "plan_cycle_number",
            "anomaly_episode",
            "stop_started_at",
            "stop_interval",
            "findings",
        ]
        read_only_fields = fields


class CompleteSerializer(ReasonSerializer):
    """Completing an order; one opened for a stop needs ``findings`` (the failure record)."""

    findings = serializers.CharField(required=False, allow_blank=True, max_length=4000, default="")
    component = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")
    is_failure = serializers.BooleanField(required=False, default=True)


class SensorSuspicionSerializer(ModelSerializer):
    equipment_code = serializers.CharField(source="equipment.code", read_only=True)
    signal_name = serializers.CharField(source="signal.name", read_only=True)
    pair_name = serializers.CharField(source="pair.name", read_only=True, default=None)

    class Meta:
        model = SensorSuspicion
        fields = [
            "id",
            "equipment",
            "equipment_code",
            "signal",
            "signal_name",
            "pair",
            "pair_name",
            "verdict",
            "status",
            "detected_at",
            "marked_from_at",
            "residual_sigma",
            "detail",
            "calibration_order_number",
            "cleared_at",
            "clear_reason",
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


# --- health ----------------------------------------------------------------------------------


class HealthSnapshotSerializer(ModelSerializer):
    equipment_code = serializers.CharField(source="equipment.code", read_only=True)

    class Meta:
        model = HealthSnapshot
        fields = [
            "id",
            "equipment",
            "equipment_code",
            "ts",
            "state",
            "detail",
            "window_count",
            "alpha",
            "chi_square_alpha",
            "mahalanobis_distance",
            "kurtosis",
            "is_floor_rule_fired",
            "rms_ratio",
            "health_index",
            "degradation_slope_per_h",
            "rul_state",
            "rul_p10_h",
            "rul_p50_h",
            "rul_p90_h",
            "recommendation",
            "is_anomaly",
            "episode",
            "model_version",
            "rul_model",
            "rul_model_version",
            "fleet_rul_state",
            "rul_detail",
        ]
        read_only_fields = fields


class HealthRefreshSerializer(serializers.Serializer):
    equipment = IntegerField(min_value=1)


class HealthBaselineSerializer(ModelSerializer):
    equipment_code = serializers.CharField(source="equipment.code", read_only=True)

    class Meta:
        model = HealthBaseline
        fields = [
            "id",
            "equipment",
            "equipment_code",
            "status",
            "learn_from_at",
            "learned_at",
            "windows_from_at",
            "windows_to_at",
            "window_count",
            "feature_names",
            "model_version",
            "reason",
            "created_at",
        ]
        read_only_fields = fields


class BaselineRelearnSerializer(serializers.Serializer):
    equipment = IntegerField(min_value=1)
    learn_from_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=300, default="")


class AnomalyEpisodeSerializer(ModelSerializer):
    equipment_code = serializers.CharField(source="equipment.code", read_only=True)

    class Meta:
        model = AnomalyEpisode
        fields = [
            "id",
            "equipment",
            "equipment_code",
            "state",
            "started_at",
            "last_anomalous_at",
            "ended_at",
            "end_reason",
            "peak_alpha",
            "peak_recommendation",
            "component",
            "loop_result",
        ]
        read_only_fields = fields


class RawWindowSerializer(serializers.Serializer):
    equipment = IntegerField(min_value=1)
    ts = serializers.DateTimeField()
    sample_rate_hz = FloatField()
    samples = serializers.ListField(
        child=FloatField(allow_null=True), min_length=1, max_length=65536
    )


class RawWindowResultSerializer(serializers.Serializer):
    equipment = IntegerField()
    ts = serializers.DateTimeField()
    features = serializers.DictField(child=FloatField())


# --- preventive plans, failures, reliability ---------------------------------------------------


class PreventivePlanSerializer(ModelSerializer):
    equipment_code = serializers.CharField(source="equipment.code", read_only=True)

    class Meta:
        model = PreventivePlan
        fields = [
            "id",
            "equipment",
            "equipment_code",
            "name",
            "component",
            "trigger",
            "interval",
            "tolerance_fraction",
            "counter_signal_name",
            "priority",
            "estimated_duration_h",
            "is_active",
            "cycle_number",
            "cycle_started_at",
            "created_at",
        ]
        read_only_fields = ["id", "equipment_code", "cycle_number", "created_at"]


class PreventivePlanCreateSerializer(serializers.Serializer):
    equipment = serializers.PrimaryKeyRelatedField(queryset=Equipment.objects.all())
    name = serializers.CharField(max_length=200)
    trigger = serializers.ChoiceField(choices=PlanTrigger.choices)
    interval = FloatField()
    tolerance_fraction = FloatField(default=0.1)
    component = serializers.CharField(required=False, allow_blank=True, default="")
    counter_signal_name = serializers.CharField(required=False, allow_blank=True, default="")
    priority = serializers.ChoiceField(
        choices=MaintenancePriority.choices, default=MaintenancePriority.MEDIUM
    )
    estimated_duration_h = FloatField(default=2.0, min_value=0.0)
    cycle_started_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class PlanCheckResultSerializer(serializers.Serializer):
    usage = FloatField()
    due_from = FloatField()
    is_due = serializers.BooleanField()
    work_order = MaintenanceWorkOrderSerializer(allow_null=True)


class FailureEventSerializer(ModelSerializer):
    equipment_code = serializers.CharField(source="equipment.code", read_only=True)
    work_order_number = serializers.CharField(
        source="work_order.number", read_only=True, default=None, allow_null=True
    )
    repair_duration_s = FloatField(read_only=True, allow_null=True)

    class Meta:
        model = FailureEvent
        fields = [
            "id",
            "equipment",
            "equipment_code",
            "component",
            "failed_at",
            "repaired_at",
            "repair_duration_s",
            "description",
            "work_order",
            "work_order_number",
            "recorded_at",
        ]
        read_only_fields = fields


class FailureEventCreateSerializer(serializers.Serializer):
    equipment = serializers.PrimaryKeyRelatedField(queryset=Equipment.objects.all())
    failed_at = serializers.DateTimeField()
    repaired_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    component = serializers.CharField(required=False, allow_blank=True, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="")
    create_work_order = serializers.BooleanField(default=True)


class FailureRepairSerializer(serializers.Serializer):
    repaired_at = serializers.DateTimeField()


class ReliabilityQuerySerializer(serializers.Serializer):
    equipment = IntegerField(min_value=1)
    since = serializers.DateTimeField()
    until = serializers.DateTimeField(required=False, allow_null=True, default=None)


class ReliabilitySerializer(serializers.Serializer):
    equipment = IntegerField()
    period_start_at = serializers.DateTimeField()
    period_end_at = serializers.DateTimeField()
    failure_event_count = IntegerField()
    operating_time_s = FloatField()
    total_repair_time_s = FloatField()
    mean_time_between_failures_s = FloatField(allow_null=True)
    mean_time_to_repair_s = FloatField(allow_null=True)
    mean_time_between_failures_h = FloatField(allow_null=True)
    mean_time_to_repair_h = FloatField(allow_null=True)


__all__ = ["ReasonSerializer"]
