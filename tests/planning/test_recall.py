"""The recall impact report of a supplier lot and its one-click hold through the guardrails."""

from decimal import Decimal

import pytest

from autonomy.models import ProposedAction
from autonomy.services.guardrails import action_approve, action_revert
from inventory.models import Item, Location, Stock
from mes_site.errors import ValidationFailed
from planning.models import CustomerOrder
from planning.selectors.recall import recall_report
from planning.services.recall import recall_hold_propose
from planning.services.shipments import shipment_record
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
    with pytest.raises(ValidationFailed) as nothing:
        recall_hold_propose(supplier_lot_code="SUP-9", actor=supervisor)
    assert nothing.value.code == "nothing_to_hold"
    action_revert(action_id=action.pk, user=supervisor, reason="false alarm")
    assert set(Lot.objects.values_list("status", flat=True)) == {"available"}
    with pytest.raises(ValidationFailed) as unknown:
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
