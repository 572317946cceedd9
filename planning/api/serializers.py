"""Serializers of planning's REST API: schedule runs and their plans, the Gantt data,
customer orders and their dispatch, station events."""

from __future__ import annotations

from rest_framework import serializers

from mes_site.fields import FloatField, IntegerField, ModelSerializer
from planning.models import CustomerOrder, LineCostRates, ScheduledOperation, ScheduleRun
from planning.services.line_orders import STATIONS
from production.models import Site


class PlanChangeSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="added, moved_machine, resequenced, retimed, removed")
    operation_id = IntegerField()
    operation = serializers.CharField(help_text="work order number / sequence")
    work_order = serializers.CharField()
    from_equipment_id = IntegerField(allow_null=True)
    from_equipment = serializers.CharField(allow_null=True)
    to_equipment_id = IntegerField(allow_null=True)
    to_equipment = serializers.CharField(allow_null=True)
    old_start_at = serializers.DateTimeField(allow_null=True)
    new_start_at = serializers.DateTimeField(allow_null=True)
    old_end_at = serializers.DateTimeField(allow_null=True)
    new_end_at = serializers.DateTimeField(allow_null=True)
    rule = serializers.CharField(help_text="The rule that decided the change.")
    explanation = serializers.CharField(help_text="The formula's numbers and the rule, in words.")
    action_id = IntegerField(allow_null=True)
    action_status = serializers.CharField(allow_null=True)


class PlanUnschedulableSerializer(serializers.Serializer):
    work_order = serializers.CharField()
    operation = serializers.CharField(allow_null=True)
    operation_id = IntegerField(allow_null=True)
    reason = serializers.CharField()
    message = serializers.CharField()


class PlanWarningSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="past_due, late or superseded")
    work_order = serializers.CharField(required=False)
    due_at = serializers.DateTimeField(required=False, allow_null=True)
    planned_end_at = serializers.DateTimeField(required=False, allow_null=True)
    lateness_s = FloatField(required=False, allow_null=True)
    message = serializers.CharField()


class ScheduleRunSerializer(ModelSerializer):
    requested_by = serializers.CharField(
        source="requested_by.username", read_only=True, default=None, allow_null=True
    )
    change_count = serializers.SerializerMethodField()
    unschedulable_count = serializers.SerializerMethodField()
    warning_count = serializers.SerializerMethodField()
    request_count = serializers.SerializerMethodField()

    class Meta:
        model = ScheduleRun
        fields = [
            "id",
            "site",
            "trigger",
            "trigger_detail",
            "status",
            "progress_percent",
            "requested_by",
            "requested_at",
            "started_at",
            "finished_at",
            "duration_ms",
            "operation_count",
            "makespan_s",
            "is_current",
            "error",
            "change_count",
            "unschedulable_count",
            "warning_count",
            "request_count",
        ]
        read_only_fields = fields

    def get_change_count(self, run: ScheduleRun) -> int:
        counts = (run.inputs or {}).get("change_counts")
        return sum(counts.values()) if counts else len(run.changes or [])

    def get_unschedulable_count(self, run: ScheduleRun) -> int:
        return len(run.unschedulable or [])

    def get_warning_count(self, run: ScheduleRun) -> int:
        return len(run.warnings or [])

    def get_request_count(self, run: ScheduleRun) -> int:
        return len(run.triggers or [])


class ScheduleRunDetailSerializer(ScheduleRunSerializer):
    changes = PlanChangeSerializer(many=True, read_only=True)
    unschedulable = PlanUnschedulableSerializer(many=True, read_only=True)
    warnings = PlanWarningSerializer(many=True, read_only=True)
    triggers = serializers.ListField(child=serializers.DictField(), read_only=True)
    timings = serializers.DictField(read_only=True, help_text="Phases in ms.")
    inputs = serializers.DictField(
        read_only=True, help_text="Machines (health, maintenance block, left out), running work."
    )

    class Meta(ScheduleRunSerializer.Meta):
        fields = [
            *ScheduleRunSerializer.Meta.fields,
            "triggers",
            "timings",
            "changes",
            "unschedulable",
            "warnings",
            "inputs",
        ]
        read_only_fields = fields


class ScheduleRunCreateSerializer(serializers.Serializer):
    site = serializers.PrimaryKeyRelatedField(queryset=Site.objects.all())
    detail = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class ScheduledOperationSerializer(ModelSerializer):
    operation_label = serializers.SerializerMethodField()
    work_order = serializers.CharField(source="operation.work_order.number", read_only=True)
    equipment_code = serializers.CharField(source="equipment.code", read_only=True)
    explanation = serializers.DictField(read_only=True)

    class Meta:
        model = ScheduledOperation
        fields = [
            "id",
            "run",
            "operation",
            "operation_label",
            "work_order",
            "equipment",
            "equipment_code",
            "position",
            "planned_start_at",
            "planned_end_at",
            "priority",
            "explanation",
        ]
        read_only_fields = fields

    def get_operation_label(self, entry: ScheduledOperation) -> str:
        return f"{entry.operation.work_order.number}/{entry.operation.sequence}"


class GanttBarSerializer(serializers.Serializer):
    operation_id = IntegerField()
    label = serializers.CharField()
    name = serializers.CharField()
    work_order = serializers.CharField()
    operation_state = serializers.CharField()
    position = IntegerField()
    start_at = serializers.DateTimeField()
    end_at = serializers.DateTimeField()
    force_kn = FloatField()
    is_high_stress = serializers.BooleanField()
    priority = FloatField(allow_null=True)
    rule = serializers.CharField()
    message = serializers.CharField()
    pending_action = serializers.DictField(allow_null=True)


class GanttMachineSerializer(serializers.Serializer):
    equipment_id = IntegerField()
    code = serializers.CharField()
    uns_path = serializers.CharField()
    stress_limit_kn = FloatField()
    health = serializers.DictField(allow_null=True)
    block = serializers.DictField(allow_null=True)
    left_out = serializers.CharField()
    running = serializers.ListField(child=serializers.DictField())
    bars = GanttBarSerializer(many=True)


class GanttSerializer(serializers.Serializer):
    run = IntegerField()
    site = IntegerField()
    status = serializers.CharField()
    is_current = serializers.BooleanField()
    planned_at = serializers.DateTimeField(allow_null=True)
    start_at = serializers.DateTimeField(allow_null=True)
    end_at = serializers.DateTimeField(allow_null=True)
    machines = GanttMachineSerializer(many=True)


class CustomerOrderPartSerializer(serializers.Serializer):
    product = IntegerField(source="product_id")
    product_code = serializers.CharField(source="product.code")
    quantity = IntegerField()


class CustomerOrderSerializer(ModelSerializer):
    line_code = serializers.CharField(
        source="line.code", read_only=True, default=None, allow_null=True
    )
    parts = CustomerOrderPartSerializer(source="lines", many=True, read_only=True)
    quantity_units = serializers.SerializerMethodField()
    dispatch_explanation = serializers.DictField(read_only=True)

    class Meta:
        model = CustomerOrder
        fields = [
            "id",
            "number",
            "site",
            "area",
            "state",
            "line",
            "line_code",
            "line_step",
            "line_stage",
            "line_updated_at",
            "rework_count",
            "priority",
            "parts",
            "quantity_units",
            "received_at",
            "dispatched_at",
            "completed_at",
            "dispatch_explanation",
        ]
        read_only_fields = fields

    def get_quantity_units(self, order: CustomerOrder) -> int:
        return sum(line.quantity for line in order.lines.all())


class CustomerOrderCreateSerializer(serializers.Serializer):
    number = serializers.CharField(max_length=64)
    area = IntegerField(help_text="The area whose lines make the order.")
    parts = serializers.DictField(
        child=IntegerField(),
        help_text='Part counts per product code, e.g. {"PART_A": 3, "PART_C": 2}.',
    )
    priority = IntegerField(min_value=1, max_value=9, default=5)
    dispatch = serializers.BooleanField(
        default=True, help_text="Dispatch at once with the online rule (else: stays pending)."
    )


class DispatchBatchInputSerializer(serializers.Serializer):
    area = IntegerField()


class DispatchBatchResultSerializer(serializers.Serializer):
    method = serializers.CharField()
    is_optimal = serializers.BooleanField()
    mip_gap = FloatField(allow_null=True)
    total_cost = FloatField()
    dispatched = serializers.ListField(child=serializers.CharField())
    backlogged = serializers.ListField(child=serializers.CharField())
    refused = serializers.ListField(child=serializers.DictField())
    solver_message = serializers.CharField()


class LineCostRatesSerializer(ModelSerializer):
    line_code = serializers.CharField(source="line.code", read_only=True)

    class Meta:
        model = LineCostRates
        fields = ["id", "line", "line_code", "machine_hour_rate", "energy_price_per_kwh"]
        read_only_fields = fields


class DispatchOverrideSerializer(serializers.Serializer):
    line = IntegerField(help_text="The line the order should go to.")
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class StationEventInputSerializer(serializers.Serializer):
    equipment = serializers.CharField(
        max_length=400, help_text="UNS path of the reporting station (Equipment.uns_path)."
    )
    order = serializers.CharField(max_length=64)
    station = serializers.CharField(max_length=32, help_text=", ".join(STATIONS))
    result = serializers.CharField(
        max_length=8, required=False, allow_blank=True, help_text="pass or fail (quality_control)"
    )
    ts = serializers.DateTimeField(required=False, help_text="Default: now.")


class StationEventRejectionSerializer(serializers.Serializer):
    index = IntegerField()
    code = serializers.CharField()
    message = serializers.CharField()


class StationEventResultSerializer(serializers.Serializer):
    accepted = IntegerField()
    rejected = StationEventRejectionSerializer(many=True)


class WhatIfOutageInputSerializer(serializers.Serializer):
    equipment = IntegerField(help_text="The machine that would be down.")
    hours = FloatField(min_value=0.01, max_value=24 * 14, help_text="How long, from now (hours).")


class WhatIfForecastSerializer(serializers.Serializer):
    makespan_h = FloatField()
    total_tardiness_h = FloatField()
    late_work_orders = IntegerField()
    energy_kwh = FloatField(
        help_text="Plan changes: at SCHEDULING_WHATIF_MACHINE_POWER_KW per working machine; "
        "dispatch: the lines' energy per part."
    )
    cost = FloatField(required=False, help_text="Dispatch: the lines' money cost of the queues.")
    orders = serializers.ListField(child=serializers.DictField())
    utilisation = serializers.ListField(child=serializers.DictField())
    not_run = serializers.ListField(child=serializers.CharField())


class WhatIfSerializer(serializers.Serializer):
    what = serializers.CharField()
    site = IntegerField()
    at = serializers.DateTimeField()
    current = WhatIfForecastSerializer()
    proposed = WhatIfForecastSerializer()
    delta = serializers.DictField(child=FloatField())
