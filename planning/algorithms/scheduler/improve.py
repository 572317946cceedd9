"""Improvement step: a tabu search on the machine sequences of a plan.

Every machine assignment is kept (so the hard rules keep holding); the moves are N5-style
(swap the first two or the last two operations of each critical block) ranked by Taillard's
O(1) estimate of a swap's effect on the longest path; the objective is the makespan or the
maximum lateness. Deterministic for a given seed and ``max_iterations``; ``time_budget_s``
adds a wall-clock bound (then the result depends on machine speed).
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType

from planning.algorithms.scheduler.graph import DisjunctiveGraph
from planning.algorithms.scheduler.model import (
    INFINITY,
    ImprovementConfig,
    ImprovementResult,
    Job,
    Machine,
    Plan,
    PlannedOperation,
    SchedulingInputError,
    Unschedulable,
)
from planning.algorithms.scheduler.outcome import late_jobs
from planning.algorithms.scheduler.routing import job_routing
from planning.algorithms.scheduler.timeline import machine_block


def improve_plan(
    plan: Plan,
    machines: Sequence[Machine],
    jobs: Sequence[Job],
    *,
    config: ImprovementConfig | None = None,
) -> ImprovementResult:
    """Resequence the operations of ``plan`` on their machines to lower the objective.

    Machine assignments are kept, so the anomaly rule holds; start times are recomputed as
    early as precedence, machine order, releases and maintenance blocks allow (an order that
    would push an operation into a block with no end is rejected). The result is never worse
    than the input plan.
    """
    config = config or ImprovementConfig()
    items = list(plan.operations())
    graph = _plan_graph(plan, items, machines, jobs, config.objective)
    initial = graph.evaluate()
    if initial is None or not items:
        objective = _plan_objective(plan, jobs, config.objective)
        return ImprovementResult(plan, objective, objective, 0, 0)

    search = _tabu_search(graph, initial, config)
    graph.sequences = search.best_sequences
    graph.reindex()
    final = graph.evaluate()
    assert final is not None
    initial_objective = _plan_objective(plan, jobs, config.objective)
    improved = _rebuild_plan(plan, jobs, items, graph, machines)
    improved_objective = _plan_objective(improved, jobs, config.objective)
    if improved_objective > initial_objective + 1e-9:
        # The greedy placement used gaps the semi-active recomputation could not reproduce.
        return ImprovementResult(plan, initial_objective, initial_objective, search.iterations, 0)
    return ImprovementResult(
        improved, initial_objective, improved_objective, search.iterations, search.improving_moves
    )


def _plan_graph(
    plan: Plan,
    items: list[PlannedOperation],
    machines: Sequence[Machine],
    jobs: Sequence[Job],
    objective: str,
) -> DisjunctiveGraph:
    """The plan's operations as graph nodes (numbered like ``items``), with their releases,
    the job precedence among them, the machine sequences and the maintenance blocks."""
    now_s = plan.now_s
    machine_index = {machine.id: index for index, machine in enumerate(machines)}
    for machine_id in plan.machine_sequences:
        if machine_id not in machine_index:
            raise SchedulingInputError(f"plan names unknown machine {machine_id!r}")
    node_of = {item.operation_id: node for node, item in enumerate(items)}
    count = len(items)
    durations = [item.end_s - item.start_s for item in items]
    machine_of = [machine_index[item.machine_id] for item in items]
    job_by_id = {job.id: job for job in jobs}
    releases = [0.0] * count
    tail_ends = [-INFINITY] * count
    job_predecessors: list[list[int]] = [[] for _ in range(count)]
    job_successors: list[list[int]] = [[] for _ in range(count)]
    for item in items:
        if item.job_id not in job_by_id:
            raise SchedulingInputError(f"plan names unknown job {item.job_id!r}")
    for job_id in {item.job_id for item in items}:
        job = job_by_id[job_id]
        routing = job_routing(job)
        if isinstance(routing, Unschedulable):
            raise SchedulingInputError(f"job {job.id}: {routing.message}")
        nodes = [node_of.get(operation.id, -1) for operation in routing.operations]
        for position, node in enumerate(nodes):
            if node < 0:
                continue
            release = max(now_s, job.release_at_s)
            releases[node] = max(release, machines[machine_of[node]].available_from_s)
            has_placed_successor = False
            for successor_position in routing.successors[position]:
                successor = nodes[successor_position]
                if successor >= 0:
                    job_successors[node].append(successor)
                    job_predecessors[successor].append(node)
                    has_placed_successor = True
            if not has_placed_successor:
                due_offset = job.due_at_s if objective == "max_lateness" else 0.0
                tail_ends[node] = -due_offset
    # Predecessors that were scheduled in an earlier plan are not in the graph; the job's
    # release covers them (operations in progress are passed as releases by the caller).
    sequences: list[list[int]] = [[] for _ in machines]
    for machine_id, planned in plan.machine_sequences.items():
        sequences[machine_index[machine_id]] = [node_of[item.operation_id] for item in planned]
    blocks = [machine_block(machine, now_s) for machine in machines]
    return DisjunctiveGraph(
        durations,
        releases,
        tail_ends,
        job_predecessors,
        job_successors,
        machine_of,
        sequences,
        blocks,
    )


@dataclass(frozen=True, slots=True)
class _SearchOutcome:
    best_sequences: list[list[int]]
    iterations: int
    improving_moves: int


def _tabu_search(
    graph: DisjunctiveGraph, initial: float, config: ImprovementConfig
) -> _SearchOutcome:
    """Swap adjacent operations of critical blocks, keeping the best sequences seen.

    A swap that makes the graph cyclic or pushes an operation into an endless block is undone
    and made tabu; after ``restart_after_iterations`` moves without a new best the search
    restarts from the best sequences.
    """
    rng = random.Random(config.seed)
    deadline = None if config.time_budget_s is None else time.perf_counter() + config.time_budget_s
    best_objective = initial
    best_sequences = [list(sequence) for sequence in graph.sequences]
    current = initial
    tabu: dict[tuple[int, int], int] = {}
    iteration = 0
    improving_moves = 0
    since_best = 0
    while iteration < config.max_iterations:
        if deadline is not None and time.perf_counter() > deadline:
            break
        iteration += 1
        moves = _critical_moves(graph, current)
        if not moves:
            break
        first, second = _chosen_move(graph, moves, tabu, iteration, best_objective, rng)
        graph.swap(first, second)
        evaluated = graph.evaluate()
        if evaluated is None:
            graph.swap(second, first)
            tabu[(first, second)] = iteration + config.tabu_tenure_max
            restored = graph.evaluate()
            assert restored is not None
            current = restored
            continue
        current = evaluated
        tabu[(second, first)] = iteration + rng.randint(
            config.tabu_tenure_min, config.tabu_tenure_max
        )
        if current < best_objective - 1e-9:
            best_objective = current
            best_sequences = [list(sequence) for sequence in graph.sequences]
            improving_moves += 1
            since_best = 0
        else:
            since_best += 1
            if since_best >= config.restart_after_iterations:
                graph.sequences = [list(sequence) for sequence in best_sequences]
                graph.reindex()
                restored = graph.evaluate()
                assert restored is not None
                current = restored
                tabu.clear()
                since_best = 0
    return _SearchOutcome(best_sequences, iteration, improving_moves)


def _critical_moves(graph: DisjunctiveGraph, objective: float) -> list[tuple[int, int]]:
    """N5 moves: the first two and the last two operations of each critical block."""
    moves: list[tuple[int, int]] = []
    for block in graph.critical_blocks(objective):
        moves.append((block[0], block[1]))
        if len(block) > 2:
            moves.append((block[-2], block[-1]))
    return moves


def _chosen_move(
    graph: DisjunctiveGraph,
    moves: list[tuple[int, int]],
    tabu: dict[tuple[int, int], int],
    iteration: int,
    best_objective: float,
    rng: random.Random,
) -> tuple[int, int]:
    """The move with the lowest estimate (ties at random) that is not tabu, unless it would
    beat the best objective; a random move when every one is tabu."""
    best_move: tuple[int, int] | None = None
    best_estimate = INFINITY
    for first, second in moves:
        estimate = graph.swap_estimate(first, second)
        is_tabu = tabu.get((first, second), -1) >= iteration
        if is_tabu and estimate >= best_objective - 1e-9:
            continue
        if estimate < best_estimate - 1e-9 or (
            abs(estimate - best_estimate) <= 1e-9 and rng.random() < 0.5
        ):
            best_estimate = estimate
            best_move = (first, second)
    if best_move is None:
        best_move = moves[rng.randrange(len(moves))]
    return best_move


def _plan_objective(plan: Plan, jobs: Sequence[Job], objective: str) -> float:
    if objective == "makespan":
        return plan.end_s - plan.now_s
    due = {job.id: job.due_at_s for job in jobs}
    return max(
        (end - due[job_id] for job_id, end in plan.job_end_s.items()),
        default=-INFINITY,
    )


def _rebuild_plan(
    plan: Plan,
    jobs: Sequence[Job],
    items: list[PlannedOperation],
    graph: DisjunctiveGraph,
    machines: Sequence[Machine],
) -> Plan:
    old_rank: dict[str, int] = {}
    for planned in plan.machine_sequences.values():
        for rank, item in enumerate(planned):
            old_rank[item.operation_id] = rank
    sequences: dict[str, tuple[PlannedOperation, ...]] = {}
    job_end_s: dict[str, float] = {}
    for machine_id in plan.machine_sequences:
        sequences[machine_id] = ()
    for machine_number, sequence in enumerate(graph.sequences):
        machine_id = machines[machine_number].id
        if machine_id not in plan.machine_sequences:
            continue
        rebuilt: list[PlannedOperation] = []
        for rank, node in enumerate(sequence):
            item = items[node]
            start = graph.heads[node]
            end = start + graph.durations[node]
            explanation = item.explanation
            if old_rank[item.operation_id] != rank:
                explanation = replace(
                    explanation,
                    sequencing="local_search",
                    message=f"{explanation.message}; resequenced by local search "
                    f"(position {old_rank[item.operation_id] + 1} → {rank + 1})",
                )
            rebuilt.append(
                PlannedOperation(
                    item.operation_id, item.job_id, item.machine_id, start, end, explanation
                )
            )
            job_end_s[item.job_id] = max(job_end_s.get(item.job_id, -INFINITY), end)
        sequences[machine_id] = tuple(rebuilt)
    blocked_jobs = {entry.job_id for entry in plan.unschedulable}
    late = late_jobs(jobs, plan.now_s, job_end_s, blocked_jobs)
    return Plan(
        now_s=plan.now_s,
        machine_sequences=MappingProxyType(sequences),
        job_end_s=MappingProxyType(
            {job_id: end for job_id, end in job_end_s.items() if job_id in plan.job_end_s}
        ),
        unschedulable=plan.unschedulable,
        late_jobs=late,
    )
