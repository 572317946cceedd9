from django.contrib import admin

from mes_site.admin_mixins import AppendOnlyAdmin
from quality.models import (
    Capa,
    CapaAction,
    Characteristic,
    ControlChart,
    ControlLimitSet,
    InspectionPlan,
    InspectionResult,
    LotInspection,
    Measurement,
    NonConformance,
    QualityHold,
    RuleViolation,
    Subgroup,
    VisionResult,
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


@admin.register(InspectionPlan)
class InspectionPlanAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "product", "sampling_method", "every_n", "aql", "is_active"]
    list_filter = ["sampling_method", "is_active"]
    search_fields = ["code", "name"]
    filter_horizontal = ["characteristics"]


@admin.register(LotInspection)
class LotInspectionAdmin(admin.ModelAdmin):
    list_display = [
        "inspected_at",
        "lot",
        "plan",
        "sample_size",
        "nonconforming_count",
        "is_accepted",
    ]
    list_filter = ["is_accepted"]
    date_hierarchy = "inspected_at"


@admin.register(QualityHold)
class QualityHoldAdmin(admin.ModelAdmin):
    """Holds change through the guardrails and dispositions only: read here."""

    list_display = ["created_at", "lot", "source", "status", "proposed_action"]
    list_filter = ["status", "source"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(VisionResult)
class VisionResultAdmin(admin.ModelAdmin):
    list_display = ["inspected_at", "equipment", "lot", "serial_unit", "is_pass", "review_status"]
    list_filter = ["review_status", "is_pass"]
    date_hierarchy = "inspected_at"


@admin.register(NonConformance)
class NonConformanceAdmin(admin.ModelAdmin):
    """NCRs move through their services (containment, signed disposition): read here."""

    list_display = ["number", "title", "status", "site", "line", "quantity", "created_at"]
    list_filter = ["status"]
    search_fields = ["number", "title"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class CapaActionInline(admin.TabularInline):
    model = CapaAction
    extra = 0


@admin.register(Capa)
class CapaAdmin(admin.ModelAdmin):
    list_display = ["pk", "non_conformance", "status", "method", "created_at"]
    list_filter = ["status", "method"]
    inlines = [CapaActionInline]


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
