"""Reads of the inventory app."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import (
    Count,
    DecimalField,
    F,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from inventory.choices import ProcurementStatus, ReservationStatus
from inventory.models import Item, Location, ProcurementRequest, Reservation, Stock, StockMovement
from mes_site.scope import scope_filter
from production.models import Site
from traceability.choices import LotStatus


def _sites_in_scope(user) -> QuerySet[Site]:
    """The sites a user's scope touches: a site of the scope, or one holding a line of it.
    Stock and locations are site-bound, not line-bound: a user scoped to a line sees the
    stores of that line's site (the one scoping rule, ``scope_filter``)."""
    return scope_filter(Site.objects.all(), user, line="areas__lines__id", site="id").values("id")


def location_list_scoped(*, user) -> QuerySet[Location]:
    return location_list().filter(site__in=_sites_in_scope(user))


def stock_list_scoped(*, user) -> QuerySet[Stock]:
    return stock_list().filter(location__site__in=_sites_in_scope(user))


def stock_movement_list_scoped(*, user) -> QuerySet[StockMovement]:
    sites = _sites_in_scope(user)
    return stock_movement_list().filter(
        Q(from_location__site__in=sites) | Q(to_location__site__in=sites)
    )


def reservation_list_scoped(*, user) -> QuerySet[Reservation]:
    return reservation_list().filter(stock__location__site__in=_sites_in_scope(user))


def procurement_request_list_scoped(*, user) -> QuerySet[ProcurementRequest]:
    return procurement_request_list().filter(site__in=_sites_in_scope(user))


def item_list() -> QuerySet[Item]:
    return Item.objects.all()


def location_list() -> QuerySet[Location]:
    return Location.objects.select_related("site")


def _reserved_subquery() -> Subquery:
    return Subquery(
        Reservation.objects.filter(stock_id=OuterRef("pk"), status=ReservationStatus.ACTIVE)
        .values("stock_id")
        .annotate(total=Sum("quantity"))
        .values("total"),
        output_field=DecimalField(max_digits=14, decimal_places=3),
    )


def stock_list() -> QuerySet[Stock]:
    """Stock rows with ``reserved_quantity`` (active reservations) and ``available_quantity``."""
    zero = Value(Decimal(0), output_field=DecimalField(max_digits=14, decimal_places=3))
    return (
        Stock.objects.select_related("lot__item", "location")
        .annotate(reserved_quantity=Coalesce(_reserved_subquery(), zero))
        .annotate(available_quantity=F("quantity") - F("reserved_quantity"))
    )


def stock_movement_list() -> QuerySet[StockMovement]:
    return StockMovement.objects.select_related(
        "lot__item", "from_location", "to_location", "actor"
    )


def item_on_hand(*, item_id: int) -> Decimal:
    total = Stock.objects.filter(lot__item_id=item_id, lot__status="available").aggregate(
        total=Sum("quantity")
    )["total"]
    return total or Decimal(0)


def reservation_list() -> QuerySet[Reservation]:
    return Reservation.objects.select_related(
        "stock__lot__item", "stock__location", "maintenance_work_order", "created_by"
    )


def procurement_request_list() -> QuerySet[ProcurementRequest]:
    return ProcurementRequest.objects.select_related("item", "site", "maintenance_work_order")


def procurement_outbox_backlog(*, now: datetime | None = None) -> dict[str, Any]:
    """Requests the ERP has not acknowledged yet: waiting to be fetched (pending) and fetched
    but not acknowledged (sent); the oldest one's age; how many are stale."""
    now = now or timezone.now()
    waiting = Q(status__in=[ProcurementStatus.PENDING, ProcurementStatus.SENT])
    figures = ProcurementRequest.objects.aggregate(
        unacknowledged_count=Count("id", filter=waiting),
        pending_count=Count("id", filter=Q(status=ProcurementStatus.PENDING)),
        stale_count=Count("id", filter=waiting & Q(is_stale=True)),
        oldest_at=Min("created_at", filter=waiting),
    )
    oldest = figures["oldest_at"]
    return {
        "pending_count": figures["pending_count"],
        "unacknowledged_count": figures["unacknowledged_count"],
        "stale_count": figures["stale_count"],
        "oldest_unacknowledged_at": oldest,
        "oldest_unacknowledged_age_s": (now - oldest).total_seconds() if oldest else None,
    }


@dataclass(frozen=True)
class StockAvailability:
    """One stock row of an item with its on-hand, reserved and available quantities."""

    stock_id: int
    lot_code: str
    location_code: str
    on_hand: Decimal
    reserved: Decimal

    @property
    def available(self) -> Decimal:
        return self.on_hand - self.reserved


def stock_availability(*, item_id: int, site_id: int | None = None) -> list[StockAvailability]:
    """Stock rows of an item (at one site) in available lots, oldest lot first (FIFO)."""
    rows = Stock.objects.filter(
        lot__item_id=item_id, lot__status=LotStatus.AVAILABLE, quantity__gt=0
    )
    if site_id is not None:
        rows = rows.filter(location__site_id=site_id)
    rows = (
        rows.select_related("lot", "location")
        .annotate(reserved=_reserved_subquery())
        .order_by("lot__created_at", "id")
    )
    return [
        StockAvailability(
            stock_id=row.pk,
            lot_code=row.lot.code,
            location_code=row.location.code,
            on_hand=row.quantity,
            reserved=row.reserved or Decimal(0),
        )
        for row in rows
    ]


def item_available(*, item_id: int, site_id: int | None = None) -> Decimal:
    """On hand minus active reservations, over the available lots (of one site)."""
    return sum(
        (row.available for row in stock_availability(item_id=item_id, site_id=site_id)),
        Decimal(0),
    )


@dataclass(frozen=True)
class PickLine:
    """Take ``quantity`` of lot ``lot_code`` from stock row ``stock_id`` at ``location_code``."""

    stock_id: int
    lot_code: str
    location_code: str
    quantity: Decimal
    expires_at: datetime | None


PICK_RULES = ("fefo", "fifo")


def pick_proposal(
    *,
    stocks: QuerySet[Stock],
    item_id: int,
    quantity: Decimal,
    rule: str = "fefo",
    now: datetime | None = None,
) -> tuple[list[PickLine], Decimal]:
    """Which stock rows (of ``stocks``, e.g. the user's) to pick ``quantity`` of an item from,
    and the shortfall. FEFO: first expiring first (lots without expiry last), then oldest;
    FIFO: oldest lot first. Only available lots, their unreserved quantity, nothing expired."""
    if rule not in PICK_RULES:
        raise ValueError(f"rule must be one of {PICK_RULES}")
    now = now or timezone.now()
    rows = (
        stocks.filter(lot__item_id=item_id, lot__status=LotStatus.AVAILABLE, quantity__gt=0)
        .exclude(lot__expires_at__lte=now)
        .order_by(
            *([F("lot__expires_at").asc(nulls_last=True)] if rule == "fefo" else []),
            "lot__created_at",
            "id",
        )
    )
    remaining = Decimal(quantity)
    lines: list[PickLine] = []
    for row in rows:
        if remaining <= 0:
            break
        take = min(row.available_quantity, remaining)
        if take <= 0:
            continue
        lines.append(PickLine(row.pk, row.lot.code, row.location.code, take, row.lot.expires_at))
        remaining -= take
    return lines, max(remaining, Decimal(0))


def stock_expiring(
    *, stocks: QuerySet[Stock], within_days: int, now: datetime | None = None
) -> QuerySet[Stock]:
    """Stock rows (of ``stocks``) with quantity whose lot's shelf life ends within
    ``within_days`` from now, expired ones included, first expiring first."""
    now = now or timezone.now()
    return (
        stocks.filter(quantity__gt=0, lot__expires_at__isnull=False)
        .filter(lot__expires_at__lte=now + timedelta(days=within_days))
        .exclude(lot__status__in=[LotStatus.CONSUMED, LotStatus.SCRAPPED, LotStatus.SHIPPED])
        .order_by("lot__expires_at", "id")
    )
