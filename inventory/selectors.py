"""Reads of the inventory app."""

from decimal import Decimal

from django.db.models import QuerySet, Sum

from inventory.models import Item, Location, Stock, StockMovement


def item_list() -> QuerySet[Item]:
    return Item.objects.all()


def location_list() -> QuerySet[Location]:
    return Location.objects.select_related("site")


def stock_list() -> QuerySet[Stock]:
    return Stock.objects.select_related("lot__item", "location")


def stock_movement_list() -> QuerySet[StockMovement]:
    return StockMovement.objects.select_related(
        "lot__item", "from_location", "to_location", "actor"
    )


def item_on_hand(*, item_id: int) -> Decimal:
    total = Stock.objects.filter(lot__item_id=item_id, lot__status="available").aggregate(
        total=Sum("quantity")
    )["total"]
    return total or Decimal(0)
