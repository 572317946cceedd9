from django.contrib import admin, messages

from inventory import services
from inventory.models import Item, Location, ProcurementRequest, Reservation, Stock, StockMovement
from mes_site.admin_mixins import AppendOnlyAdmin
from mes_site.errors import DomainError


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "unit", "kind"]
    list_filter = ["kind"]
    search_fields = ["code", "name"]


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "site"]
    list_filter = ["site"]
    search_fields = ["code", "name"]


@admin.register(Stock)
class StockAdmin(admin.ModelAdmin):
    """Stock changes only through movements (services); shown read-only here."""

    list_display = ["lot", "location", "quantity"]
    list_filter = ["location"]
    search_fields = ["lot__code", "lot__item__code"]
    readonly_fields = ["lot", "location", "quantity"]

    def has_add_permission(self, request):
        return False


@admin.register(StockMovement)
class StockMovementAdmin(AppendOnlyAdmin):
    list_display = ["at", "kind", "lot", "from_location", "to_location", "quantity", "reference"]
    list_filter = ["kind"]
    search_fields = ["lot__code", "reference"]
    date_hierarchy = "at"


@admin.register(Reservation)
class ReservationAdmin(admin.ModelAdmin):
    """Reservations change only through services; the admin can release active ones."""

    list_display = [
        "stock",
        "quantity",
        "status",
        "reference",
        "maintenance_work_order",
        "created_at",
    ]
    list_filter = ["status"]
    search_fields = ["reference", "stock__lot__code", "stock__lot__item__code"]
    actions = ["release"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_release_permission(self, request) -> bool:
        return request.user.has_perm("inventory.change_reservation")

    @admin.action(description="Release the selected active reservations", permissions=["release"])
    def release(self, request, queryset):
        released = 0
        for reservation in queryset.filter(status="active"):
            try:
                services.reservation_release(
                    reservation_id=reservation.pk, actor=request.user, reason="admin"
                )
                released += 1
            except DomainError as error:
                self.message_user(request, error.message, messages.ERROR)
        self.message_user(request, f"Released {released} reservation(s).")


@admin.register(ProcurementRequest)
class ProcurementRequestAdmin(admin.ModelAdmin):
    """The ERP outbox: read-only here; unacknowledged requests can be cancelled."""

    list_display = [
        "number",
        "item",
        "quantity",
        "site",
        "status",
        "is_stale",
        "needed_by",
        "created_at",
        "erp_reference",
    ]
    list_filter = ["status", "is_stale", "site"]
    search_fields = ["number", "reference", "erp_reference", "item__code"]
    actions = ["cancel"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm("inventory.change_procurementrequest")

    @admin.action(
        description="Cancel the selected requests (not yet acknowledged)", permissions=["cancel"]
    )
    def cancel(self, request, queryset):
        cancelled = 0
        for row in queryset.filter(status__in=["pending", "sent"]):
            try:
                services.procurement_request_cancel(
                    request_id=row.pk, actor=request.user, reason="admin"
                )
                cancelled += 1
            except DomainError as error:
                self.message_user(request, error.message, messages.ERROR)
        self.message_user(request, f"Cancelled {cancelled} request(s).")
