"""Fixtures of the quality tests: a characteristic with its control chart on the plant's L1
machine, and lots to trace."""

from __future__ import annotations

import pytest


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
