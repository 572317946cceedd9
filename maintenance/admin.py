from django.contrib import admin, messages

from maintenance import services
from maintenance.models import (
    AnomalyEpisode,
    ComponentPart,
    FailureEvent,
    HealthBaseline,
    HealthSnapshot,
    MachineClass,
    MachineClassMember,
    MaintenanceWorkOrder,
    PreventivePlan,
    RedundantPair,
    RulModelVersion,
    SensorSuspicion,
)
from maintenance.services import rul_models
from mes_site.errors import DomainError


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by services: shown, never edited here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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
    readonly_fields = [
        "state",
        "started_at",
        "completed_at",
        "preventive_plan",
        "plan_cycle_number",
        "anomaly_episode",
        "stop_started_at",
        "stop_interval",
    ]


@admin.register(PreventivePlan)
class PreventivePlanAdmin(admin.ModelAdmin):
    list_display = [
        "equipment",
        "name",
        "trigger",
        "interval",
        "tolerance_fraction",
        "cycle_number",
        "cycle_started_at",
        "is_active",
    ]
    list_filter = ["trigger", "is_active"]
    search_fields = ["name", "equipment__code", "component"]
    readonly_fields = ["cycle_number"]
    actions = ["check_now"]

    @admin.action(description="Check now: create the preventive order if it is due")
    def check_now(self, request, queryset):
        created = []
        for plan in queryset:
            try:
                order = services.preventive_plan_check(plan_id=plan.pk)
            except DomainError as error:
                self.message_user(request, f"{plan}: {error.message}", messages.ERROR)
                continue
            if order is not None:
                created.append(order.number)
        self.message_user(
            request, f"Created: {', '.join(created)}" if created else "No plan was due."
        )


@admin.register(FailureEvent)
class FailureEventAdmin(admin.ModelAdmin):
    list_display = ["equipment", "component", "failed_at", "repaired_at", "work_order"]
    list_filter = ["equipment"]
    search_fields = ["equipment__code", "component", "description"]
    date_hierarchy = "failed_at"
    readonly_fields = ["work_order", "recorded_by", "recorded_at"]


@admin.register(HealthSnapshot)
class HealthSnapshotAdmin(ReadOnlyAdmin):
    list_display = [
        "equipment",
        "ts",
        "state",
        "alpha",
        "health_index",
        "rul_state",
        "rul_p10_h",
        "rul_p50_h",
        "rul_p90_h",
        "recommendation",
        "is_anomaly",
    ]
    list_filter = ["state", "recommendation", "is_anomaly", "equipment"]
    date_hierarchy = "ts"


@admin.register(HealthBaseline)
class HealthBaselineAdmin(ReadOnlyAdmin):
    list_display = [
        "equipment",
        "status",
        "learn_from_at",
        "learned_at",
        "window_count",
        "model_version",
    ]
    list_filter = ["status", "equipment"]
    actions = ["relearn"]

    def has_relearn_permission(self, request) -> bool:
        return request.user.has_perm("maintenance.change_healthbaseline")

    @admin.action(
        description="Relearn the healthy baseline from now (e.g. after an overhaul)",
        permissions=["relearn"],
    )
    def relearn(self, request, queryset):
        equipment_ids = sorted(set(queryset.values_list("equipment_id", flat=True)))
        for equipment_id in equipment_ids:
            try:
                services.health_baseline_relearn(
                    equipment_id=equipment_id, actor=request.user, reason="admin action"
                )
            except DomainError as error:
                self.message_user(request, error.message, messages.ERROR)
        self.message_user(
            request, f"Relearning the baseline of {len(equipment_ids)} equipment from now on."
        )


@admin.register(AnomalyEpisode)
class AnomalyEpisodeAdmin(ReadOnlyAdmin):
    list_display = [
        "equipment",
        "state",
        "started_at",
        "ended_at",
        "peak_alpha",
        "peak_recommendation",
        "component",
    ]
    list_filter = ["state", "equipment"]


class MachineClassMemberInline(admin.TabularInline):
    model = MachineClassMember
    extra = 1
    raw_id_fields = ["equipment"]


@admin.register(MachineClass)
class MachineClassAdmin(admin.ModelAdmin):
    """Machines that learn each other's remaining life; train with ``manage.py train_rul``."""

    list_display = ["code", "name"]
    search_fields = ["code", "name"]
    inlines = [MachineClassMemberInline]


@admin.register(RulModelVersion)
class RulModelVersionAdmin(ReadOnlyAdmin):
    list_display = [
        "machine_class",
        "version",
        "is_in_use",
        "trained_at",
        "run_count",
        "cut_point_count",
        "rmse_h",
        "coverage",
        "cap_h",
        "library_version",
    ]
    list_filter = ["machine_class", "is_in_use"]
    exclude = ["payload"]
    actions = ["put_in_use"]

    def has_put_in_use_permission(self, request) -> bool:
        return request.user.has_perm("maintenance.change_rulmodelversion")

    @admin.action(
        description="Put this version in use (e.g. back to an earlier one)",
        permissions=["put_in_use"],
    )
    def put_in_use(self, request, queryset):
        for version in queryset.defer("payload"):
            try:
                rul_models.rul_model_use(version_id=version.pk, actor=request.user)
            except DomainError as error:
                self.message_user(request, f"{version}: {error.message}", messages.ERROR)
                continue
            self.message_user(request, f"{version} is in use.")


@admin.register(RedundantPair)
class RedundantPairAdmin(admin.ModelAdmin):
    """Which measurements of an equipment witness one quantity (docs/maintenance.md)."""

    list_display = ["equipment", "name", "signal_a", "signal_b", "model", "is_active"]
    list_filter = ["model", "is_active"]
    search_fields = ["name", "equipment__code"]
    raw_id_fields = ["signal_a", "signal_b", "power_signal", "speed_signal"]
    readonly_fields = ["last_checked_at", "last_result"]


@admin.register(SensorSuspicion)
class SensorSuspicionAdmin(ReadOnlyAdmin):
    list_display = ["signal", "verdict", "status", "detected_at", "calibration_order_number"]
    list_filter = ["status", "verdict"]
    search_fields = ["signal__name", "equipment__code"]
