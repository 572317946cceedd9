from django.contrib import admin

from quality.models import Characteristic, InspectionResult, Measurement


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
