from decimal import Decimal

import pytest

from inventory.models import Item
from mes_site.errors import Conflict, InvalidTransition, ValidationFailed
from traceability.models import AuditEvent, GenealogyLink, Lot
from traceability.selectors import lot_genealogy
from traceability.services import Consumption, lot_consume, lot_create, lot_set_status


@pytest.fixture
def items(db):
    return (
        Item.objects.create(code="STEEL", name="Steel bar"),
        Item.objects.create(code="BRACKET", name="Bracket"),
    )


def test_consumption_builds_genealogy_and_draws_lots(items):
    steel, bracket = items
    bar_1 = lot_create(item=steel, code="S-1", quantity=Decimal(10), origin="received")
    bar_2 = lot_create(item=steel, code="S-2", quantity=Decimal(4), origin="received")
    product = lot_create(item=bracket, code="B-1", quantity=Decimal(3), origin="produced")
    links = lot_consume(
        produced_lot_id=product.pk,
        consumptions=[Consumption(bar_1.pk, Decimal(6)), Consumption(bar_2.pk, Decimal(4))],
    )
    assert len(links) == 2
    bar_1.refresh_from_db()
    bar_2.refresh_from_db()
    assert (bar_1.quantity, bar_1.status) == (Decimal(4), "available")
    assert (bar_2.quantity, bar_2.status) == (Decimal(0), "consumed")
    backward = lot_genealogy(lot_id=product.pk, direction="backward")
    assert sorted((e["consumed_lot"], e["quantity"]) for e in backward) == [
        ("S-1", "6.000"),
        ("S-2", "4.000"),
    ]
    forward = lot_genealogy(lot_id=bar_2.pk, direction="forward")
    assert [(e["produced_lot"], e["depth"]) for e in forward] == [("B-1", 1)]
    assert AuditEvent.objects.filter(action="consume").count() == 2


def test_multi_level_trace(items):
    steel, bracket = items
    raw = lot_create(item=steel, code="R", quantity=Decimal(5), origin="received")
    middle = lot_create(item=bracket, code="M", quantity=Decimal(5), origin="produced")
    final = lot_create(item=bracket, code="F", quantity=Decimal(5), origin="produced")
    lot_consume(produced_lot_id=middle.pk, consumptions=[Consumption(raw.pk, Decimal(5))])
    lot_consume(produced_lot_id=final.pk, consumptions=[Consumption(middle.pk, Decimal(2))])
    edges = lot_genealogy(lot_id=final.pk, direction="backward")
    assert [(e["consumed_lot"], e["produced_lot"], e["depth"]) for e in edges] == [
        ("M", "F", 1),
        ("R", "M", 2),
    ]


def test_consumption_refusals_write_nothing(items):
    steel, bracket = items
    bar = lot_create(item=steel, code="S-1", quantity=Decimal(2), origin="received")
    product = lot_create(item=bracket, code="B-1", quantity=Decimal(1), origin="produced")
    with pytest.raises(ValidationFailed, match="less than"):
        lot_consume(produced_lot_id=product.pk, consumptions=[Consumption(bar.pk, Decimal(3))])
    with pytest.raises(ValidationFailed, match="consume itself"):
        lot_consume(produced_lot_id=bar.pk, consumptions=[Consumption(bar.pk, Decimal(1))])
    lot_set_status(lot_id=bar.pk, status="on_hold", actor=None, reason="suspect")
    with pytest.raises(InvalidTransition, match="on_hold"):
        lot_consume(produced_lot_id=product.pk, consumptions=[Consumption(bar.pk, Decimal(1))])
    bar.refresh_from_db()
    assert bar.quantity == Decimal(2)
    assert not GenealogyLink.objects.exists()
    with pytest.raises(Conflict):
        lot_create(item=steel, code="S-1", quantity=Decimal(1), origin="received")
    assert Lot.objects.count() == 2


def test_audit_events_are_append_only(items):
    lot = lot_create(item=items[0], code="S-9", quantity=Decimal(1), origin="received")
    event = AuditEvent.objects.get(object_id=str(lot.pk))
    event.reason = "tampered"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
    assert AuditEvent.objects.get(pk=event.pk).reason == ""


def test_genealogy_api(api_for, items):
    steel, _ = items
    bar = lot_create(item=steel, code="S-1", quantity=Decimal(5), origin="received")
    client = api_for("quality")
    created = client.post(
        "/api/traceability/lots/",
        {"item": "BRACKET", "code": "B-7", "quantity": "1", "origin": "produced"},
        format="json",
    )
    assert created.status_code == 201
    product_id = created.json()["id"]
    consumed = client.post(
        f"/api/traceability/lots/{product_id}/consume/",
        {"consumed": [{"lot": bar.pk, "quantity": "2"}]},
        format="json",
    )
    assert consumed.status_code == 200, consumed.content
    trace = client.get(f"/api/traceability/lots/{product_id}/genealogy/?direction=backward")
    assert [(e["consumed_lot"], e["quantity"]) for e in trace.json()] == [("S-1", "2.000")]
    bad = client.get(f"/api/traceability/lots/{product_id}/genealogy/?direction=sideways")
    assert bad.status_code == 400
    assert api_for("operator").post("/api/traceability/lots/", {}, format="json").status_code == 403
