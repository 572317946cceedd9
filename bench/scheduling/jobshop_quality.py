"""Makespan quality of the scheduler on classic job-shop instances.

For each instance: the makespan of SPT and MWKR (most work remaining) dispatching (non-delay
schedules: whenever a machine can start work the rule picks the operation), of the plain
priority scheduler and of the scheduler followed by its improvement step (tabu search over the
machine sequences), each as a gap to the proven optimum: (makespan − optimum) / optimum.

Run:  .venv/bin/python -m bench.scheduling.jobshop_quality [--iterations N] [--seed S]
      [--instances ft06,la01,...]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

from bench.scheduling.jobshop_instances import INSTANCE_NAMES, JobShopInstance, load_instances
from planning.algorithms.scheduler.improve import improve_plan
from planning.algorithms.scheduler.model import ImprovementConfig, Job, Machine, Operation, Plan
from planning.algorithms.scheduler.placement import schedule


def non_delay_dispatch(instance: JobShopInstance, rule: str) -> int:
    """Non-delay schedule with a dispatching rule (``spt`` or ``mwkr``): whenever operations
    can start, the rule picks among those that can start earliest — how a shop dispatches."""
    job_count = instance.job_count
    next_step = [0] * job_count
    job_ready = [0] * job_count
    machine_ready = [0] * instance.machine_count
    remaining_work = [sum(row) for row in instance.durations]
    total = sum(len(row) for row in instance.durations)
    makespan = 0
    for _ in range(total):
        starts = {}
        for job in range(job_count):
            step = next_step[job]
            if step < len(instance.durations[job]):
                machine = instance.machines[job][step]
                starts[job] = max(job_ready[job], machine_ready[machine])
        earliest = min(starts.values())
        ready = [job for job, start in starts.items() if start == earliest]
        if rule == "spt":
            chosen = min(ready, key=lambda job: (instance.durations[job][next_step[job]], job))
        else:
            chosen = min(ready, key=lambda job: (-remaining_work[job], job))
        step = next_step[chosen]
        machine = instance.machines[chosen][step]
        duration = instance.durations[chosen][step]
        job_ready[chosen] = machine_ready[machine] = earliest + duration
        makespan = max(makespan, earliest + duration)
        remaining_work[chosen] -= duration
        next_step[chosen] += 1
    return makespan


def as_scheduler_input(instance: JobShopInstance) -> tuple[list[Machine], list[Job]]:
    machines = [
        Machine(f"M{index}", frozenset({f"m{index}"})) for index in range(instance.machine_count)
    ]
    # One common due date far ahead: the critical ratio then orders jobs by remaining work.
    due_at_s = 1e9
    jobs = []
    for job_index, (durations, machine_row) in enumerate(
        zip(instance.durations, instance.machines, strict=True)
    ):
        job_id = f"J{job_index}"
        operations = tuple(
            Operation(f"{job_id}-{step}", job_id, step, f"m{machine}", float(duration))
            for step, (duration, machine) in enumerate(zip(durations, machine_row, strict=True))
        )
        jobs.append(Job(job_id, due_at_s, operations))
    return machines, jobs


def check_plan(plan: Plan, instance: JobShopInstance) -> None:
    """Every operation placed once, no overlap on a machine, routing order kept."""
    assert plan.operation_count == sum(len(row) for row in instance.durations)
    assert not plan.unschedulable
    for sequence in plan.machine_sequences.values():
        for before, after in itertools.pairwise(sequence):
            assert before.end_s <= after.start_s + 1e-6
    ends: dict[str, float] = {}
    for item in sorted(plan.operations(), key=lambda item: int(item.operation_id.split("-")[1])):
        assert item.start_s >= ends.get(item.job_id, 0.0) - 1e-6
        ends[item.job_id] = item.end_s


def gap(makespan: float, optimum: int) -> float:
    return (makespan - optimum) / optimum


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--instances", default=",".join(INSTANCE_NAMES))
    arguments = parser.parse_args()
    instances = load_instances(tuple(arguments.instances.split(",")))
    config = ImprovementConfig(seed=arguments.seed, max_iterations=arguments.iterations)

    print(
        f"{'instance':<9} {'size':>7} {'optimum':>7} {'SPT':>7} {'MWKR':>7} {'plain':>7} "
        f"{'improved':>8} {'gap SPT':>8} {'gap MWKR':>8} {'gap plain':>9} {'gap impr.':>9} "
        f"{'time s':>7}"
    )
    gaps: dict[str, dict[str, float]] = {}
    for instance in instances:
        machines, jobs = as_scheduler_input(instance)
        spt = non_delay_dispatch(instance, "spt")
        mwkr = non_delay_dispatch(instance, "mwkr")
        plan = schedule(machines, jobs, 0.0)
        check_plan(plan, instance)
        started = time.perf_counter()
        result = improve_plan(plan, machines, jobs, config=config)
        elapsed = time.perf_counter() - started
        check_plan(result.plan, instance)
        plain, improved = plan.end_s, result.plan.end_s
        gaps[instance.name] = {
            "spt": gap(spt, instance.optimum),
            "mwkr": gap(mwkr, instance.optimum),
            "plain": gap(plain, instance.optimum),
            "improved": gap(improved, instance.optimum),
        }
        row = gaps[instance.name]
        print(
            f"{instance.name:<9} {instance.job_count:>3}x{instance.machine_count:<3} "
            f"{instance.optimum:>7} {spt:>7} {mwkr:>7} {plain:>7.0f} {improved:>8.0f} "
            f"{row['spt']:>8.1%} {row['mwkr']:>8.1%} {row['plain']:>9.1%} "
            f"{row['improved']:>9.1%} {elapsed:>7.2f}",
            flush=True,
        )
    lawrence = [name for name in gaps if name.startswith("la")]
    for label, names in (("mean la01–la40", lawrence), ("mean all", list(gaps))):
        if not names:
            continue
        means = {
            key: statistics.fmean(gaps[name][key] for name in names)
            for key in ("spt", "mwkr", "plain", "improved")
        }
        print(
            f"{label}: SPT {means['spt']:.1%}, MWKR {means['mwkr']:.1%}, "
            f"plain {means['plain']:.1%}, improved {means['improved']:.1%} "
            f"({len(names)} instances, {arguments.iterations} iterations, seed {arguments.seed})"
        )


if __name__ == "__main__":
    main()
