from django.contrib import admin

from planning import models as m


@admin.register(m.DispatchPolicy)
class DispatchPolicyAdmin(admin.ModelAdmin):
    list_display = [
        "area",
        "time_weight",
        "energy_weight",
        "imbalance_threshold",
        "machine_hour_rate",
        "energy_price_per_kwh",
    ]


@admin.register(m.LineCostRates)
class LineCostRatesAdmin(admin.ModelAdmin):
    list_display = ["line", "machine_hour_rate", "energy_price_per_kwh"]
    list_select_related = ["line"]


@admin.register(m.LinePartParameters)
class LinePartParametersAdmin(admin.ModelAdmin):
    list_display = ["line", "product", "time_per_part_s", "power_w"]
    list_filter = ["line"]


class CustomerOrderLineInline(admin.TabularInline):
    model = m.CustomerOrderLine
    extra = 0


@admin.register(m.CustomerOrder)
class CustomerOrderAdmin(admin.ModelAdmin):
    list_display = ["number", "state", "line", "line_step", "received_at", "dispatched_at"]
    list_filter = ["state", "line", "line_step"]
    search_fields = ["number"]
    inlines = [CustomerOrderLineInline]


@admin.register(m.ScheduleRun)
class ScheduleRunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "site",
        "trigger",
        "status",
        "progress_percent",
        "requested_at",
        "duration_ms",
        "is_current",
    ]
    list_filter = ["status", "trigger", "is_current"]
