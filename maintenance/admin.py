from django.contrib import admin

from maintenance.models import ComponentPart, MaintenanceWorkOrder


@admin.register(ComponentPart)
class ComponentPartAdmin(admin.ModelAdmin):
    list_display = ["equipment", "component", "spare_item", "quantity_per_replacement"]
    list_filter = ["equipment"]
    search_fields = ["component", "equipment__code", "spare_item__code"]


@admin.register(MaintenanceWorkOrder)
class MaintenanceWorkOrderAdmin(admin.ModelAdmin):
    list_display = [
        "number",
        "equipment",
        "kind",
        "state",
        "priority",
        "title",
        "window_start_at",
        "window_end_at",
    ]
    list_filter = ["kind", "state", "priority"]
    search_fields = ["number", "title", "equipment__code"]
    readonly_fields = ["state", "started_at", "completed_at"]
