from django import forms
from django.contrib import admin

from autonomy.services import guardrails
from production import models as m
from production.services.operator_badges import (
    PIN_PATTERN,
    operator_badge_may_manage,
    operator_badge_set_pin,
)


class AreaInline(admin.TabularInline):
    model = m.Area
    extra = 0


class LineInline(admin.TabularInline):
    model = m.Line
    extra = 0


class CellInline(admin.TabularInline):
    model = m.Cell
    extra = 0


class EquipmentInline(admin.TabularInline):
    model = m.Equipment
    extra = 0
    fields = ["code", "name", "stress_limit_kn", "bottleneck_weight", "is_active"]


class SignalInline(admin.TabularInline):
    model = m.Signal
    extra = 0


@admin.register(m.Enterprise)
class EnterpriseAdmin(admin.ModelAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


@admin.register(m.Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "enterprise", "time_zone", "autonomy_mode"]
    list_filter = ["enterprise", "autonomy_mode"]
    search_fields = ["code", "name"]
    inlines = [AreaInline]
    readonly_fields = ["autonomy_mode"]
    actions = ["kill_switch"]

    @admin.action(
        description="Kill switch: set autonomy to off (propose only)",
        permissions=["set_autonomy"],
    )
    def kill_switch(self, request, queryset):
        for site in queryset:
            guardrails.kill_switch(
                site_id=site.pk, actor=request.user, reason="kill switch in the admin"
            )
        self.message_user(
            request, f"Autonomy is off for {queryset.count()} site(s); nothing applies itself."
        )

    def has_set_autonomy_permission(self, request) -> bool:
        return request.user.has_perm("autonomy.set_autonomy_mode")


@admin.register(m.Area)
class AreaAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "site"]
    list_filter = ["site"]
    search_fields = ["code", "name"]
    inlines = [LineInline]


@admin.register(m.Line)
class LineAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "area", "capacity_units"]
    list_filter = ["area__site", "area"]
    search_fields = ["code", "name"]
    inlines = [CellInline]


@admin.register(m.Cell)
class CellAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "line"]
    list_filter = ["line"]
    search_fields = ["code", "name"]
    inlines = [EquipmentInline]


@admin.register(m.Capability)
class CapabilityAdmin(admin.ModelAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


@admin.register(m.Equipment)
class EquipmentAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "uns_path", "stress_limit_kn", "bottleneck_weight", "is_active"]
    list_filter = ["is_active", "cell__line", "capabilities"]
    search_fields = ["code", "name", "uns_path"]
    readonly_fields = ["uns_path"]
    filter_horizontal = ["capabilities"]
    inlines = [SignalInline]
    list_select_related = ["cell__line"]


@admin.register(m.Signal)
class SignalAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "equipment",
        "unit",
        "data_type",
        "min_value",
        "max_value",
        "sample_period_s",
    ]
    list_filter = ["data_type", "equipment__cell__line"]
    search_fields = ["name", "equipment__code", "equipment__uns_path"]
    list_select_related = ["equipment"]


@admin.register(m.PlantScope)
class PlantScopeAdmin(admin.ModelAdmin):
    list_display = ["user"]
    filter_horizontal = ["sites", "lines"]
    search_fields = ["user__username"]


class OperatorBadgeForm(forms.ModelForm):
    pin = forms.CharField(
        label="New PIN",
        widget=forms.PasswordInput(render_value=False),
        help_text="4 to 8 digits; stored hashed, never shown.",
    )

    class Meta:
        model = m.OperatorBadge
        fields = ["user", "badge_id"]

    def clean_pin(self) -> str:
        pin = self.cleaned_data["pin"]
        if PIN_PATTERN.fullmatch(pin) is None:
            raise forms.ValidationError("A PIN is 4 to 8 digits.")
        return pin


@admin.register(m.OperatorBadge)
class OperatorBadgeAdmin(admin.ModelAdmin):
    """Admins give a user a badge and set its PIN (through the service: validated, hashed,
    audited). The hash itself is never shown."""

    form = OperatorBadgeForm
    list_display = ["badge_id", "user", "pin_set_at", "pin_set_by"]
    search_fields = ["badge_id", "user__username"]
    list_select_related = ["user", "pin_set_by"]

    def _is_admin(self, request) -> bool:
        return operator_badge_may_manage(request.user)

    def has_module_permission(self, request) -> bool:
        return self._is_admin(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._is_admin(request)

    def has_add_permission(self, request) -> bool:
        return self._is_admin(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._is_admin(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._is_admin(request)

    def save_model(self, request, obj, form, change) -> None:
        badge = operator_badge_set_pin(
            actor=request.user,
            user=form.cleaned_data["user"],
            badge_id=form.cleaned_data["badge_id"],
            pin=form.cleaned_data["pin"],
        )
        obj.pk = badge.pk
        obj._state.adding = False


class OperationTemplateInline(admin.TabularInline):
    model = m.OperationTemplate
    extra = 0


@admin.register(m.Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "item"]
    search_fields = ["code", "name"]


@admin.register(m.Routing)
class RoutingAdmin(admin.ModelAdmin):
    list_display = ["product", "version", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["product__code"]
    inlines = [OperationTemplateInline]


class OperationInline(admin.TabularInline):
    model = m.Operation
    extra = 0
    fields = [
        "sequence",
        "name",
        "capability",
        "assigned_equipment",
        "state",
        "quantity_good",
        "quantity_scrap",
        "planned_start_at",
        "planned_end_at",
    ]
    readonly_fields = ["state", "quantity_good", "quantity_scrap"]


@admin.register(m.WorkOrder)
class WorkOrderAdmin(admin.ModelAdmin):
    list_display = [
        "number",
        "product",
        "quantity",
        "quantity_good",
        "quantity_scrap",
        "due_at",
        "priority",
        "state",
        "line",
    ]
    list_filter = ["state", "site", "line", "source"]
    search_fields = ["number", "product__code"]
    date_hierarchy = "due_at"
    readonly_fields = [
        "state",
        "quantity_good",
        "quantity_scrap",
        "released_at",
        "started_at",
        "completed_at",
    ]
    inlines = [OperationInline]
    list_select_related = ["product", "line"]


class ShiftBreakInline(admin.TabularInline):
    model = m.ShiftBreak
    extra = 0


class ShiftInline(admin.TabularInline):
    model = m.Shift
    extra = 0


class PlannedDowntimeInline(admin.TabularInline):
    model = m.PlannedDowntime
    extra = 0


@admin.register(m.ShiftCalendar)
class ShiftCalendarAdmin(admin.ModelAdmin):
    list_display = ["name", "site", "line"]
    list_filter = ["site"]
    inlines = [ShiftInline, PlannedDowntimeInline]


@admin.register(m.Shift)
class ShiftAdmin(admin.ModelAdmin):
    list_display = ["name", "calendar", "start_time", "end_time", "weekdays"]
    list_filter = ["calendar"]
    inlines = [ShiftBreakInline]


class DowntimeReasonInline(admin.TabularInline):
    model = m.DowntimeReason
    extra = 0
    fk_name = "parent"


@admin.register(m.DowntimeReason)
class DowntimeReasonAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "parent", "iso_element", "is_active"]
    list_filter = ["iso_element", "is_active"]
    search_fields = ["code", "name"]
    inlines = [DowntimeReasonInline]


class ReadOnlyAdminMixin:
    """Rows written only by the monitoring services (they keep the OEE consistent)."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(m.EquipmentStateInterval)
class EquipmentStateIntervalAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: classify stops and enter states through the API (audited, recomputed)."""

    list_display = [
        "equipment",
        "state",
        "start_at",
        "end_at",
        "reason",
        "needs_reason",
        "is_minor_stop",
        "source",
        "classified_by",
    ]
    list_filter = ["state", "needs_reason", "is_minor_stop", "source"]
    search_fields = ["equipment__code"]
    date_hierarchy = "start_at"
    list_select_related = ["equipment", "reason", "classified_by"]


@admin.register(m.AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "metric",
        "signal_name",
        "comparison",
        "threshold",
        "hysteresis",
        "severity",
        "is_active",
    ]
    list_filter = ["metric", "severity", "is_active"]


@admin.register(m.Alert)
class AlertAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: alerts are raised and cleared by their rules, acknowledged in the API."""

    list_display = ["message", "severity", "state", "raised_at", "acknowledged_by", "cleared_at"]
    list_filter = ["severity", "state"]
    date_hierarchy = "raised_at"
    list_select_related = ["acknowledged_by"]


@admin.register(m.OeeSnapshot)
class OeeSnapshotAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: computed by the OEE job (``manage.py oee_snapshots_rebuild`` to redo)."""

    list_display = [
        "scope",
        "scope_id",
        "period",
        "label",
        "period_start_at",
        "availability",
        "effectiveness",
        "quality_ratio",
        "oee",
        "is_closed",
    ]
    list_filter = ["scope", "period", "is_closed"]
    date_hierarchy = "period_start_at"


class BomLineInline(admin.TabularInline):
    model = m.BomLine
    extra = 0
    autocomplete_fields = ["item"]


@admin.register(m.BillOfMaterials)
class BillOfMaterialsAdmin(admin.ModelAdmin):
    """Read here; a new version is made through the API (``bom_create`` checks cycles)."""

    list_display = ["product", "version", "effective_from", "effective_to", "routing"]
    list_filter = ["product"]
    inlines = [BomLineInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
