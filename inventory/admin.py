from django.contrib import admin

from inventory.models import Item, Location, Stock, StockMovement


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
class StockMovementAdmin(admin.ModelAdmin):
    list_display = ["at", "kind", "lot", "from_location", "to_location", "quantity", "reference"]
    list_filter = ["kind"]
    search_fields = ["lot__code", "reference"]
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
