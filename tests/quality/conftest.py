"""Fixtures of the quality tests: a lot made on the plant's line L1 (so its site is known),
the lot_hold policy and the site's autonomy mode; a characteristic with its control chart on
the plant's L1 machine, and lots to trace (SPC)."""

from decimal import Decimal

import pytest

from autonomy.models import ActionPolicy
from inventory.models import Item
from production.models import Site
from quality.models import Characteristic
from traceability.services import lot_create


@pytest.fixture
def made_lot(plant, make_work_order):
    """make(code, quantity): a lot produced by the first operation of a work order on L1."""
    item, _ = Item.objects.get_or_create(code="P1-ITEM", defaults={"name": "Part 1"})

    def make(code: str = "LOT-A", quantity: int = 1000, line=None):
        operation = make_work_order(line=line).operations.first()
        return lot_create(
            item=item,
            code=code,
            quantity=Decimal(quantity),
            origin="produced",
            produced_by=operation,
        )

    return make


@pytest.fixture
def autonomy(plant):
    """autonomy(mode): set the site's mode; the lot_hold policy is the migration's (low)."""
    ActionPolicy.objects.get_or_create(kind="lot_hold", defaults={"risk": "low"})

    def set_mode(mode: str, site=None):
        Site.objects.filter(pk=(site or plant.site).pk).update(autonomy_mode=mode)

    return set_mode


@pytest.fixture
def diameter(plant):
    return Characteristic.objects.create(
        code="DIA",
        name="Bore diameter",
        product=plant.product,
        unit="mm",
        lower_spec_limit=9.95,
        target=10.0,
        upper_spec_limit=10.05,
    )


@pytest.fixture
def characteristic(db):
    from quality.models import Characteristic

    return Characteristic.objects.create(
        code="D1",
        name="Bore diameter",
        unit="mm",
        lower_spec_limit=9.0,
        upper_spec_limit=11.0,
        target=10.0,
    )


@pytest.fixture
def make_chart(plant, characteristic):
    from quality.services import control_chart_configure

    def make(**overrides):
        arguments = {
            "characteristic": characteristic,
            "chart_type": "xbar_r",
            "subgroup_size": 3,
            "equipment": plant.equipment,
            "rules": ["nelson_1", "nelson_2", "nelson_3", "nelson_5"],
            "reaction": "none",
            **overrides,
        }
        return control_chart_configure(**arguments)

    return make


@pytest.fixture
def make_lot(plant):
    from inventory.models import Item
    from traceability.models import Lot

    def make(code: str):
        item, _ = Item.objects.get_or_create(code="HOUSING", defaults={"name": "Housing"})
        return Lot.objects.create(item=item, code=code, quantity=10, origin="produced")

    return make
