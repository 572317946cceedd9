from django.contrib import admin

from mes_site.admin_mixins import AppendOnlyAdmin
from quality.models import (
    Characteristic,
    ControlChart,
    ControlLimitSet,
    InspectionResult,
    Measurement,
    RuleViolation,
    Subgroup,
)


@admin.register(Characteristic)
class CharacteristicAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "name",
        "product",
        "lower_spec_limit",
        "target",
        "upper_spec_limit",
        "unit",
    ]
    search_fields = ["code", "name"]


@admin.register(Measurement)
class MeasurementAdmin(admin.ModelAdmin):
    list_display = ["characteristic", "value", "measured_at", "equipment"]
    list_filter = ["characteristic"]
    date_hierarchy = "measured_at"


@admin.register(InspectionResult)
class InspectionResultAdmin(admin.ModelAdmin):
    list_display = ["inspected_at", "source", "is_pass", "defect_class", "confidence", "equipment"]
    list_filter = ["is_pass", "source", "defect_class"]
    date_hierarchy = "inspected_at"


# --- SPC: written only by its services (configuration and limits audited), shown here ---------


@admin.register(ControlChart)
class ControlChartAdmin(AppendOnlyAdmin):
    list_display = ["characteristic", "chart_type", "subgroup_size", "reaction", "equipment"]
    list_filter = ["chart_type", "reaction"]
    search_fields = ["characteristic__code"]


@admin.register(ControlLimitSet)
class ControlLimitSetAdmin(AppendOnlyAdmin):
    list_display = ["chart", "version", "center_line", "lower_limit", "upper_limit"]
    list_display += ["computed_at", "computed_by", "reason"]
    search_fields = ["chart__characteristic__code"]


@admin.register(Subgroup)
class SubgroupAdmin(AppendOnlyAdmin):
    list_display = ["chart", "index", "measured_at", "statistic", "zone", "is_complete", "lot"]
    list_filter = ["is_complete", "source"]
    list_select_related = ["chart__characteristic", "lot"]
    date_hierarchy = "measured_at"


@admin.register(RuleViolation)
class RuleViolationAdmin(AppendOnlyAdmin):
    list_display = ["chart", "subgroup", "rule", "zone", "detected_at", "alerted_at"]
    list_filter = ["rule", "zone"]
    list_select_related = ["chart__characteristic", "subgroup__chart__characteristic"]
