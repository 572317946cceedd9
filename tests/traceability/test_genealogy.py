"""Genealogy as a graph of lot and serial nodes: consumption and trace, both directions."""

import itertools
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inventory.models import Item
from mes_site.errors import InvalidTransition, ValidationFailed
from traceability.models import GenealogyLink, GenealogyNode, Lot, SerialUnit
from traceability.selectors.trace import trace_get, trace_reachable_node_ids
from traceability.services import Consumed, genealogy_node_for, material_consume

pytestmark = pytest.mark.django_db


@pytest.fixture
def item(db):
    return Item.objects.create(code="PART", name="Part")


def _lot(item, code, quantity=100):
    return Lot.objects.create(item=item, code=code, quantity=quantity, origin="received")


def _serial(item, code):
    return SerialUnit.objects.create(lot=_lot(item, f"LOT-{code}"), serial=code)


def _into(parent, *children, quantity=1):
    """Book children (lots or serial units) into parent."""
    key = "parent_lot_id" if isinstance(parent, Lot) else "parent_serial_unit_id"
    return material_consume(
        **{key: parent.pk},
        consumed=[
            Consumed(lot_id=c.pk, quantity=Decimal(quantity))
            if isinstance(c, Lot)
            else Consumed(serial_unit_id=c.pk)
            for c in children
        ],
    )


def _codes(start, direction):
    node = genealogy_node_for(
        **({"lot_id": start.pk} if isinstance(start, Lot) else {"serial_unit_id": start.pk})
    )
    trace = trace_get(node_id=node.pk, direction=direction)
    return {n.code: n.depth for n in trace.nodes.values()}, trace


def test_a_diamond_is_traced_exactly_both_ways(item):
    top, left, right, bottom = (_lot(item, code) for code in "TLRB")
    _into(left, bottom)
    _into(right, bottom)
    _into(top, left, right)
    backward, trace = _codes(top, "backward")
    assert backward == {"L": 1, "R": 1, "B": 2}
    assert len(trace.edges) == 4
    assert trace.explain(trace.nodes[bottom.genealogy_node.pk].node_id) in {
        "lot T (PART) ← lot L (PART) ← lot B (PART)",
        "lot T (PART) ← lot R (PART) ← lot B (PART)",
    }
    forward, _ = _codes(bottom, "forward")
    assert forward == {"L": 1, "R": 1, "T": 2}
    assert _codes(left, "forward")[0] == {"T": 1}
    assert _codes(left, "backward")[0] == {"B": 1}


def test_a_deep_chain_of_serials_and_lots(item):
    units = [_serial(item, f"SN-{depth}") for depth in range(30)]
    for parent, child in itertools.pairwise(units):
        _into(parent, child)
    fastener = _lot(item, "M8-SUPPLIER")
    _into(units[-1], fastener, quantity=4)
    backward, trace = _codes(units[0], "backward")
    assert backward == {**{f"SN-{d}": d for d in range(1, 30)}, "M8-SUPPLIER": 30}
    forward, trace = _codes(fastener, "forward")
    assert forward == {f"SN-{d}": 30 - d for d in range(30)}
    assert trace.explain(units[0].genealogy_node.pk).startswith(
        "lot M8-SUPPLIER (PART) → serial SN-29 (PART) → serial SN-28"
    )
    assert SerialUnit.objects.get(serial="SN-5").status == "consumed"


def test_a_lot_split_and_merged(item):
    source = _lot(item, "S", quantity=10)
    part_a, part_b, merged, other = (_lot(item, code) for code in ("A", "B", "M", "X"))
    _into(part_a, source, quantity=4)
    _into(part_b, source, quantity=6)
    _into(merged, part_a, part_b, other)
    assert _codes(source, "forward")[0] == {"A": 1, "B": 1, "M": 2}
    assert _codes(merged, "backward")[0] == {"A": 1, "B": 1, "X": 1, "S": 2}
    assert _codes(other, "forward")[0] == {"M": 1}
    source.refresh_from_db()
    assert (source.quantity, source.status) == (Decimal(0), "consumed")


def test_a_loop_in_the_data_cannot_hang_the_trace(item):
    a, b = _lot(item, "A"), _lot(item, "B")
    _into(a, b)
    node_a, node_b = a.genealogy_node, b.genealogy_node
    GenealogyLink.objects.create(  # bypassing the service, which refuses loops
        parent=node_b, child=node_a, quantity=1, linked_at=GenealogyLink.objects.get().linked_at
    )
    assert trace_reachable_node_ids(node_id=node_a.pk, direction="backward") == {
        node_a.pk,
        node_b.pk,
    }


def test_bad_consumptions_book_nothing(item):
    lot = _lot(item, "L", quantity=2)
    unit, other_unit, target = _serial(item, "SN-1"), _serial(item, "SN-2"), _serial(item, "SN-T")
    _into(target, unit)
    before = GenealogyLink.objects.count()
    with pytest.raises(ValidationFailed) as twice:
        _into(other_unit, unit)
    assert twice.value.code == "serial_consumed"
    with pytest.raises(ValidationFailed) as too_much:
        _into(target, other_unit, lot, quantity=3)  # serial fine, lot short: all refused
    assert too_much.value.detail["available"] == "2.000"
    with pytest.raises(ValidationFailed, match="consumed whole"):
        material_consume(
            parent_serial_unit_id=target.pk,
            consumed=[Consumed(serial_unit_id=other_unit.pk, quantity=Decimal(2))],
        )
    with pytest.raises(ValidationFailed, match="loop"):
        _into(unit, target)
    with pytest.raises(ValidationFailed, match="named twice"):
        material_consume(
            parent_serial_unit_id=target.pk,
            consumed=[Consumed(lot_id=lot.pk), Consumed(lot_id=lot.pk)],
        )
    Lot.objects.filter(pk=lot.pk).update(status="on_hold")
    with pytest.raises(InvalidTransition):
        _into(target, lot)
    assert GenealogyLink.objects.count() == before
    other_unit.refresh_from_db()
    lot.refresh_from_db()
    assert other_unit.status == "in_process"
    assert lot.quantity == Decimal(2)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    edges=st.lists(
        st.tuples(st.integers(0, 11), st.integers(0, 11)).filter(lambda e: e[0] != e[1]),
        max_size=30,
    )
)
def test_forward_reaches_y_exactly_when_backward_from_y_reaches_x(item, edges):
    """forward(x) ∋ y ⇔ backward(y) ∋ x, on random graphs (loops included)."""
    with transaction.atomic():
        lots = [_lot(item, f"H-{i}") for i in range(12)]
        nodes = [GenealogyNode.objects.create(lot=lot) for lot in lots]
        GenealogyLink.objects.bulk_create(
            GenealogyLink(
                parent=nodes[p], child=nodes[c], quantity=1, linked_at="2026-01-01T00:00Z"
            )
            for p, c in set(edges)
        )
        ids = [node.pk for node in nodes]
        forward = {x: trace_reachable_node_ids(node_id=x, direction="forward") for x in ids}
        backward = {y: trace_reachable_node_ids(node_id=y, direction="backward") for y in ids}
        for x in ids:
            for y in ids:
                assert (y in forward[x]) == (x in backward[y])
        transaction.set_rollback(True)
