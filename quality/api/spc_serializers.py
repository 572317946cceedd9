"""Serializers of the SPC API: charts, subgroup entry, points with their violations, limit
versions and capability."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from mes_site.fields import FloatField, IntegerField, ModelSerializer
from production.selectors.plant import equipment_list, operation_list, signal_list
from quality import spc
from quality.choices import ControlChartType, SpcReaction
from quality.models import ControlChart, ControlLimitSet, RuleViolation, Subgroup
from quality.selectors import characteristic_list
from traceability.selectors import lot_list_scoped, serial_unit_list_scoped

RULE_CHOICES = [rule.value for rule in spc.RunRule]


class ScopedInputMixin:
    """Machines, operations, lots and serials named in the input must be in the user's scope."""

    scoped_fields = {
        "equipment": equipment_list,
        "signal": signal_list,
        "operation": operation_list,
        "lot": lot_list_scoped,
        "serial_unit": serial_unit_list_scoped,
    }

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        user = request.user if request is not None else None
        for name, selector in self.scoped_fields.items():
            if name in fields and user is not None:
                fields[name].queryset = selector(user=user)
        return fields


class LimitSetSerializer(ModelSerializer):
    computed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ControlLimitSet
        fields = [
            "id",
            "version",
            "center_line",
            "lower_limit",
            "upper_limit",
            "sigma_within",
            "dispersion_center",
            "dispersion_lower",
            "dispersion_upper",
            "baseline_first_index",
            "baseline_last_index",
            "computed_at",
            "computed_by",
            "reason",
        ]
        read_only_fields = fields


class ControlChartSerializer(ModelSerializer):
    characteristic_code = serializers.CharField(source="characteristic.code", read_only=True)
    unit = serializers.CharField(source="characteristic.unit", read_only=True)
    current_limits = serializers.SerializerMethodField()

    class Meta:
        model = ControlChart
        fields = [
            "id",
            "characteristic",
            "characteristic_code",
            "unit",
            "chart_type",
            "subgroup_size",
            "rules",
            "reaction",
            "equipment",
            "signal",
            "created_at",
            "current_limits",
        ]
        read_only_fields = fields

    @extend_schema_field(LimitSetSerializer(allow_null=True))
    def get_current_limits(self, chart) -> dict | None:
        limit_set = chart.limit_sets.order_by("-version").first()
        return None if limit_set is None else LimitSetSerializer(limit_set).data


class ControlChartInputSerializer(ScopedInputMixin, serializers.Serializer):
    characteristic = serializers.PrimaryKeyRelatedField(queryset=characteristic_list())
    chart_type = serializers.ChoiceField(choices=ControlChartType.choices)
    subgroup_size = IntegerField(min_value=1, max_value=25)
    rules = serializers.ListField(
        child=serializers.ChoiceField(choices=RULE_CHOICES),
        default=lambda: [rule.value for rule in spc.NELSON_RULES],
    )
    reaction = serializers.ChoiceField(choices=SpcReaction.choices, default=SpcReaction.NONE)
    equipment = serializers.PrimaryKeyRelatedField(queryset=equipment_list(user=None))
    signal = serializers.PrimaryKeyRelatedField(
        queryset=signal_list(user=None), required=False, allow_null=True, default=None
    )


class SubgroupInputSerializer(ScopedInputMixin, serializers.Serializer):
    values = serializers.ListField(child=FloatField(), required=False, max_length=25)
    defect_count = FloatField(required=False, help_text="Attribute charts: d (p, np) or c (c, u).")
    inspected_count = FloatField(required=False, help_text="Attribute charts: units inspected.")
    measured_at = serializers.DateTimeField(required=False)
    unit = serializers.CharField(required=False, allow_blank=True, max_length=16)
    lot = serializers.PrimaryKeyRelatedField(
        queryset=lot_list_scoped(user=None), required=False, allow_null=True
    )
    serial_unit = serializers.PrimaryKeyRelatedField(
        queryset=serial_unit_list_scoped(user=None), required=False, allow_null=True
    )
    operation = serializers.PrimaryKeyRelatedField(
        queryset=operation_list(user=None), required=False, allow_null=True
    )


class ViolationSerializer(ModelSerializer):
    description = serializers.SerializerMethodField()

    class Meta:
        model = RuleViolation
        fields = ["id", "rule", "description", "zone", "point_indices", "detected_at"]
        fields += ["alerted_at"]
        read_only_fields = fields

    def get_description(self, violation) -> str:
        return spc.RunRule(violation.rule).description


class RuleViolationSerializer(ViolationSerializer):
    chart = serializers.PrimaryKeyRelatedField(read_only=True)
    subgroup_index = IntegerField(source="subgroup.index", read_only=True)

    class Meta(ViolationSerializer.Meta):
        fields = [*ViolationSerializer.Meta.fields, "chart", "subgroup_index"]
        read_only_fields = fields


class PointSerializer(ModelSerializer):
    """A subgroup as plotted: its statistic, limits and zone, and the violations it completed."""

    lot_code = serializers.CharField(source="lot.code", read_only=True, default=None)
    serial = serializers.CharField(source="serial_unit.serial", read_only=True, default=None)
    violations = ViolationSerializer(many=True, read_only=True)

    class Meta:
        model = Subgroup
        fields = [
            "id",
            "index",
            "measured_at",
            "source",
            "values",
            "defect_count",
            "inspected_count",
            "statistic",
            "dispersion",
            "lower_limit",
            "upper_limit",
            "sigma",
            "zone",
            "limit_set",
            "lot",
            "lot_code",
            "serial",
            "operation",
            "violations",
        ]
        read_only_fields = fields


class LimitsComputeSerializer(serializers.Serializer):
    first_index = IntegerField(min_value=0)
    last_index = IntegerField(min_value=0)
    reason = serializers.CharField(max_length=500)


class CapabilityQuerySerializer(serializers.Serializer):
    first_index = IntegerField(min_value=0, required=False)
    last_index = IntegerField(min_value=0, required=False)


class NormalitySerializer(serializers.Serializer):
    statistic = FloatField()
    p_value = FloatField()
    is_normal = serializers.BooleanField()


class ProcessCapabilitySerializer(serializers.Serializer):
    count = IntegerField()
    subgroups = IntegerField()
    mean = FloatField()
    sigma_within = FloatField()
    sigma_overall = FloatField()
    lower_spec_limit = FloatField(allow_null=True)
    upper_spec_limit = FloatField(allow_null=True)
    target = FloatField(allow_null=True)
    cp = FloatField(allow_null=True)
    cpu = FloatField(allow_null=True)
    cpl = FloatField(allow_null=True)
    cpk = FloatField()
    pp = FloatField(allow_null=True)
    ppu = FloatField(allow_null=True)
    ppl = FloatField(allow_null=True)
    ppk = FloatField()
    cpm = FloatField(allow_null=True)
    cpk_lower = FloatField()
    cpk_upper = FloatField()
    confidence = FloatField()
    method = serializers.CharField()
    normality = NormalitySerializer()
