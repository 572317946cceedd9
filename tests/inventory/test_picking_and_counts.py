"""FEFO/FIFO picking proposals and cycle counts with audited adjustments."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from inventory.models import Item, Location, Stock, StockMovement
from inventory.selectors import pick_proposal, stock_list
from inventory.services import cycle_count_record, reservation_create
from mes_site.errors import Conflict, ValidationFailed
from traceability.models import AuditEvent, Lot

pytestmark = pytest.mark.django_db
NOW = timezone.now()


@pytest.fixture
def stores(plant):
    bolt = Item.objects.create(code="M8", name="M8 bolt")
    store = Location.objects.create(site=plant.site, code="RM-1", name="Raw")

    def lot(code, quantity, expires_at=None, status="available"):
        made = Lot.objects.create(
            item=bolt, code=code, quantity=quantity, origin="received",
            expires_at=expires_at, status=status,
        )  # fmt: skip
        return Stock.objects.create(lot=made, location=store, quantity=quantity)

    rows = {
        "old_no_expiry": lot("A-OLD", 10),
        "late": lot("B-LATE", 10, NOW + timedelta(days=200)),
        "soon": lot("C-SOON", 5, NOW + timedelta(days=30)),
        "expired": lot("D-EXPIRED", 50, NOW - timedelta(days=30)),
        "held": lot("E-HELD", 50, status="on_hold"),
    }
    return bolt, rows


def _plan(bolt, quantity, rule):
    lines, short = pick_proposal(
        stocks=stock_list(), item_id=bolt.pk, quantity=Decimal(quantity), rule=rule, now=NOW
    )
    return [(line.lot_code, line.quantity) for line in lines], short


def test_fefo_picks_the_first_expiring_and_skips_expired_held_and_reserved(stores):
    bolt, rows = stores
    reservation_create(stock_id=rows["soon"].pk, quantity=Decimal(2))
    assert _plan(bolt, 12, "fefo") == (
        [("C-SOON", Decimal(3)), ("B-LATE", Decimal(9))],
        Decimal(0),
    )
    assert _plan(bolt, 12, "fifo") == (
        [("A-OLD", Decimal(10)), ("B-LATE", Decimal(2))],
        Decimal(0),
    )
    assert _plan(bolt, 30, "fefo")[1] == Decimal(7)  # 3 + 10 + 10 available


def test_a_cycle_count_books_the_difference_and_is_audited(stores):
    _bolt, rows = stores
    stock = cycle_count_record(stock_id=rows["late"].pk, counted_quantity=Decimal(7), reason="Q2")
    assert stock.quantity == Decimal(7)
    movement = StockMovement.objects.get()
    assert (movement.kind, movement.quantity, movement.reference) == (
        "adjustment", Decimal(3), "cycle count: Q2",
    )  # fmt: skip
    event = AuditEvent.objects.get(action="cycle count")
    assert (event.old_value, event.new_value, event.data["difference"]) == (
        "10.000", "7", "-3.000",
    )  # fmt: skip
    cycle_count_record(stock_id=rows["late"].pk, counted_quantity=Decimal(7))
    assert StockMovement.objects.count() == 1  # agreed: nothing to book, still audited
    assert AuditEvent.objects.filter(action="cycle count").count() == 2
    cycle_count_record(stock_id=rows["late"].pk, counted_quantity=Decimal(8))
    assert Stock.objects.get(pk=rows["late"].pk).quantity == Decimal(8)


def test_bad_counts_are_refused(stores):
    _bolt, rows = stores
    with pytest.raises(ValidationFailed):
        cycle_count_record(stock_id=rows["late"].pk, counted_quantity=Decimal(-1))
    reservation_create(stock_id=rows["late"].pk, quantity=Decimal(6))
    with pytest.raises(Conflict):
        cycle_count_record(stock_id=rows["late"].pk, counted_quantity=Decimal(5))
    assert Stock.objects.get(pk=rows["late"].pk).quantity == Decimal(10)
    assert not StockMovement.objects.exists()


def test_pick_and_count_api(stores, api_for):
    bolt, rows = stores
    client = api_for("integration")
    plan = client.get(f"/api/inventory/items/{bolt.pk}/pick/", {"quantity": "4"})
    assert plan.status_code == 200, plan.json()
    assert [line["lot_code"] for line in plan.json()["lines"]] == ["C-SOON"]
    assert client.get(f"/api/inventory/items/{bolt.pk}/pick/").status_code == 400
    counted = client.post(
        f"/api/inventory/stock/{rows['old_no_expiry'].pk}/count/",
        {"counted_quantity": "9", "reason": "count"},
        format="json",
    )
    assert counted.status_code == 200, counted.json()
    assert counted.json()["quantity"] == "9.000"
    held = client.get("/api/inventory/stock/", {"lot__status": "on_hold"}).json()["results"]
    assert [row["id"] for row in held] == [rows["held"].pk]


def test_expiry_alerts_list_what_expires_soon_first(stores, api_for):
    _bolt, _rows = stores
    client = api_for("integration")
    soon = client.get("/api/inventory/stock/expiring/", {"within_days": 60}).json()
    assert [(row["lot_code"], row["is_expired"]) for row in soon] == [
        ("D-EXPIRED", True),
        ("C-SOON", False),
    ]
    later = client.get("/api/inventory/stock/expiring/", {"within_days": 365}).json()
    assert [row["lot_code"] for row in later] == ["D-EXPIRED", "C-SOON", "B-LATE"]
    assert client.get("/api/inventory/stock/expiring/", {"within_days": -1}).status_code == 400
