"""Query filters of the quality API: one FilterSet per model the API lists."""

import django_filters

from quality.models import (
    Characteristic,
    ControlChart,
    InspectionResult,
    Measurement,
    RuleViolation,
)
from quality.spc import RunRule


class CharacteristicFilterSet(django_filters.FilterSet):
    class Meta:
        model = Characteristic
        fields = ["product"]


class MeasurementFilterSet(django_filters.FilterSet):
    class Meta:
        model = Measurement
        fields = ["characteristic", "equipment", "operation", "lot"]


class InspectionResultFilterSet(django_filters.FilterSet):
    class Meta:
        model = InspectionResult
        fields = ["is_pass", "defect_class", "source", "equipment", "lot"]


class ControlChartFilterSet(django_filters.FilterSet):
    class Meta:
        model = ControlChart
        fields = ["characteristic", "equipment", "chart_type"]


class RuleViolationFilterSet(django_filters.FilterSet):
    chart = django_filters.NumberFilter(field_name="chart_id")
    run_rule = django_filters.ChoiceFilter(
        field_name="rule", choices=[(rule.value, rule.description) for rule in RunRule]
    )

    class Meta:
        model = RuleViolation
        fields = ["chart", "run_rule"]
