"""The recall impact report of a supplier lot and its one-click hold through the guardrails."""

from decimal import Decimal

import pytest
from django.test import Client

from autonomy.models import ProposedAction
from autonomy.services.guardrails import action_approve, action_revert
from inventory.models import Item, Location, Stock
from mes_site.errors import Conflict, NotFound, ValidationFailed
from planning.models import CustomerOrder
from planning.selectors.recall import recall_report
from planning.services.recall import recall_hold_propose
from planning.services.shipments import shipment_record
from tests.mfa import login_verified
from traceability.models import Lot, SerialUnit
from traceability.services import Consumed, material_consume

pytestmark = pytest.mark.django_db


@pytest.fixture
def recall_plant(plant, make_work_order):
    bolt = Item.objects.create(code="M8", name="M8 bolt")
    housing = Item.objects.create(code="HOUSING", name="Housing", kind="product")
    raw_store = Location.objects.create(site=plant.site, code="RM-1", name="Raw")
    goods_store = Location.objects.create(site=plant.site, code="FG-1", name="Finished")
    supplier_lot = Lot.objects.create(
        item=bolt, code="R-1", quantity=100, origin="received", supplier_lot_code="SUP-9"
    )
    clean_lot = Lot.objects.create(
        item=bolt, code="R-2", quantity=100, origin="received", supplier_lot_code="SUP-10"
    )
    open_order = make_work_order(state="in_progress")
    done_order = make_work_order(state="completed")
    wip_lot = Lot.objects.create(
        item=housing, code="H-A", quantity=1, origin="produced",
        produced_by=open_order.operations.first(),
    )  # fmt: skip
    finished_lot = Lot.objects.create(
        item=housing, code="H-B", quantity=2, origin="produced",
        produced_by=done_order.operations.first(),
    )  # fmt: skip
    in_work = SerialUnit.objects.create(lot=wip_lot, serial="S-1")
    in_stock = SerialUnit.objects.create(lot=finished_lot, serial="S-2", status="completed")
    shipped = SerialUnit.objects.create(lot=finished_lot, serial="S-3", status="completed")
    untouched = SerialUnit.objects.create(lot=finished_lot, serial="S-4", status="completed")
    for unit in (in_work, in_stock, shipped):
        material_consume(
            parent_serial_unit_id=unit.pk,
            consumed=[Consumed(lot_id=supplier_lot.pk, quantity=Decimal(4))],
        )
    material_consume(
        parent_serial_unit_id=untouched.pk,
        consumed=[Consumed(lot_id=clean_lot.pk, quantity=Decimal(4))],
    )
    Stock.objects.create(lot=supplier_lot, location=raw_store, quantity=88)
    Stock.objects.create(lot=finished_lot, location=goods_store, quantity=2)
    order = CustomerOrder.objects.create(number="CO-1", site=plant.site, area=plant.line.area)
    shipment_record(customer_order=order, serial_unit_id=shipped.pk)
    return {"supplier_lot": supplier_lot, "wip_lot": wip_lot, "finished_lot": finished_lot}


def test_the_report_says_where_everything_of_the_supplier_lot_is(recall_plant):
    report = recall_report(supplier_lot_code="SUP-9")
    rows = [(r.kind, r.code, r.place_kind, r.place, r.quantity) for r in report.rows]
    assert rows == [
        ("serial", "S-3", "shipped", "CO-1", Decimal(1)),
        ("serial", "S-2", "stock", "FG-1", Decimal(1)),
        ("serial", "S-1", "wip", "WO-0001", Decimal(1)),
        ("lot", "R-1", "stock", "RM-1", Decimal(88)),
    ]
    assert report.finished_serial_count == 3
    assert report.reached_count == 4  # R-1 and three serial units; S-4 is another batch's
    assert report.lots_to_hold == sorted(
        [recall_plant["supplier_lot"].pk, recall_plant["wip_lot"].pk,
         recall_plant["finished_lot"].pk]
    )  # fmt: skip
    assert recall_report(supplier_lot_code="NO-SUCH").rows == []


def test_one_click_holds_everything_in_our_hands_as_one_action(recall_plant, make_user):
    supervisor = make_user("supervisor")
    action = recall_hold_propose(supplier_lot_code="SUP-9", actor=supervisor)
    assert ProposedAction.objects.count() == 1
    assert action.kind == "recall_hold"
    assert action.status == "awaiting_approval"  # no policy row: high risk, a human decides
    assert "3 finished serial units" in action.explanation
    assert set(Lot.objects.values_list("status", flat=True)) == {"available"}
    again = recall_hold_propose(supplier_lot_code="SUP-9", actor=supervisor)
    assert again.pk == action.pk
    action_approve(action_id=action.pk, user=supervisor, password="secret-pass-1")
    statuses = dict(Lot.objects.values_list("code", "status"))
    assert statuses == {
        "R-1": "on_hold", "R-2": "available", "H-A": "on_hold", "H-B": "on_hold",
    }  # fmt: skip
    with pytest.raises(Conflict) as nothing:
        recall_hold_propose(supplier_lot_code="SUP-9", actor=supervisor)
    assert nothing.value.code == "nothing_to_hold"
    action_revert(action_id=action.pk, user=supervisor, reason="false alarm")
    assert set(Lot.objects.values_list("status", flat=True)) == {"available"}
    with pytest.raises(NotFound) as unknown:
        recall_hold_propose(supplier_lot_code="NO-SUCH", actor=supervisor)
    assert unknown.value.code == "unknown_code"


def test_a_serial_ships_once(recall_plant, plant):
    order = CustomerOrder.objects.create(number="CO-2", site=plant.site, area=plant.line.area)
    with pytest.raises(ValidationFailed, match="shipped"):
        shipment_record(
            customer_order=order, serial_unit_id=SerialUnit.objects.get(serial="S-3").pk
        )
    with pytest.raises(ValidationFailed, match="in_process"):
        shipment_record(
            customer_order=order, serial_unit_id=SerialUnit.objects.get(serial="S-1").pk
        )


def test_recall_api_reports_and_proposes_the_hold(recall_plant, api_for):
    client = api_for("quality")
    report = client.get("/api/traceability/recall/", {"supplier_lot": "SUP-9"})
    assert report.status_code == 200, report.json()
    body = report.json()
    assert (body["reached_count"], body["finished_serial_count"]) == (4, 3)
    assert {(p["place_kind"], p["place"], p["quantity"]) for p in body["quantity_by_place"]} == {
        ("shipped", "CO-1", "1.000"),
        ("stock", "FG-1", "1.000"),
        ("stock", "RM-1", "88.000"),
        ("wip", "WO-0001", "1.000"),
    }
    missing = client.get("/api/traceability/recall/")
    assert (missing.status_code, missing.json()["rows"]) == (200, [])
    assert (
        api_for("operator")
        .post("/api/traceability/recall/hold/", {"supplier_lot": "SUP-9"}, format="json")
        .status_code
        == 403
    )
    assert not ProposedAction.objects.exists()
    held = client.post("/api/traceability/recall/hold/", {"supplier_lot": "SUP-9"}, format="json")
    assert held.status_code == 200, held.json()
    assert (held.json()["kind"], held.json()["status"]) == ("recall_hold", "awaiting_approval")
    assert client.post("/api/traceability/recall/hold/", {}, format="json").status_code == 400


def test_trace_page_shows_both_ways_the_recall_and_holds_in_one_click(recall_plant, make_user):
    pages = login_verified(Client(), make_user("quality"))
    serial = pages.get("/traceability/", {"code": "S-2"})
    assert serial.status_code == 200
    body = serial.content.decode()
    assert "Backward: what went into it (1)" in body
    assert "<strong>R-1</strong>" in body
    supplier = pages.get("/traceability/", {"code": "SUP-9"}).content.decode()
    assert "Recall impact of supplier lot SUP-9" in supplier
    assert "Hold the 3 lots still in our hands" in supplier
    unknown = pages.get("/traceability/", {"code": "NOPE"})
    assert unknown.status_code == 404
    assert "expected a lot code, a serial number or a supplier lot code" in (
        unknown.content.decode()
    )
    held = pages.post("/traceability/", {"supplier_lot": "SUP-9"})
    assert held.status_code == 302
    assert ProposedAction.objects.get().kind == "recall_hold"
    printable = pages.get("/traceability/recall/", {"supplier_lot": "SUP-9"}).content.decode()
    assert "Recall impact report: supplier lot SUP-9" in printable
    assert "<script" not in printable
    exported = pages.get("/traceability/recall.csv", {"supplier_lot": "SUP-9"})
    lines = exported.content.decode().splitlines()
    assert lines[0].startswith("kind,code,item,is_finished")
    assert lines[1:] == [
        "serial,S-3,HOUSING,True,shipped,shipped,CO-1,1,H-B,available,False",
        "serial,S-2,HOUSING,True,completed,stock,FG-1,1,H-B,available,True",
        "serial,S-1,HOUSING,True,in_process,wip,WO-0001,1,H-A,available,True",
        "lot,R-1,M8,False,available,stock,RM-1,88.000,R-1,available,True",
    ]
