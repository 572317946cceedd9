"""Query filters of the inventory API: one FilterSet per model the API lists."""

import django_filters

from inventory.models import Item, Location, ProcurementRequest, Reservation, Stock, StockMovement


class ItemFilterSet(django_filters.FilterSet):
    class Meta:
        model = Item
        fields = ["kind"]


class LocationFilterSet(django_filters.FilterSet):
    class Meta:
        model = Location
        fields = ["site"]


class StockFilterSet(django_filters.FilterSet):
    class Meta:
        model = Stock
        fields = ["lot", "location", "lot__item", "lot__status"]


class StockMovementFilterSet(django_filters.FilterSet):
    class Meta:
        model = StockMovement
        fields = ["kind", "lot", "from_location", "to_location"]


class ReservationFilterSet(django_filters.FilterSet):
    class Meta:
        model = Reservation
        fields = ["status", "stock", "maintenance_work_order", "reference"]


class ProcurementRequestFilterSet(django_filters.FilterSet):
    class Meta:
        model = ProcurementRequest
        fields = ["status", "item", "site", "is_stale", "maintenance_work_order"]
