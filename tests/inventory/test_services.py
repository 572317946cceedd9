from decimal import Decimal

import pytest

from inventory.models import Item, Location, Stock, StockMovement
from inventory.selectors import item_on_hand
from inventory.services import stock_issue, stock_move, stock_receive, stock_transfer
from mes_site.errors import ValidationFailed
from traceability.services import lot_create


@pytest.fixture
def stock_setup(plant):
    item = Item.objects.create(code="BRG", name="Bearing", kind="spare")
    lot = lot_create(item=item, code="BRG-1", quantity=Decimal(10), origin="received")
    store = Location.objects.create(site=plant.site, code="STORE", name="Store")
    line_side = Location.objects.create(site=plant.site, code="LINE", name="Line side")
    return item, lot, store, line_side


def test_receive_transfer_issue_keep_the_ledger_and_stock_in_step(stock_setup):
    item, lot, store, line_side = stock_setup
    stock_receive(lot=lot, location=store, quantity=Decimal(10))
    stock_transfer(lot=lot, from_location=store, to_location=line_side, quantity=Decimal(4))
    stock_issue(lot=lot, location=line_side, quantity=Decimal(1))
    assert Stock.objects.get(lot=lot, location=store).quantity == Decimal(6)
    assert Stock.objects.get(lot=lot, location=line_side).quantity == Decimal(3)
    assert list(StockMovement.objects.order_by("id").values_list("kind", "quantity")) == [
        ("receipt", Decimal(10)),
        ("transfer", Decimal(4)),
        ("issue", Decimal(1)),
    ]
    assert item_on_hand(item_id=item.pk) == Decimal(9)


def test_stock_never_goes_negative(stock_setup):
    _, lot, store, _ = stock_setup
    stock_receive(lot=lot, location=store, quantity=Decimal(2))
    with pytest.raises(ValidationFailed, match=r"Only 2\.000"):
        stock_issue(lot=lot, location=store, quantity=Decimal(3))
    with pytest.raises(ValidationFailed, match="positive"):
        stock_receive(lot=lot, location=store, quantity=Decimal(0))
    with pytest.raises(ValidationFailed, match="same location"):
        stock_move(
            lot=lot, quantity=Decimal(1), kind="transfer", from_location=store, to_location=store
        )
    assert Stock.objects.get(lot=lot, location=store).quantity == Decimal(2)
    assert StockMovement.objects.count() == 1


def test_stock_movement_api(api_for, stock_setup):
    _, lot, store, _ = stock_setup
    client = api_for("integration")
    response = client.post(
        "/api/inventory/movements/",
        {"kind": "receipt", "lot": lot.pk, "quantity": "5", "to_location": store.pk},
        format="json",
    )
    assert response.status_code == 201, response.content
    refused = client.post(
        "/api/inventory/movements/",
        {"kind": "issue", "lot": lot.pk, "quantity": "50", "from_location": store.pk},
        format="json",
    )
    assert refused.status_code == 400
    assert refused.json()["detail"] == {"available": "5.000", "requested": "50.000"}
    stock = client.get("/api/inventory/stock/").json()
    assert [(row["lot_code"], row["quantity"]) for row in stock["results"]] == [("BRG-1", "5.000")]
