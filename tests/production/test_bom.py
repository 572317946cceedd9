from datetime import UTC, datetime
from decimal import Decimal

import pytest

from inventory.models import Item
from mes_site.errors import Conflict, ValidationFailed
from production.models import BillOfMaterials, BomLine, Product, Routing
from production.selectors.bom import bom_effective, bom_requirements
from production.services.bom import BomLineSpec, bom_create

pytestmark = pytest.mark.django_db
JAN = datetime(2026, 1, 1, tzinfo=UTC)
JUN = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def parts(plant):
    housing = Item.objects.create(code="HOUSING", name="Bearing housing", kind="product")
    casting = Item.objects.create(code="CASTING", name="Casting")
    bolt = Item.objects.create(code="M8", name="M8 bolt")
    plant.product.item = housing
    plant.product.save()
    return housing, casting, bolt


def test_a_bom_version_with_lines_on_routing_steps(plant, parts):
    _housing, casting, bolt = parts
    first, second = plant.routing.operations.order_by("sequence")
    bom = bom_create(
        product=plant.product,
        version="A",
        routing=plant.routing,
        effective_from=JAN,
        lines=[
            BomLineSpec(casting.pk, Decimal(1), operation_id=first.pk, is_serialized=True),
            BomLineSpec(bolt.pk, Decimal(4), Decimal("0.05"), operation_id=second.pk),
        ],
    )
    lines = {line.item.code: line for line in bom.lines.all()}
    assert lines["M8"].operation_id == second.pk
    requirements = bom_requirements(bom=bom, units=Decimal(10), operation_template_id=second.pk)
    needs = [(line.item.code, needed) for line, needed in requirements]
    assert needs == [("M8", Decimal("42.000"))]


def test_the_version_in_force_follows_the_effective_dates(plant, parts):
    _housing, casting, _bolt = parts
    old = bom_create(
        product=plant.product,
        version="A",
        effective_from=JAN,
        effective_to=JUN,
        lines=[BomLineSpec(casting.pk, Decimal(1))],
    )
    new = bom_create(
        product=plant.product,
        version="B",
        effective_from=JUN,
        lines=[BomLineSpec(casting.pk, Decimal(2))],
    )
    assert bom_effective(product_id=plant.product.pk, at=datetime(2026, 3, 1, tzinfo=UTC)) == old
    assert bom_effective(product_id=plant.product.pk, at=JUN) == new
    assert bom_effective(product_id=plant.product.pk, at=datetime(2025, 1, 1, tzinfo=UTC)) is None


def test_a_bom_cycle_is_refused_with_the_cycle_named(plant, parts):
    housing, casting, _bolt = parts
    bom_create(
        product=plant.product, version="A", effective_from=JAN,
        lines=[BomLineSpec(casting.pk, Decimal(1))],
    )  # fmt: skip
    cast_product = Product.objects.create(code="CAST", name="Casting", item=casting)
    with pytest.raises(ValidationFailed) as refused:
        bom_create(
            product=cast_product,
            version="1",
            effective_from=JAN,
            lines=[BomLineSpec(housing.pk, Decimal(1))],
        )
    assert refused.value.code == "bom_cycle"
    assert refused.value.detail["cycle"] == ["CASTING", "HOUSING", "CASTING"]
    assert "CASTING contains HOUSING contains CASTING" in refused.value.message
    assert not BillOfMaterials.objects.filter(product=cast_product).exists()
    with pytest.raises(ValidationFailed):  # an item in itself
        bom_create(
            product=plant.product, version="B", effective_from=JAN,
            lines=[BomLineSpec(housing.pk, Decimal(1))],
        )  # fmt: skip


def test_bad_boms_are_refused_and_write_nothing(plant, parts):
    _housing, casting, bolt = parts
    foreign_routing = Routing.objects.create(
        product=Product.objects.create(code="OTHER", name="Other"), version="1"
    )
    step = plant.routing.operations.first()
    cases = [
        {"lines": []},
        {"lines": [BomLineSpec(casting.pk, Decimal(0))]},
        {"lines": [BomLineSpec(casting.pk, Decimal(1), Decimal("-0.1"))]},
        {"lines": [BomLineSpec(casting.pk, Decimal(1)), BomLineSpec(casting.pk, Decimal(2))]},
        {"lines": [BomLineSpec(casting.pk, Decimal(1), operation_id=step.pk)]},  # no routing
        {"routing": foreign_routing, "lines": [BomLineSpec(casting.pk, Decimal(1))]},
        {"effective_to": JAN, "lines": [BomLineSpec(bolt.pk, Decimal(1))]},
    ]
    for case in cases:
        with pytest.raises(ValidationFailed):
            bom_create(product=plant.product, version="A", effective_from=JAN, **case)
    assert not BillOfMaterials.objects.exists()
    assert not BomLine.objects.exists()
    bom_create(
        product=plant.product, version="A", effective_from=JAN,
        lines=[BomLineSpec(casting.pk, Decimal(1))],
    )  # fmt: skip
    with pytest.raises(Conflict):
        bom_create(
            product=plant.product, version="A", effective_from=JUN,
            lines=[BomLineSpec(casting.pk, Decimal(1))],
        )  # fmt: skip


def test_bom_api_creates_lists_and_refuses_a_cycle(plant, parts, api_for):
    housing, casting, bolt = parts
    client = api_for("planner")
    step = plant.routing.operations.first()
    created = client.post(
        "/api/production/boms/",
        {
            "product": plant.product.pk,
            "version": "A",
            "routing": plant.routing.pk,
            "effective_from": "2026-01-01T00:00:00Z",
            "lines": [
                {"item": casting.pk, "quantity_per_unit": "1", "operation": step.pk},
                {"item": bolt.pk, "quantity_per_unit": "4", "scrap_factor": "0.05"},
            ],
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert [line["item_code"] for line in created.json()["lines"]] == ["CASTING", "M8"]
    listed = client.get("/api/production/boms/", {"product": plant.product.pk}).json()
    assert [row["version"] for row in listed["results"]] == ["A"]
    cast_product = Product.objects.create(code="CAST", name="Casting", item=casting)
    cycle = client.post(
        "/api/production/boms/",
        {
            "product": cast_product.pk,
            "version": "1",
            "effective_from": "2026-01-01T00:00:00Z",
            "lines": [{"item": housing.pk, "quantity_per_unit": "1"}],
        },
        format="json",
    )
    assert cycle.status_code == 400
    assert cycle.json()["code"] == "bom_cycle"
    assert cycle.json()["detail"]["cycle"] == ["CASTING", "HOUSING", "CASTING"]
    empty = client.post(
        "/api/production/boms/",
        {"product": cast_product.pk, "version": "1", "effective_from": "x", "lines": []},
        format="json",
    )
    assert empty.status_code == 400
    assert set(empty.json()["detail"]) == {"effective_from", "lines"}
