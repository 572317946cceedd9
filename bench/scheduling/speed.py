"""Speed of the scheduler and of the dispatcher (seeded synthetic data).

1. The scheduler on 10,000 operations (1,000 jobs × 10 steps) and 50 machines: (a) 10
   capability groups of 5 machines (each operation has 5 eligible machines), (b) one group of
   50 (every machine eligible: the worst case of the candidate loop). Machines carry random
   health (θ, α, δ), a few are in anomaly and a few have a maintenance window.
2. One online dispatch decision (two-line study; ten lines).
3. 1,000 pending orders on 20 lines (capacity 400 units each, demand ≈ 7,200 units; then 320
   units each, which forces a backlog) assigned in batch: the default with a 1 s limit, the
   whole MILP with a 1 s limit, and the whole MILP without a limit (the optimum, within
   HiGHS's 0.01 % default gap; 120 s for the backlogged case, which HiGHS does not prove in
   minutes), plus the online rule applied order by order.

Run:  .venv/bin/python -m bench.scheduling.speed [--repeats N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from planning.algorithms.dispatch.batch import dispatch_batch
from planning.algorithms.dispatch.model import CostWeights, Line, Order, PartRate
from planning.algorithms.dispatch.online import dispatch_order, order_costs
from planning.algorithms.scheduler.model import Job, Machine, Operation
from planning.algorithms.scheduler.placement import schedule


def synthetic_shop(
    seed: int, group_count: int, machine_count: int = 50, job_count: int = 1000, steps: int = 10
) -> tuple[list[Machine], list[Job]]:
    rng = random.Random(seed)
    machines = []
    for index in range(machine_count):
        has_window = index % 10 == 3
        machines.append(
            Machine(
                f"M{index:02d}",
                frozenset({f"C{index % group_count}"}),
                bottleneck_weight=rng.uniform(0.5, 2.0),
                anomaly_score=rng.choice([0.0, 0.1, 0.3, 0.7, 0.9]),
                degradation_per_h=rng.uniform(0.0, 0.05),
                maintenance_window_start_s=20_000.0 if has_window else None,
                maintenance_window_end_s=24_000.0 if has_window else None,
                speed_factor=rng.uniform(0.8, 1.25),
            )
        )
    jobs = []
    for job_index in range(job_count):
        job_id = f"J{job_index:04d}"
        operations = tuple(
            Operation(
                f"{job_id}-{step}",
                job_id,
                step,
                f"C{rng.randrange(group_count)}",
                rng.uniform(60.0, 600.0),
                force_kn=rng.choice([2.0, 5.0, 8.0, 12.0]),
            )
            for step in range(steps)
        )
        jobs.append(Job(job_id, rng.uniform(3_600.0, 5 * 86_400.0), operations))
    return machines, jobs


def best_of(repeats: int, function: object) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()  # type: ignore[operator]
        timings.append(time.perf_counter() - started)
    return min(timings)


def best_cpu_of(repeats: int, function: object) -> float:
    """Best process CPU time: less disturbed than wall time when other jobs share the cores."""
    timings = []
    for _ in range(repeats):
        started = time.process_time()
        function()  # type: ignore[operator]
        timings.append(time.process_time() - started)
    return min(timings)


STUDY_LINES = (
    Line("line1", {"A": PartRate(218, 843), "B": PartRate(156, 569), "C": PartRate(128, 572)}),
    Line("line2", {"A": PartRate(156, 562), "B": PartRate(154, 558), "C": PartRate(127, 571)}),
)


def synthetic_lines(seed: int, line_count: int, part_count: int, capacity: int) -> list[Line]:
    rng = random.Random(seed)
    return [
        Line(
            f"L{index:02d}",
            {
                f"P{part}": PartRate(rng.uniform(100, 250), rng.uniform(400, 900))
                for part in range(part_count)
            },
            capacity,
        )
        for index in range(line_count)
    ]


def synthetic_orders(seed: int, count: int, part_count: int) -> list[Order]:
    rng = random.Random(seed)
    orders = []
    for number in range(count):
        types = rng.sample(range(part_count), rng.randint(1, 3))
        orders.append(Order(f"O{number:04d}", {f"P{part}": rng.randint(1, 6) for part in types}))
    return orders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()

    print("scheduler, 10,000 operations on 50 machines (best of", arguments.repeats, "runs)")
    for label, groups in (("5 eligible machines per operation", 10), ("50 eligible machines", 1)):
        machines, jobs = synthetic_shop(seed=1, group_count=groups)
        plan = schedule(machines, jobs, 0.0)
        seconds = best_of(arguments.repeats, lambda m=machines, j=jobs: schedule(m, j, 0.0))
        cpu_seconds = best_cpu_of(arguments.repeats, lambda m=machines, j=jobs: schedule(m, j, 0.0))
        print(
            f"  {label:<36} {seconds:6.3f} s wall, {cpu_seconds:6.3f} s CPU  "
            f"({plan.operation_count} placed, "
            f"{len(plan.unschedulable)} unschedulable, {len(plan.late_jobs)} late jobs)"
        )

    print("one online dispatch decision (median of 2,000)")
    ten_lines = synthetic_lines(seed=2, line_count=10, part_count=3, capacity=40)
    for label, lines in (("two-line study", STUDY_LINES), ("ten lines", ten_lines)):
        part_names = sorted(lines[0].part_rates)
        order = Order("O1", {part_names[0]: 3, part_names[1]: 2, part_names[2]: 4})
        loads = {line.id: 10 + index for index, line in enumerate(lines)}
        timings = []
        for _ in range(2000):
            started = time.perf_counter()
            dispatch_order(order, lines, loads)
            timings.append(time.perf_counter() - started)
        print(f"  {label:<36} {statistics.median(timings) * 1e6:6.1f} µs")

    for capacity in (400, 320):
        batch_benchmark(capacity)


def batch_benchmark(capacity: int) -> None:
    """1,000 orders on 20 lines of ``capacity`` units (400: all fit; 320: a backlog)."""
    print(f"1,000 pending orders on 20 lines of {capacity} units by integer program")
    lines = synthetic_lines(seed=3, line_count=20, part_count=5, capacity=capacity)
    orders = synthetic_orders(seed=4, count=1000, part_count=5)
    weights = CostWeights()
    demand = sum(order.quantity_units for order in orders)
    print(f"  demand {demand} units, capacity {sum(line.capacity_units for line in lines)} units")
    runs = {}
    # With a backlog HiGHS does not prove the optimum in minutes: 120 s give the reference.
    reference_limit = None if capacity >= 400 else 120.0
    for label, options in (
        ("default, 1 s limit", {"time_limit_s": 1.0}),
        ("whole MILP, 1 s limit", {"time_limit_s": 1.0, "exact": True}),
        ("whole MILP, no limit", {"time_limit_s": reference_limit, "exact": True}),
    ):
        started = time.perf_counter()
        runs[label] = (
            dispatch_batch(orders, lines, {}, weights=weights, **options),  # type: ignore[arg-type]
            time.perf_counter() - started,
        )
    optimum = runs["whole MILP, no limit"][0]
    loads: dict[str, int] = {line.id: 0 for line in lines}
    greedy_objective = 0.0
    for order in orders:
        decision = dispatch_order(order, lines, loads, weights=weights)
        costs = {item.line_id: item.cost for item in order_costs(order, lines, loads, weights)}
        if decision.line_id is None:
            greedy_objective += 10.0 * max(cost for cost in costs.values() if cost is not None)
            continue
        loads[decision.line_id] += order.quantity_units
        greedy_objective += costs[decision.line_id] or 0.0

    def gap(value: float) -> float:
        return (value - optimum.objective) / optimum.objective

    print(
        f"  reference: objective {optimum.objective:.1f} (HiGHS proved optimal within 0.01 %: "
        f"{optimum.is_optimal}, its gap {optimum.mip_gap:.2e}, bound {optimum.lower_bound:.1f}, "
        f"time limit {reference_limit})"
    )
    for label, (result, seconds) in runs.items():
        reported = "—" if result.mip_gap is None else f"{result.mip_gap:.3%}"
        print(
            f"  {label:<22} {seconds:7.3f} s  objective {result.objective:12.1f}  "
            f"gap to optimum {gap(result.objective):7.3%}  reported gap {reported:>7}  "
            f"{len(result.backlogged_order_ids)} backlogged  ({result.method})"
        )
    print(
        f"  {'online rule, one by one':<22} {'':>9}  objective {greedy_objective:12.1f}  "
        f"gap to optimum {gap(greedy_objective):7.3%}"
    )


if __name__ == "__main__":
    main()
