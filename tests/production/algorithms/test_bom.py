import itertools
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from production.algorithms.bom import bom_cycle_path, required_quantity


def test_a_contains_b_contains_a_is_a_cycle():
    assert bom_cycle_path({"B": ["A"]}, parent="A", child="B") == ["A", "B", "A"]


def test_an_item_in_itself_is_a_cycle():
    assert bom_cycle_path({}, parent="A", child="A") == ["A", "A"]


def test_the_path_of_a_long_cycle_names_every_step():
    contains = {"B": ["X", "C"], "C": ["D"], "D": ["A"], "X": []}
    assert bom_cycle_path(contains, parent="A", child="B") == ["A", "B", "C", "D", "A"]


def test_a_diamond_is_no_cycle():
    contains = {"B": ["D"], "C": ["D"], "A": ["B", "C"]}
    assert bom_cycle_path(contains, parent="A", child="C") is None
    assert bom_cycle_path({"X": ["Y"]}, parent="A", child="B") is None


@given(st.dictionaries(st.integers(0, 6), st.lists(st.integers(0, 6), max_size=4), max_size=7))
def test_a_reported_path_is_made_of_existing_edges(contains):
    path = bom_cycle_path(contains, parent=0, child=1)
    if path is None:
        return
    assert path[0] == path[-1] == 0
    assert path[1] == 1
    for a, b in itertools.pairwise(path[1:]):
        assert b in contains[a]


def test_required_quantity_adds_the_scrap_factor():
    assert required_quantity(
        quantity_per_unit=Decimal("4"), units=Decimal("10"), scrap_factor=Decimal("0.05")
    ) == Decimal("42.00")
    with pytest.raises(ValueError):
        required_quantity(quantity_per_unit=Decimal(-1), units=Decimal(1), scrap_factor=Decimal(0))
