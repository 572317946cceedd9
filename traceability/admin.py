from django.contrib import admin

from traceability.models import AuditEvent, ElectronicSignature, GenealogyLink, Lot, SerialUnit


class SerialUnitInline(admin.TabularInline):
    model = SerialUnit
    extra = 0


class ProducedFromInline(admin.TabularInline):
    model = GenealogyLink
    fk_name = "produced_lot"
    extra = 0
    verbose_name_plural = "consumed lots (genealogy)"


@admin.register(Lot)
class LotAdmin(admin.ModelAdmin):
    list_display = ["code", "item", "quantity", "status", "origin", "created_at"]
    list_filter = ["status", "origin"]
    search_fields = ["code", "item__code"]
    inlines = [ProducedFromInline, SerialUnitInline]
    list_select_related = ["item"]


@admin.register(SerialUnit)
class SerialUnitAdmin(admin.ModelAdmin):
    list_display = ["serial", "lot", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["serial", "lot__code"]


@admin.register(GenealogyLink)
class GenealogyLinkAdmin(admin.ModelAdmin):
    list_display = ["consumed_lot", "produced_lot", "quantity", "operation", "linked_at"]
    search_fields = ["consumed_lot__code", "produced_lot__code"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit log is append-only."""

    list_display = [
        "chain_seq",
        "at",
        "actor_name",
        "action",
        "object_repr",
        "old_value",
        "new_value",
    ]
    list_filter = ["action", "content_type"]
    search_fields = ["object_repr", "actor_name", "reason"]
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ElectronicSignature)
class ElectronicSignatureAdmin(admin.ModelAdmin):
    """Read-only: electronic signatures are append-only (21 CFR Part 11)."""

    list_display = ["signed_at", "printed_name", "meaning", "object_repr", "reason"]
    list_filter = ["meaning", "content_type"]
    search_fields = ["printed_name", "object_repr", "reason"]
    date_hierarchy = "signed_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
