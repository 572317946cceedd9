"""Consumption at an operation: GS1 scans, the backflush at completion, the BOM variance."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from inventory.models import Item
from mes_site.errors import InvalidTransition, NotFound, ValidationFailed
from production.models import Operation
from production.selectors.bom import operation_consumption_variance
from production.services import operation_complete
from production.services.bom import BomLineSpec, bom_create
from production.services.consumption import operation_consume_scan
from traceability.models import GenealogyLink, Lot, SerialUnit
from traceability.services.scan import gs1_scan_parse

pytestmark = pytest.mark.django_db
HOUSING_GTIN = "07032069804988"


def _gtin(body13: str) -> str:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body13)))
    return body13 + str((10 - total % 10) % 10)


CASTING_GTIN = _gtin("0400000000001")
BOLT_GTIN = _gtin("0400000000002")


@pytest.fixture
def line_setup(plant, make_work_order):
    housing = Item.objects.create(code="HOUSING", name="Housing", gtin=HOUSING_GTIN)
    casting = Item.objects.create(code="CASTING", name="Casting", gtin=CASTING_GTIN)
    bolt = Item.objects.create(code="M8", name="M8 bolt", gtin=BOLT_GTIN)
    plant.product.item = housing
    plant.product.save()
    first, second = plant.routing.operations.order_by("sequence")
    bom_create(
        product=plant.product,
        version="A",
        routing=plant.routing,
        effective_from=datetime(2020, 1, 1, tzinfo=UTC),
        lines=[
            BomLineSpec(casting.pk, Decimal(1), operation_id=first.pk, is_serialized=True),
            BomLineSpec(bolt.pk, Decimal(4), Decimal("0.25"), operation_id=second.pk),
        ],
    )
    work_order = make_work_order(state="in_progress", quantity=2)
    Operation.objects.filter(work_order=work_order).update(state="in_progress")
    output = Lot.objects.create(
        item=housing, code="H-OUT", quantity=0, origin="produced",
        produced_by=work_order.operations.first(),
    )  # fmt: skip
    unit = SerialUnit.objects.create(lot=output, serial="H-0001")
    casting_lot = Lot.objects.create(
        item=casting, code="C-LOT", quantity=0, origin="received", supplier_lot_code="FOUNDRY-9"
    )
    SerialUnit.objects.create(lot=casting_lot, serial="C-0001")
    SerialUnit.objects.create(lot=casting_lot, serial="C-0002")
    old_bolts = Lot.objects.create(
        item=bolt, code="B-OLD", quantity=3, origin="received", supplier_lot_code="FAST-1",
        expires_at=datetime(2027, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    new_bolts = Lot.objects.create(
        item=bolt, code="B-NEW", quantity=100, origin="received", supplier_lot_code="FAST-2"
    )
    operations = list(work_order.operations.order_by("sequence"))
    return {
        "operations": operations,
        "unit": unit,
        "output": output,
        "old_bolts": old_bolts,
        "new_bolts": new_bolts,
    }


def test_gs1_scans_parse_raw_and_human_readable():
    raw = gs1_scan_parse(f"]d201{CASTING_GTIN}10FOUNDRY-9\x1d17271231")
    assert (raw.gtin, raw.batch, raw.serial, str(raw.expires_on)) == (
        CASTING_GTIN, "FOUNDRY-9", None, "2027-12-31",
    )  # fmt: skip
    hri = gs1_scan_parse(f"(01){CASTING_GTIN}(21)C-0001")
    assert (hri.batch, hri.serial) == (None, "C-0001")
    for bad in ["garbage", "(01)123(10)x", "(01)07032069804989(10)L", f"(01){CASTING_GTIN}", ""]:
        with pytest.raises(ValidationFailed) as refused:
            gs1_scan_parse(bad)
        assert refused.value.code == "invalid_gs1"
        assert "GS1 element string" in refused.value.detail["scan"]


def test_a_scanned_serial_goes_into_the_unit_and_only_once(line_setup):
    first = line_setup["operations"][0]
    unit = line_setup["unit"]
    links = operation_consume_scan(
        operation_id=first.pk, scan=f"(01){CASTING_GTIN}(21)C-0001", into=unit.serial
    )
    assert [(link.child.serial_unit.serial, link.method) for link in links] == [("C-0001", "scan")]
    with pytest.raises(ValidationFailed) as twice:
        operation_consume_scan(
            operation_id=first.pk,
            scan=f"(01){CASTING_GTIN}(21)C-0001",
            into=unit.serial,
        )
    assert twice.value.code == "serial_consumed"
    assert GenealogyLink.objects.count() == 1


def test_wrong_scans_book_nothing(line_setup):
    first, second = line_setup["operations"]
    unit = line_setup["unit"]
    cases = [
        (first, f"(01){BOLT_GTIN}(10)FAST-2", "wrong_item"),  # bolts go in at step 20
        (second, f"(01){CASTING_GTIN}(10)B-NEW", "wrong_item"),  # our lot, label of another
        (second, "(01)07032069804989(10)B-NEW", "invalid_gs1"),
    ]
    for operation, scan, code in cases:
        with pytest.raises(ValidationFailed) as refused:
            operation_consume_scan(
                operation_id=operation.pk, scan=scan, quantity=Decimal(1),
                into=unit.serial,
            )  # fmt: skip
        assert refused.value.code == code, scan
    for scan in (f"(01){CASTING_GTIN}(10)FAST-2", "(10)NO-SUCH-LOT"):  # batch of another GTIN
        with pytest.raises(NotFound):
            operation_consume_scan(operation_id=second.pk, scan=scan, into=unit.serial)
    with pytest.raises(NotFound):
        operation_consume_scan(operation_id=second.pk, scan="(10)B-NEW", into="NOT-MADE")
    with pytest.raises(ValidationFailed) as short:
        operation_consume_scan(
            operation_id=second.pk, scan=f"(01){BOLT_GTIN}(10)FAST-1", quantity=Decimal(5),
            into=unit.serial,
        )  # fmt: skip
    assert short.value.code == "not_enough"
    Operation.objects.filter(pk=second.pk).update(state="completed")
    with pytest.raises(InvalidTransition):
        operation_consume_scan(
            operation_id=second.pk, scan=f"(01){BOLT_GTIN}(10)FAST-2",
            into=unit.serial,
        )  # fmt: skip
    assert not GenealogyLink.objects.exists()
    assert Lot.objects.get(code="B-OLD").quantity == Decimal(3)


def test_completion_backflushes_the_rest_fefo_and_the_variance_shows(line_setup):
    _first, second = line_setup["operations"]
    unit = line_setup["unit"]
    operation_consume_scan(
        operation_id=second.pk, scan=f"(01){BOLT_GTIN}(10)FAST-2", quantity=Decimal(2),
        into=unit.serial,
    )  # fmt: skip
    Operation.objects.filter(pk=second.pk).update(quantity_good=2)
    operation_complete(operation_id=second.pk, actor=None)
    # 2 units × 4 × 1.25 = 10 bolts; 2 scanned, 8 backflushed: 3 from B-OLD (expires), 5 B-NEW
    backflushed = GenealogyLink.objects.filter(method="backflush").order_by("id")
    assert [(link.child.lot.code, link.quantity) for link in backflushed] == [
        ("B-OLD", Decimal(3)),
        ("B-NEW", Decimal(5)),
    ]
    assert {link.parent.lot.code for link in backflushed} == {"H-OUT"}
    second.refresh_from_db()
    variance = operation_consumption_variance(operation=second)
    assert variance == [
        {
            "item": "M8",
            "required": Decimal("10.000"),
            "consumed": Decimal("10.000"),
            "variance": Decimal("0"),
            "variance_percent": 0.0,
            "is_in_bom": True,
        }
    ]


def test_a_short_backflush_refuses_the_completion(line_setup):
    _first, second = line_setup["operations"]
    Operation.objects.filter(pk=second.pk).update(quantity_good=50)  # 250 bolts needed
    with pytest.raises(ValidationFailed) as short:
        operation_complete(operation_id=second.pk, actor=None)
    assert short.value.detail == {"short": {"M8": "147.000"}}
    assert Operation.objects.get(pk=second.pk).state == "in_progress"
    assert not GenealogyLink.objects.exists()


def test_scan_and_variance_api(line_setup, api_for, plant):
    first = line_setup["operations"][0]
    client = api_for("operator")
    url = f"/api/production/operations/{first.pk}/"
    booked = client.post(
        url + "consume/",
        {"scan": f"(01){CASTING_GTIN}(21)C-0002", "into": "H-0001"},
        format="json",
    )
    assert booked.status_code == 200, booked.json()
    assert booked.json()[0]["method"] == "scan"
    bad = client.post(url + "consume/", {"scan": "nonsense", "into": "H-0001"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalid_gs1"
    neither = client.post(url + "consume/", {"scan": "x"}, format="json")
    assert neither.status_code == 400
    assert "into" in neither.json()["detail"]
    assert GenealogyLink.objects.count() == 1
    variance = client.get(url + "consumption/").json()
    assert [(row["item"], row["consumed"]) for row in variance] == [("CASTING", "1.0000")]
