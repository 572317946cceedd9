"""Tests of multi-line order dispatch (pure: no database, no Django)."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from planning.algorithms.dispatch import batch as batch_module
from planning.algorithms.dispatch.batch import dispatch_batch
from planning.algorithms.dispatch.model import (
    CostWeights,
    DispatchConfig,
    DispatchInputError,
    DispatchRule,
    Line,
    NoCapableLineError,
    NonPositiveQuantityError,
    Order,
    OrderTooLargeError,
    PartRate,
    UnknownPartTypeError,
)
from planning.algorithms.dispatch.online import dispatch_order, order_costs
from planning.algorithms.dispatch.stream import random_order_stream, simulate_order_stream

# The published two-line study: time per part (s) and power (W).
STUDY_LINES = (
    Line("line1", {"A": PartRate(218, 843), "B": PartRate(156, 569), "C": PartRate(128, 572)}),
    Line("line2", {"A": PartRate(156, 562), "B": PartRate(154, 558), "C": PartRate(127, 571)}),
)
TIME_ONLY = CostWeights(time_weight=1.0, energy_weight=0.0)
# The demo's money rates for the study's lines: line 1 is cheaper by the hour (0.50/h against
# 0.65/h), line 2 draws less power; energy 0.40 per kWh. Both terms are cents per part.
MONEY_LINES = tuple(
    Line(line.id, line.part_rates, 40, machine_hour_rate=rate, energy_price_per_kwh=0.40)
    for line, rate in zip(STUDY_LINES, (0.50, 0.65), strict=True)
)


def simple_line(line_id: str, time_s: float, capacity_units: int = 40) -> Line:
    return Line(line_id, {"A": PartRate(time_s, 0.0)}, capacity_units)


# ------------------------------------------------------------------ costs and units


def test_energy_per_part_is_power_times_time_in_kwh() -> None:
    assert PartRate(218, 843).energy_kwh == pytest.approx(843 * 218 / 3.6e6)
    assert PartRate(3600, 1000).energy_kwh == 1.0


def test_order_cost_adds_weighted_time_and_energy_terms() -> None:
    # 2 A + 3 B on line 1: time 2·218 + 3·156 = 904 s;
    # energy (2·843·218 + 3·569·156) / 3.6e6 = 0.176072 kWh; price 0.25, α = 2, β = 3.
    weights = CostWeights(time_weight=2.0, energy_weight=3.0, energy_price_per_kwh=0.25)

    costs = order_costs(Order("O1", {"A": 2, "B": 3}), STUDY_LINES, {"line1": 5}, weights)

    line1 = costs[0]
    assert line1.processing_time_s == 904.0
    assert line1.energy_kwh == pytest.approx((2 * 843 * 218 + 3 * 569 * 156) / 3.6e6)
    assert line1.time_cost == 1808.0
    assert line1.energy_cost == pytest.approx(3 * 0.25 * line1.energy_kwh)
    assert line1.cost == pytest.approx(1808.0 + line1.energy_cost)
    assert (line1.load_units, line1.capacity_units, line1.has_capacity) == (5, 40, True)


def test_order_cost_in_money_is_rate_times_time_plus_price_times_kwh() -> None:
    # 2 A + 3 B on line 1: 904 s at 0.50/h = 0.125556; 0.176072 kWh at 0.40 = 0.070429.
    weights = CostWeights(time_weight=2.0, energy_weight=3.0, energy_price_per_kwh=99.0)

    line1, line2 = order_costs(Order("O1", {"A": 2, "B": 3}), MONEY_LINES, {}, weights)

    assert line1.time_cost == pytest.approx(2.0 * 904 * 0.50 / 3600)
    assert line1.energy_cost == pytest.approx(3.0 * 0.40 * line1.energy_kwh)
    # The line's own price wins over the weights' default; both terms are the same magnitude.
    assert 0.1 < line1.energy_cost / line1.time_cost < 10
    assert line2.time_cost == pytest.approx(2.0 * (2 * 156 + 3 * 154) * 0.65 / 3600)


def test_alpha_and_beta_decide_between_a_dear_hour_and_a_dear_kwh() -> None:
    # 2 A + 4 B: line 1 time 0.1472 + energy 0.0803, line 2 time 0.1676 + energy 0.0577
    # (line 1 cheaper by the hour, line 2 by the kWh).
    order = Order("O1", {"A": 2, "B": 4})

    def line_for(alpha: float, beta: float) -> str | None:
        weights = CostWeights(time_weight=alpha, energy_weight=beta)
        decision = dispatch_order(
            order, MONEY_LINES, {}, weights=weights, config=DispatchConfig(1.0)
        )
        return decision.line_id

    assert line_for(2.0, 1.0) == "line1"  # 0.3747 against 0.3928
    assert line_for(1.0, 2.0) == "line2"  # 0.3078 against 0.2829
    line1, line2 = order_costs(order, MONEY_LINES, {}, CostWeights())
    assert line1.time_cost == pytest.approx((2 * 218 + 4 * 156) * 0.50 / 3600)
    assert line2.energy_cost == pytest.approx(0.40 * (2 * 562 * 156 + 4 * 558 * 154) / 3.6e6)


def test_negative_line_rates_are_refused() -> None:
    line = Line("L", {"A": PartRate(10, 0)}, machine_hour_rate=-1.0)

    with pytest.raises(DispatchInputError, match="machine_hour_rate must be ≥ 0"):
        dispatch_order(Order("O", {"A": 1}), (line,), {})


# ------------------------------------------------------------------ the online rule


def test_ratio_above_h_sends_the_order_to_the_cheapest_line() -> None:
    # 10 A: line 1 2180 s, line 2 1560 s: ratio 1.397 > 1.3 → line 2 although it is busier.
    decision = dispatch_order(
        Order("O1", {"A": 10}), STUDY_LINES, {"line1": 0, "line2": 20}, weights=TIME_ONLY
    )

    assert decision.line_id == "line2"
    assert decision.rule == DispatchRule.CHEAPEST_LINE
    assert decision.cost_ratio == pytest.approx(2180 / 1560)
    assert [item.cost for item in decision.line_costs] == [2180.0, 1560.0]
    assert "cost ratio 1.397 > h 1.3" in decision.message


def test_ratio_within_h_sends_the_order_to_the_least_loaded_line() -> None:
    # 10 B: 1560 s vs 1540 s, ratio 1.013 ≤ 1.3 → the less loaded line 1.
    decision = dispatch_order(
        Order("O1", {"B": 10}), STUDY_LINES, {"line1": 10, "line2": 15}, weights=TIME_ONLY
    )

    assert decision.line_id == "line1"
    assert decision.rule == DispatchRule.LOWEST_LOAD
    assert decision.cost_ratio == pytest.approx(1560 / 1540)


def test_ratio_exactly_h_uses_the_load_rule() -> None:
    lines = (simple_line("L1", 130.0), simple_line("L2", 100.0))

    decision = dispatch_order(Order("O", {"A": 1}), lines, {"L1": 0, "L2": 3})

    assert decision.cost_ratio == pytest.approx(1.3)
    assert decision.rule == DispatchRule.LOWEST_LOAD
    assert decision.line_id == "L1"


def test_h_of_one_always_picks_the_cheaper_line_when_costs_differ() -> None:
    decision = dispatch_order(
        Order("O1", {"C": 1}),
        STUDY_LINES,
        {"line1": 0, "line2": 30},
        config=DispatchConfig(cost_ratio_threshold=1.0),
    )

    assert decision.line_id == "line2"
    assert decision.rule == DispatchRule.CHEAPEST_LINE


def test_line_without_room_is_skipped_and_exact_fill_is_allowed() -> None:
    # line 2 is cheaper for A but 31 + 10 > 40; line 1 has exactly 30 + 10 = 40.
    decision = dispatch_order(Order("O1", {"A": 10}), STUDY_LINES, {"line1": 30, "line2": 31})

    assert decision.line_id == "line1"
    assert decision.rule == DispatchRule.ONLY_LINE_WITH_CAPACITY
    assert [item.has_capacity for item in decision.line_costs] == [True, False]


def test_no_room_anywhere_gives_a_backlog_decision() -> None:
    decision = dispatch_order(Order("O1", {"A": 10}), STUDY_LINES, {"line1": 31, "line2": 35})

    assert decision.is_backlogged
    assert decision.line_id is None
    assert decision.rule == DispatchRule.BACKLOG
    assert "loads line1 31/40, line2 35/40" in decision.message


def test_ties_equal_cost_lower_load_then_first_listed() -> None:
    lines = (simple_line("L1", 100.0), simple_line("L2", 100.0), simple_line("L3", 100.0))

    assert dispatch_order(Order("O", {"A": 1}), lines, {"L1": 4, "L2": 2, "L3": 2}).line_id == "L2"
    assert dispatch_order(Order("O", {"A": 1}), lines, {}).line_id == "L1"


def test_ties_cheapest_rule_equal_cost_takes_the_lower_load() -> None:
    lines = (simple_line("L1", 200.0), simple_line("L2", 100.0), simple_line("L3", 100.0))

    decision = dispatch_order(Order("O", {"A": 1}), lines, {"L1": 0, "L2": 9, "L3": 3})

    assert (decision.rule, decision.line_id) == (DispatchRule.CHEAPEST_LINE, "L3")


def test_ties_equal_load_takes_the_lower_cost() -> None:
    lines = (simple_line("L1", 120.0), simple_line("L2", 100.0))

    decision = dispatch_order(Order("O", {"A": 1}), lines, {"L1": 5, "L2": 5})

    assert (decision.rule, decision.line_id) == (DispatchRule.LOWEST_LOAD, "L2")


def test_three_lines_and_a_line_lacking_a_part_type() -> None:
    lines = (
        Line("L1", {"A": PartRate(100, 0), "B": PartRate(100, 0)}),
        Line("L2", {"A": PartRate(50, 0)}),
        Line("L3", {"A": PartRate(100, 0), "B": PartRate(90, 0)}),
    )

    decision = dispatch_order(Order("O", {"A": 1, "B": 1}), lines, {"L1": 0, "L3": 7})

    assert decision.line_id == "L1"
    l2 = decision.line_costs[1]
    assert (l2.can_make_order, l2.cost, l2.has_capacity) == (False, None, False)


@pytest.mark.parametrize(
    ("order", "error", "message"),
    [
        (Order("O", {"A": 0}), NonPositiveQuantityError, "quantity of A must be > 0"),
        (Order("O", {"A": -2}), NonPositiveQuantityError, "must be > 0"),
        (Order("O", {"A": 1.5}), NonPositiveQuantityError, "whole number"),  # type: ignore[dict-item]
        (Order("O", {}), NonPositiveQuantityError, "no parts ordered"),
        (Order("O", {"Z": 1}), UnknownPartTypeError, "no line makes part type"),
        (Order("O", {"A": 41}), OrderTooLargeError, "41 units exceed the largest line capacity"),
    ],
)
def test_bad_orders_raise_specific_value_errors(
    order: Order, error: type[DispatchInputError], message: str
) -> None:
    with pytest.raises(error, match=message):
        dispatch_order(order, STUDY_LINES, {})
    assert issubclass(error, ValueError)


def test_order_needing_two_lines_raises_no_capable_line() -> None:
    lines = (Line("L1", {"A": PartRate(1, 0)}), Line("L2", {"B": PartRate(1, 0)}))

    with pytest.raises(NoCapableLineError, match="no single line makes all of A, B"):
        dispatch_order(Order("O", {"A": 1, "B": 1}), lines, {})


@pytest.mark.parametrize(
    ("lines", "loads", "message"),
    [
        ((), {}, "at least one line"),
        ((simple_line("L1", 1), simple_line("L1", 1)), {}, "duplicate line id"),
        ((simple_line("L1", 0),), {}, "time_s must be > 0"),
        ((simple_line("L1", 1, capacity_units=0),), {}, "capacity_units"),
        ((simple_line("L1", 1),), {"L9": 1}, "unknown line"),
        ((simple_line("L1", 1),), {"L1": -1}, "non-negative"),
    ],
)
def test_bad_lines_or_loads_are_refused(
    lines: tuple[Line, ...], loads: dict[str, int], message: str
) -> None:
    with pytest.raises(DispatchInputError, match=message):
        dispatch_order(Order("O", {"A": 1}), lines, loads)


# ------------------------------------------------------------------ batch mode


def brute_force(
    orders: list[Order], lines: tuple[Line, ...], loads: dict[str, int], weights: CostWeights
) -> float:
    """Minimum of cost + backlog penalty over every assignment (None = backlog)."""
    config = DispatchConfig()
    costs = [order_costs(order, lines, {}, weights) for order in orders]
    best = float("inf")
    for choice in itertools.product([None, *range(len(lines))], repeat=len(orders)):
        used = dict.fromkeys((line.id for line in lines), 0)
        total = 0.0
        feasible = True
        for order, order_cost, line_number in zip(orders, costs, choice, strict=True):
            finite = [item.cost for item in order_cost if item.cost is not None]
            if line_number is None:
                total += config.backlog_penalty_factor * max(finite)
                continue
            item = order_cost[line_number]
            if item.cost is None:
                feasible = False
                break
            used[lines[line_number].id] += order.quantity_units
            total += item.cost
        for line in lines:
            if loads.get(line.id, 0) + used[line.id] > line.capacity_units:
                feasible = False
        if feasible:
            best = min(best, total)
    return best


@st.composite
def tiny_batch(draw: st.DrawFn) -> tuple[list[Order], tuple[Line, ...], dict[str, int]]:
    line_count = draw(st.integers(2, 3))
    lines = tuple(
        Line(
            f"L{index}",
            {
                part: PartRate(draw(st.integers(10, 300)), draw(st.integers(0, 900)))
                for part in ("A", "B")
            },
            capacity_units=draw(st.integers(5, 20)),
        )
        for index in range(line_count)
    )
    largest = max(line.capacity_units for line in lines)
    orders = []
    for number in range(draw(st.integers(1, 5))):
        quantities = {
            part: draw(st.integers(1, 6))
            for part in draw(st.sets(st.sampled_from("AB"), min_size=1))
        }
        if sum(quantities.values()) > largest:
            continue
        orders.append(Order(f"O{number}", quantities))
    assume(orders)  # every drawn order may be too large for any line; the empty batch has its test
    loads = {line.id: draw(st.integers(0, line.capacity_units)) for line in lines}
    return orders, lines, loads


def test_an_empty_batch_assigns_nothing_and_is_optimal() -> None:
    lines = (Line("L0", {"A": PartRate(10, 0)}, capacity_units=5),)

    result = dispatch_batch([], lines, {"L0": 0}, weights=CostWeights())

    assert (result.assignments, result.objective, result.method, result.is_optimal) == (
        (),
        0.0,
        "milp",
        True,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiny_batch())
def test_property_ilp_matches_brute_force_and_respects_capacity(
    batch: tuple[list[Order], tuple[Line, ...], dict[str, int]],
) -> None:
    orders, lines, loads = batch
    weights = CostWeights(time_weight=1.0, energy_weight=1.0, energy_price_per_kwh=0.25)

    optimum = brute_force(orders, lines, loads, weights)

    exact = dispatch_batch(orders, lines, loads, weights=weights, time_limit_s=None, exact=True)
    default = dispatch_batch(orders, lines, loads, weights=weights, time_limit_s=None)

    assert (exact.method, exact.is_optimal) == ("milp", True)
    assert exact.objective == pytest.approx(optimum, rel=1e-6)
    assert default.method in {"lp_then_milp", "lp_then_whole_milp"}
    assert default.mip_gap is not None
    # The LP-based answer is feasible, never better than the optimum, and its reported gap
    # (to the LP bound) covers its real distance to the optimum.
    assert default.objective >= optimum - 1e-6
    if default.objective > 0:
        assert (default.objective - optimum) / default.objective <= default.mip_gap + 1e-9
    by_id = {order.id: order for order in orders}
    for result in (exact, default):
        used = dict.fromkeys((line.id for line in lines), 0)
        for assignment in result.assignments:
            if assignment.line_id is not None:
                used[assignment.line_id] += by_id[assignment.order_id].quantity_units
        for line in lines:
            assert loads[line.id] + used[line.id] <= line.capacity_units
        assert [item.order_id for item in result.assignments] == [order.id for order in orders]


def test_batch_prefers_assigning_over_backlog_and_minimises_cost() -> None:
    # Capacity 10 each. Three orders of 5 A: all fit (two on the cheap line, one on the other).
    lines = (simple_line("L1", 100.0, 10), simple_line("L2", 50.0, 10))
    orders = [Order(f"O{i}", {"A": 5}) for i in range(3)]

    result = dispatch_batch(orders, lines, {}, weights=TIME_ONLY)

    assert sorted(item.line_id or "" for item in result.assignments) == ["L1", "L2", "L2"]
    assert result.total_cost == 250.0 + 250.0 + 500.0
    assert result.backlogged_order_ids == ()
    assert result.mip_gap == pytest.approx(0.0, abs=1e-6)


def test_batch_backlogs_what_cannot_fit() -> None:
    lines = (simple_line("L1", 100.0, 10),)
    orders = [Order("small", {"A": 4}), Order("big", {"A": 8})]

    result = dispatch_batch(orders, lines, {}, weights=TIME_ONLY)

    # Penalty 10 × cost: backlogging "small" costs 4000, backlogging "big" 8000.
    assert [(item.order_id, item.line_id) for item in result.assignments] == [
        ("small", None),
        ("big", "L1"),
    ]
    assert result.backlogged_order_ids == ("small",)
    assert result.objective == 800.0 + 4000.0


def test_batch_falls_back_to_the_online_rule_without_a_solver_solution(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        batch_module,
        "milp",
        lambda *args, **kwargs: SimpleNamespace(x=None, status=1, message="time limit reached"),
    )
    orders = [Order("O1", {"A": 10}), Order("O2", {"B": 10}), Order("O3", {"A": 30})]

    result = dispatch_batch(orders, STUDY_LINES, {}, weights=TIME_ONLY)

    assert result.method == "greedy_fallback"
    assert result.mip_gap is None
    assert not result.is_optimal
    # O1: ratio 1.397 → line2 (10). O2: ratio 1.013 → lowest load line1 (10).
    # O3 (30 A): line1 10+30 = 40 fits, line2 10+30 = 40 fits; ratio 1.397 → line2.
    assert [item.line_id for item in result.assignments] == ["line2", "line1", "line2"]
    assert "time limit reached" in result.solver_message


def test_batch_refuses_duplicate_orders() -> None:
    with pytest.raises(DispatchInputError, match="duplicate order id"):
        dispatch_batch([Order("O", {"A": 1}), Order("O", {"A": 2})], STUDY_LINES, {})


# ------------------------------------------------------------------ stream simulation


def test_stream_frees_capacity_as_orders_complete() -> None:
    # One line, capacity 10, 100 s per part. O1 (10 units) fills it until t = 1000; O2 arrives
    # at t = 10 and waits in the backlog; at 1000 it is dispatched and finishes at 1500.
    lines = (simple_line("L1", 100.0, 10),)
    arrivals = [(0.0, Order("O1", {"A": 10})), (10.0, Order("O2", {"A": 5}))]

    result = simulate_order_stream(arrivals, lines)

    assert result.dispatched_at_s == {"O1": 0.0, "O2": 1000.0}
    assert result.completed_at_s == {"O1": 1000.0, "O2": 1500.0}
    assert result.backlog_waits == 1
    assert result.max_backlog_wait_s == 990.0
    assert result.end_s == 1500.0
    summary = result.lines[0]
    assert (summary.order_count, summary.units, summary.busy_time_s, summary.max_load_units) == (
        2,
        15,
        1500.0,
        10,
    )


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([1.0, 1.3, 2.0]), st.integers(200, 2000))
def test_property_stream_never_exceeds_capacity_and_dispatches_everything(
    seed: int, threshold: float, mean_interarrival_s: int
) -> None:
    arrivals = random_order_stream(
        seed=seed,
        order_count=40,
        part_types=("A", "B", "C"),
        mean_interarrival_s=mean_interarrival_s,
    )

    result = simulate_order_stream(
        arrivals, STUDY_LINES, config=DispatchConfig(cost_ratio_threshold=threshold)
    )

    assert all(summary.max_load_units <= 40 for summary in result.lines)
    assert set(result.completed_at_s) == {order.id for _, order in arrivals}
    assert sum(summary.units for summary in result.lines) == sum(
        o.quantity_units for _, o in arrivals
    )
    for decision in result.decisions:
        chosen = next(item for item in decision.line_costs if item.line_id == decision.line_id)
        assert (
            chosen.load_units
            + next(o.quantity_units for _, o in arrivals if o.id == decision.order_id)
            <= chosen.capacity_units
        )
        if decision.rule == DispatchRule.CHEAPEST_LINE:
            assert decision.cost_ratio is not None and decision.cost_ratio > threshold
        if decision.rule == DispatchRule.LOWEST_LOAD:
            assert decision.cost_ratio is not None and decision.cost_ratio <= threshold


def test_random_order_stream_is_reproducible() -> None:
    first = random_order_stream(
        seed=5, order_count=20, part_types=("A", "B"), mean_interarrival_s=60
    )
    second = random_order_stream(
        seed=5, order_count=20, part_types=("A", "B"), mean_interarrival_s=60
    )

    assert [(t, dict(o.quantities)) for t, o in first] == [
        (t, dict(o.quantities)) for t, o in second
    ]
    assert all(order.quantity_units >= 1 for _, order in first)
    assert [t for t, _ in first] == sorted(t for t, _ in first)


def test_two_line_study_balanced_with_h_1_3_shifted_with_h_1_0() -> None:
    """The published two-line study (capacity 40 per line, times and powers above), with the
    demo's money rates (MONEY_LINES).

    300 mixed orders (seed 0, 0–6 parts of each of A, B, C, mean inter-arrival 1000 s, about
    70 % of the two lines' joint throughput). At h = 1.0 the allocation moves with (α, β):
    weighing energy sends more units to the frugal line 2, weighing time more to line 1
    (cheaper by the hour), a spread of at least 0.15 in line 2's share of the units. At
    h = 1.3 the threshold absorbs it: shares within [0.40, 0.60], spread at most 0.05.
    """
    arrivals = random_order_stream(
        seed=0, order_count=300, part_types=("A", "B", "C"), mean_interarrival_s=1000.0
    )
    shares: dict[tuple[float, float, float], float] = {}
    for threshold in (1.0, 1.3):
        for alpha, beta in ((1.0, 1.0), (1.0, 2.0), (2.0, 1.0)):
            result = simulate_order_stream(
                arrivals,
                MONEY_LINES,
                weights=CostWeights(time_weight=alpha, energy_weight=beta),
                config=DispatchConfig(cost_ratio_threshold=threshold),
            )
            shares[(threshold, alpha, beta)] = result.unit_share("line2")
            assert all(summary.max_load_units <= 40 for summary in result.lines)

    balanced = [share for (threshold, _, _), share in shares.items() if threshold == 1.3]
    assert all(0.40 <= share <= 0.60 for share in balanced)
    assert max(balanced) - min(balanced) <= 0.05
    assert shares[(1.0, 1.0, 2.0)] > shares[(1.0, 1.0, 1.0)] > shares[(1.0, 2.0, 1.0)]
    assert shares[(1.0, 1.0, 2.0)] - shares[(1.0, 2.0, 1.0)] >= 0.15


def test_without_money_rates_alpha_and_beta_never_matter() -> None:
    """The seed's units (seconds against euros): the energy term is ~1e-5 of the time term,
    so every (α, β) gives the same allocation — the reason lines carry money rates."""
    arrivals = random_order_stream(
        seed=0, order_count=300, part_types=("A", "B", "C"), mean_interarrival_s=1000.0
    )
    shares = {
        simulate_order_stream(
            arrivals,
            STUDY_LINES,
            weights=CostWeights(time_weight=alpha, energy_weight=beta),
            config=DispatchConfig(cost_ratio_threshold=1.0),
        ).unit_share("line2")
        for alpha, beta in ((1.0, 1.0), (1.0, 2.0), (2.0, 1.0))
    }

    assert len(shares) == 1
