"""Each Nelson and Western Electric rule on a hand-made sequence (centre 0, sigma 1, so a value
is its own z), bad input, and the properties: each rule fires exactly where its constructed
pattern is, and the incremental evaluator reports exactly what the batch evaluator does."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quality.spc import (
    NELSON_RULES,
    NonFiniteValueError,
    RuleEvaluator,
    RunRule,
    SpcError,
    Violation,
    ZeroSpreadError,
    Zone,
    rules_evaluate,
)


def found(values, rule, sigma=1.0):
    return [
        (v.index, v.points, v.zone)
        for v in rules_evaluate(values, center=0.0, sigma=sigma, rules=[rule])
    ]


def test_nelson_1_and_we_1_one_point_beyond_three_sigma():
    values = [0.0, 3.5, 3.0, -3.2]
    expected = [(1, (1,), Zone.BEYOND_UPPER), (3, (3,), Zone.BEYOND_LOWER)]
    assert found(values, RunRule.NELSON_1) == expected
    assert found(values, RunRule.WE_1) == expected


def test_nelson_2_nine_on_one_side_fires_at_the_ninth_and_after():
    values = [-0.5] + [0.5] * 10
    assert found(values, RunRule.NELSON_2) == [
        (9, tuple(range(1, 10)), Zone.C_UPPER),
        (10, tuple(range(2, 11)), Zone.C_UPPER),
    ]
    assert found([-0.5] + [0.5] * 8, RunRule.NELSON_2) == []
    assert found([0.5] * 4 + [0.0] + [0.5] * 8, RunRule.NELSON_2) == []  # the centre breaks it


def test_we_4_eight_on_one_side():
    assert found([-1.5] * 8, RunRule.WE_4) == [(7, tuple(range(8)), Zone.B_LOWER)]
    assert found([-1.5] * 7, RunRule.WE_4) == []


def test_nelson_3_six_steadily_increasing_or_decreasing():
    rising = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert found(rising, RunRule.NELSON_3) == [(5, tuple(range(6)), Zone.C_UPPER)]
    assert found(rising[:5], RunRule.NELSON_3) == []
    assert found([0.0, -0.5, -1.0, -1.5, -2.0, -2.5], RunRule.NELSON_3) == [
        (5, tuple(range(6)), Zone.A_LOWER)
    ]
    assert found([0.0, 0.1, 0.2, 0.2, 0.3, 0.4, 0.5], RunRule.NELSON_3) == []  # a tie


def test_nelson_4_fourteen_alternating():
    assert found([0.1, -0.1] * 7, RunRule.NELSON_4) == [(13, tuple(range(14)), Zone.C_LOWER)]
    assert found([0.1, -0.1] * 6 + [0.1], RunRule.NELSON_4) == []


def test_nelson_5_and_we_2_two_of_three_beyond_two_sigma_same_side():
    assert found([2.5, 0.0, 2.5], RunRule.NELSON_5) == [(2, (0, 2), Zone.A_UPPER)]
    assert found([2.5, 0.0, 2.5], RunRule.WE_2) == [(2, (0, 2), Zone.A_UPPER)]
    assert found([2.5, -2.5, 0.0], RunRule.NELSON_5) == []  # opposite sides
    assert found([2.5, 0.0, 0.0, 2.5], RunRule.NELSON_5) == []  # 1 of 3
    assert found([-2.1, -3.5], RunRule.NELSON_5) == [(1, (0, 1), Zone.BEYOND_LOWER)]


def test_nelson_6_and_we_3_four_of_five_beyond_one_sigma_same_side():
    values = [1.5, 1.5, 0.0, 1.5, 1.5]
    assert found(values, RunRule.NELSON_6) == [(4, (0, 1, 3, 4), Zone.B_UPPER)]
    assert found(values, RunRule.WE_3) == [(4, (0, 1, 3, 4), Zone.B_UPPER)]
    assert found([1.5, 1.5, 0.0, 0.0, 1.5, 1.5], RunRule.NELSON_6) == []


def test_nelson_7_fifteen_within_one_sigma():
    values = [0.5, -0.5] * 7 + [1.0]
    assert found(values, RunRule.NELSON_7) == [(14, tuple(range(15)), Zone.C_UPPER)]
    assert found([*values[:14], 1.2], RunRule.NELSON_7) == []


def test_nelson_8_eight_beyond_one_sigma_either_side():
    assert found([1.5, -1.5] * 4, RunRule.NELSON_8) == [(7, tuple(range(8)), Zone.B_LOWER)]
    assert found([1.5, -1.5] * 3 + [0.5, 1.5], RunRule.NELSON_8) == []


def test_zones_use_the_sigma_of_each_point():
    # the same value is in zone A with a small sigma and in zone C with a large one
    assert found([2.5, 2.5], RunRule.NELSON_5, sigma=[1.0, 1.0]) == [(1, (0, 1), Zone.A_UPPER)]
    assert found([2.5, 2.5], RunRule.NELSON_5, sigma=[1.0, 3.0]) == []


def test_only_the_selected_rules_fire():
    violations = rules_evaluate([4.0] * 9, center=0.0, sigma=1.0, rules=["we_1", "we_4"])
    assert {violation.rule for violation in violations} == {RunRule.WE_1, RunRule.WE_4}
    assert violations[0] == Violation(RunRule.WE_1, 0, (0,), Zone.BEYOND_UPPER)


def test_bad_input():
    with pytest.raises(SpcError) as raised:
        rules_evaluate([0.0], center=0.0, sigma=1.0, rules=["nelson_9"])
    assert raised.value.field == "rules"
    with pytest.raises(NonFiniteValueError):
        rules_evaluate([0.0, float("nan")], center=0.0, sigma=1.0)
    with pytest.raises(ZeroSpreadError):
        rules_evaluate([0.0], center=0.0, sigma=0.0)
    with pytest.raises(NonFiniteValueError):
        RuleEvaluator(center=0.0).feed(float("nan"), sigma=1.0)


# --- properties -------------------------------------------------------------------------------

RUN_RULES = {  # rule: (the value of a pattern point, the pattern length)
    RunRule.NELSON_2: (0.5, 9),
    RunRule.WE_4: (-0.5, 8),
    RunRule.NELSON_7: (0.5, 15),
    RunRule.NELSON_8: (1.5, 8),
}


@settings(max_examples=80, deadline=None)
@given(
    rule=st.sampled_from(sorted(RUN_RULES)),
    lead=st.integers(0, 10),
    run=st.integers(0, 25),
)
def test_each_run_rule_fires_exactly_on_its_run(rule, lead, run):
    value, length = RUN_RULES[rule]
    breaker = 2.5 if rule == RunRule.NELSON_7 else 0.0  # a point that is not in the run
    values = [breaker] * lead + [value] * run + [breaker]
    expected = [lead + position for position in range(length - 1, run)]
    assert [
        violation.index for violation in rules_evaluate(values, center=0.0, sigma=1.0, rules=[rule])
    ] == expected


@settings(max_examples=60, deadline=None)
@given(lead=st.integers(1, 5), steps=st.integers(0, 12), rising=st.booleans())
def test_the_trend_rule_fires_exactly_on_a_trend(lead, steps, rising):
    direction = 1.0 if rising else -1.0
    # the last flat point starts the trend: `steps` steps in a row, then a tie ends it
    values = [0.0] * lead + [direction * 0.1 * position for position in range(1, steps + 1)]
    values.append(values[-1])
    expected = [lead - 1 + step for step in range(5, steps + 1)]
    assert [
        v.index for v in rules_evaluate(values, center=0.0, sigma=1.0, rules=["nelson_3"])
    ] == expected


@settings(max_examples=60, deadline=None)
@given(
    k_of_m=st.sampled_from([(RunRule.NELSON_5, 2.5, 3), (RunRule.NELSON_6, 1.5, 5)]),
    gap=st.integers(0, 6),
    side=st.sampled_from([1.0, -1.0]),
)
def test_k_of_m_rules_fire_exactly_when_the_points_are_close_enough(k_of_m, gap, side):
    rule, value, width = k_of_m
    needed = 2 if rule == RunRule.NELSON_5 else 4
    # needed − 1 points out, a gap of points in zone C, then one more point out
    values = [side * value] * (needed - 1) + [0.0] * gap + [side * value]
    violations = rules_evaluate(values, center=0.0, sigma=1.0, rules=[rule])
    fires = (needed - 1) + gap + 1 <= width or gap == 0
    assert [violation.index for violation in violations if violation.index == len(values) - 1] == (
        [len(values) - 1] if fires else []
    )


series = st.lists(
    st.sampled_from([-3.5, -2.5, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.5, 3.5])
    | st.floats(-4, 4, allow_nan=False),
    max_size=120,
)


@settings(max_examples=150, deadline=None)
@given(values=series, sigmas=st.lists(st.sampled_from([0.5, 1.0, 2.0]), min_size=120, max_size=120))
def test_incremental_equals_batch(values, sigmas):
    sigma = sigmas[: len(values)]
    batch = rules_evaluate(values, center=0.0, sigma=sigma if values else 1.0, rules=list(RunRule))
    evaluator = RuleEvaluator(center=0.0, rules=list(RunRule))
    incremental = [
        v for value, s in zip(values, sigma, strict=True) for v in evaluator.feed(value, sigma=s)
    ]
    assert incremental == batch


@settings(max_examples=100, deadline=None)
@given(values=series, split=st.integers(0, 120))
def test_resuming_from_the_recent_points_changes_nothing(values, split):
    split = min(split, len(values))
    batch = rules_evaluate(values, center=0.0, sigma=1.0, rules=NELSON_RULES)
    recent = values[max(split - 15, 0) : split]
    evaluator = RuleEvaluator.resume(
        center=0.0,
        rules=NELSON_RULES,
        recent_values=recent,
        recent_sigmas=[1.0] * len(recent),
        next_index=split,
    )
    tail = [v for value in values[split:] for v in evaluator.feed(value, sigma=1.0)]
    assert tail == [violation for violation in batch if violation.index >= split]
