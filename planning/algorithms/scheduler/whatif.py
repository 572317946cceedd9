"""What-if: simulate a plan forward on the plant model (pure).

Given the machines (speed, health, maintenance window), extra outages ("CNC_Spindle_7 is
down for 4 h from now"), the jobs with their routing and due dates, and a plan — which
machine each operation runs on and in which order per machine — :func:`simulate_plan` runs
the plan forward on the scheduler's own timeline:

* a machine works through its queue in the given order, one operation at a time, never
  interrupting one: an operation starts when the machine is free, its routing predecessors
  are done, its job is released and ``now_s`` has come, and not inside a maintenance window
  or outage (it waits for the end of one it would overlap);
* a machine in poor health runs slower: the duration is the operation's duration on that
  machine × ``1 + health_slowdown·α``;
* if a machine's next operation waits for a predecessor queued behind another machine's
  waiting operation (a queue order that contradicts the routing), the first operation of the
  queue that can start is taken instead.

The forecast: makespan, completion and tardiness per job, utilisation per machine over the
makespan, expected energy (``power_kw`` per machine while it works) and the operations that
could not run (no machine, or their machine is not in the model).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from planning.algorithms.scheduler.model import Job, Machine


@dataclass(frozen=True, slots=True)
class Outage:
    machine_id: str
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    health_slowdown: float = 0.0
    power_kw: Mapping[str, float] = field(default_factory=dict)
    default_power_kw: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "power_kw", MappingProxyType(dict(self.power_kw)))
        if not math.isfinite(self.health_slowdown) or self.health_slowdown < 0:
            raise ValueError("health_slowdown must be a finite number ≥ 0")


@dataclass(frozen=True, slots=True)
class SimulatedOperation:
    operation_id: str
    job_id: str
    machine_id: str
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class JobForecast:
    job_id: str
    due_at_s: float
    completion_s: float | None
    tardiness_s: float


@dataclass(frozen=True, slots=True)
class Forecast:
    operations: tuple[SimulatedOperation, ...]
    jobs: tuple[JobForecast, ...]
    makespan_s: float
    total_tardiness_s: float
    late_job_count: int
    utilisation: Mapping[str, float]
    energy_kwh: float
    not_run: tuple[str, ...]


def simulate_plan(
    machines: Sequence[Machine],
    jobs: Sequence[Job],
    sequences: Mapping[str, Sequence[str]],
    now_s: float,
    *,
    outages: Sequence[Outage] = (),
    config: SimulationConfig | None = None,
) -> Forecast:
    """Run ``sequences`` (machine id → operation ids in order) forward from ``now_s``."""
    config = config or SimulationConfig()
    by_machine = {machine.id: machine for machine in machines}
    operations = {operation.id: operation for job in jobs for operation in job.operations}
    job_of = {operation.id: job for job in jobs for operation in job.operations}
    predecessors = _predecessors(jobs)
    blocked = _unavailable(machines, outages)
    queues = {
        machine_id: [op for op in queue if op in operations]
        for machine_id, queue in sequences.items()
        if machine_id in by_machine
    }
    queued = {op for queue in queues.values() for op in queue}
    not_run = [op for op in operations if op not in queued]
    end_of: dict[str, float] = {}
    free = {
        machine_id: max(now_s, by_machine[machine_id].available_from_s) for machine_id in queues
    }
    placed: list[SimulatedOperation] = []
    busy = dict.fromkeys(queues, 0.0)
    energy = 0.0
    while any(queues.values()):
        progressed = False
        for machine_id, queue in queues.items():
            while queue and all(before in end_of for before in predecessors[queue[0]]):
                energy += _run(
                    queue.pop(0),
                    machine_id,
                    by_machine,
                    operations,
                    job_of,
                    predecessors,
                    blocked,
                    free,
                    end_of,
                    busy,
                    placed,
                    now_s,
                    config,
                )
                progressed = True
        if progressed:
            continue
        # The queue orders contradict the routing: take the first operation that can start.
        for machine_id, queue in queues.items():
            ready = next(
                (op for op in queue if all(before in end_of for before in predecessors[op])),
                None,
            )
            if ready is not None:
                queue.remove(ready)
                energy += _run(
                    ready,
                    machine_id,
                    by_machine,
                    operations,
                    job_of,
                    predecessors,
                    blocked,
                    free,
                    end_of,
                    busy,
                    placed,
                    now_s,
                    config,
                )
                progressed = True
                break
        if not progressed:  # waiting for operations that never run
            for queue in queues.values():
                not_run.extend(queue)
                queue.clear()
    makespan = max((item.end_s for item in placed), default=now_s) - now_s
    forecasts = []
    for job in jobs:
        ends = [end_of.get(operation.id) for operation in job.operations]
        completion = None if any(end is None for end in ends) or not ends else max(ends)
        tardiness = 0.0 if completion is None else max(0.0, completion - job.due_at_s)
        forecasts.append(JobForecast(job.id, job.due_at_s, completion, tardiness))
    return Forecast(
        operations=tuple(placed),
        jobs=tuple(forecasts),
        makespan_s=makespan,
        total_tardiness_s=sum(item.tardiness_s for item in forecasts),
        late_job_count=sum(1 for item in forecasts if item.tardiness_s > 0),
        utilisation={
            machine_id: (busy[machine_id] / makespan if makespan > 0 else 0.0)
            for machine_id in queues
        },
        energy_kwh=energy,
        not_run=tuple(not_run),
    )


def _predecessors(jobs: Sequence[Job]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for job in jobs:
        if job.precedence:
            for operation in job.operations:
                result[operation.id] = []
            for before, after in job.precedence:
                result.setdefault(after, []).append(before)
        else:
            ordered = sorted(job.operations, key=lambda item: item.sequence)
            for index, operation in enumerate(ordered):
                result[operation.id] = [ordered[index - 1].id] if index else []
    return result


def _unavailable(
    machines: Sequence[Machine], outages: Sequence[Outage]
) -> dict[str, list[tuple[float, float]]]:
    blocked: dict[str, list[tuple[float, float]]] = {machine.id: [] for machine in machines}
    for machine in machines:
        if machine.maintenance_window_start_s is not None:
            end = machine.maintenance_window_end_s
            blocked[machine.id].append(
                (machine.maintenance_window_start_s, math.inf if end is None else end)
            )
    for outage in outages:
        if outage.end_s <= outage.start_s:
            raise ValueError(f"outage of {outage.machine_id}: end must be after start")
        blocked.setdefault(outage.machine_id, []).append((outage.start_s, outage.end_s))
    return {key: sorted(value) for key, value in blocked.items()}


def _run(
    operation_id: str,
    machine_id: str,
    by_machine: Mapping[str, Machine],
    operations: Mapping,
    job_of: Mapping[str, Job],
    predecessors: Mapping[str, list[str]],
    blocked: Mapping[str, list[tuple[float, float]]],
    free: dict[str, float],
    end_of: dict[str, float],
    busy: dict[str, float],
    placed: list[SimulatedOperation],
    now_s: float,
    config: SimulationConfig,
) -> float:
    """Place one operation; return the energy it takes (kWh)."""
    machine = by_machine[machine_id]
    operation = operations[operation_id]
    job = job_of[operation_id]
    duration = operation.duration_on(machine) * (
        1.0 + config.health_slowdown * machine.anomaly_score
    )
    start = max(
        free[machine_id],
        now_s,
        job.release_at_s,
        *(end_of[before] for before in predecessors[operation_id]),
    )
    for block_start, block_end in blocked.get(machine_id, ()):
        if start < block_end and start + duration > block_start:
            start = block_end
    end = start + duration
    free[machine_id] = end
    end_of[operation_id] = end
    busy[machine_id] += duration
    placed.append(SimulatedOperation(operation_id, job.id, machine_id, start, end))
    power = config.power_kw.get(machine_id, config.default_power_kw)
    return power * duration / 3600.0
