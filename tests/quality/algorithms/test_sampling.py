"""ISO 2859-1:1999 Table 1 and Table 2-A (single sampling, normal inspection), checked against
cells of the published tables (the same values as ANSI/ASQ Z1.4 Tables I and II-A)."""

import pytest

from quality.algorithms.sampling import (
    AQL_VALUES,
    SAMPLE_SIZES,
    code_letter,
    every_nth_is_due,
    single_sampling_plan,
    table_2a,
)


@pytest.mark.parametrize(
    ("lot_size", "level", "letter"),
    [
        (2, "II", "A"),
        (8, "III", "B"),
        (9, "II", "B"),
        (50, "II", "D"),
        (51, "II", "E"),
        (500, "II", "H"),
        (1000, "II", "J"),
        (1000, "I", "G"),
        (1000, "III", "K"),
        (1000, "S-4", "F"),
        (3200, "II", "K"),
        (3201, "II", "L"),
        (10000, "S-1", "C"),
        (150001, "I", "M"),
        (500001, "II", "Q"),
        (1_000_000, "III", "R"),
    ],
)
def test_table_1_code_letters(lot_size, level, letter):
    assert code_letter(lot_size, level) == letter


@pytest.mark.parametrize(
    ("letter", "aql", "cell"),
    [
        ("A", 6.5, (0, 1)),
        ("A", 10, "down"),
        ("A", 25, (1, 2)),
        ("A", 1000, (30, 31)),
        ("B", 1000, (44, 45)),
        ("C", 1000, "up"),
        ("E", 150, (30, 31)),
        ("F", 150, "up"),
        ("E", 250, (44, 45)),
        ("H", 2.5, (3, 4)),
        ("H", 4.0, (5, 6)),
        ("J", 0.15, (0, 1)),
        ("J", 0.25, "down"),
        ("J", 0.65, (1, 2)),
        ("J", 1.0, (2, 3)),
        ("J", 1.5, (3, 4)),
        ("J", 2.5, (5, 6)),
        ("J", 4.0, (7, 8)),
        ("J", 6.5, (10, 11)),
        ("J", 10, (14, 15)),
        ("K", 10, (21, 22)),
        ("L", 10, "up"),
        ("Q", 0.010, (0, 1)),
        ("R", 0.025, (1, 2)),
        ("R", 0.65, (21, 22)),
        ("R", 1.0, "up"),
    ],
)
def test_table_2a_cells(letter, aql, cell):
    assert table_2a(letter, aql) == cell


def test_lot_of_1000_level_ii_aql_2_5_is_n80_ac5_re6():
    plan = single_sampling_plan(lot_size=1000, inspection_level="II", aql=2.5)
    assert (plan.code_letter, plan.sample_size) == ("J", 80)
    assert (plan.acceptance_number, plan.rejection_number) == (5, 6)
    assert plan.accepts(5) and not plan.accepts(6)


def test_a_down_arrow_takes_the_next_plan_and_its_sample_size():
    # J (80) and K (125) at AQL 0.25 are ↓; L (200) at 0.25 gives Ac 1 Re 2.
    plan = single_sampling_plan(lot_size=1000, inspection_level="II", aql=0.25)
    assert (plan.code_letter, plan.plan_letter, plan.sample_size) == ("J", "L", 200)
    assert (plan.acceptance_number, plan.rejection_number) == (1, 2)


def test_an_up_arrow_takes_the_plan_above_and_its_sample_size():
    # L (200) at AQL 10 is ↑: K, n = 125, Ac 21 Re 22
    plan = single_sampling_plan(lot_size=3201, inspection_level="II", aql=10)
    assert (plan.code_letter, plan.plan_letter, plan.sample_size) == ("L", "K", 125)
    assert (plan.acceptance_number, plan.rejection_number) == (21, 22)


def test_a_sample_larger_than_the_lot_inspects_the_whole_lot():
    # 2–8 at level II is A (n = 2); at AQL 0.65 A to E are ↓, the first plan below is
    # F (n = 20) with Ac 0 Re 1 — more items than a lot of 5 holds.
    plan = single_sampling_plan(lot_size=5, inspection_level="II", aql=0.65)
    assert plan.sample_size == 5
    assert (plan.acceptance_number, plan.rejection_number) == (0, 1)


def test_every_plan_of_the_table_is_reachable_and_consistent():
    for lot_size in (2, 10, 20, 40, 80, 120, 200, 400, 1000, 2000, 5000, 20000, 100000, 10**6):
        for aql in AQL_VALUES:
            plan = single_sampling_plan(lot_size=lot_size, inspection_level="II", aql=aql)
            assert plan.rejection_number == plan.acceptance_number + 1
            assert plan.sample_size == min(SAMPLE_SIZES[plan.plan_letter], lot_size)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"lot_size": 1, "inspection_level": "II", "aql": 1.0}, "lot of 2"),
        ({"lot_size": 100, "inspection_level": "IV", "aql": 1.0}, "inspection level"),
        ({"lot_size": 100, "inspection_level": "II", "aql": 3.0}, "Table 2-A"),
    ],
)
def test_bad_input_is_a_value_error(arguments, message):
    with pytest.raises(ValueError, match=message):
        single_sampling_plan(**arguments)


def test_every_nth():
    assert [n for n in range(1, 11) if every_nth_is_due(sequence_number=n, every_n=4)] == [4, 8]
    with pytest.raises(ValueError):
        every_nth_is_due(sequence_number=1, every_n=0)
