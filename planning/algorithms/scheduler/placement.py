"""Dynamic priority scheduler with machine health: building a plan (pure, Django-free).

Times are epoch seconds as floats (``*_s``); durations are seconds; ``now_s`` is passed in.

Sequencing. Operations are placed one at a time, taken from a heap keyed by the critical
ratio ``CR(J) = TR/TP_min`` of their job (smallest first: most urgent; past-due jobs have a
negative CR and come first). After an operation of J is placed, J's next operation is pushed
back with J's updated CR (its remaining work shrank). Each operation goes to the eligible
machine with the highest Priority(J, m) (:mod:`.rule`); candidates whose priorities lie within
``priority_tie_tolerance`` of the best are tied and the one that finishes first wins (then the
machine listed first). The operation is placed in the earliest idle interval of the machine at
or after its ready time (job release, ``now_s``, the end of its routing predecessors), so no
machine runs two operations at once and routing precedence holds. An operation that fits on
no eligible machine before its maintenance / RUL horizon blocks the rest of its job.

Operations already running are not re-planned: the caller leaves them out and passes the
machine's ``available_from_s`` and the job's ``release_at_s`` as their expected end.

Unschedulable work is reported with a reason, never silently dropped: no eligible machine,
duplicate or gapped sequence numbers, cyclic precedence or a precedence edge naming an unknown
operation, a zero or negative duration, or no time left on any eligible machine before its
maintenance / RUL horizon. Past-due jobs are scheduled and flagged late.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from planning.algorithms.scheduler.explain import explain_placement
from planning.algorithms.scheduler.improve import improve_plan
from planning.algorithms.scheduler.model import (
    EPSILON_S,
    INFINITY,
    ImprovementConfig,
    Job,
    Machine,
    Operation,
    Plan,
    PlannedOperation,
    SchedulerConfig,
    Unschedulable,
    UnschedulableReason,
)
from planning.algorithms.scheduler.outcome import assemble_plan, block_job
from planning.algorithms.scheduler.ranking import MachineBoard, choose_candidate, rank_candidates
from planning.algorithms.scheduler.routing import job_routing
from planning.algorithms.scheduler.rule import (
    Eligibility,
    PreparedJob,
    PriorityTerms,
    critical_ratio,
    ranking_key,
)
from planning.algorithms.scheduler.validation import (
    check_finite,
    validate_jobs,
    validate_machines,
)

# Heap entries: (critical ratio, due date, insertion counter, job index, operation position).
_HeapEntry = tuple[float, float, int, int, int]


def schedule(
    machines: Sequence[Machine],
    jobs: Sequence[Job],
    now_s: float,
    *,
    config: SchedulerConfig | None = None,
    improvement: ImprovementConfig | None = None,
) -> Plan:
    """Build a plan for ``jobs`` on ``machines`` from ``now_s`` (epoch seconds).

    With ``improvement`` the plan is then passed through :func:`.improve.improve_plan`.
    Raises :class:`SchedulingInputError` for malformed input (duplicate ids, NaN, α outside
    [0, 1], ...); problems of single jobs are reported in ``Plan.unschedulable``.
    """
    config = config or SchedulerConfig()
    check_finite(now_s, "now_s")
    validate_machines(machines)
    validate_jobs(jobs)
    eligibility = Eligibility(machines, config.anomaly_threshold)
    board = MachineBoard(machines, now_s, eligibility.widest)
    unschedulable: list[Unschedulable] = []
    prepared_jobs = _prepare_jobs(jobs, eligibility, unschedulable)
    placed, job_end_s = _place_operations(board, prepared_jobs, now_s, config, unschedulable)
    plan = assemble_plan(now_s, board.machine_ids, placed, jobs, job_end_s, unschedulable)
    if improvement is not None:
        return improve_plan(plan, machines, jobs, config=improvement).plan
    return plan


def _prepare_jobs(
    jobs: Sequence[Job], eligibility: Eligibility, unschedulable: list[Unschedulable]
) -> list[PreparedJob]:
    """The jobs to place, with their routing and eligible machines; the others are listed
    unschedulable (every operation, the first with the cause)."""
    prepared_jobs: list[PreparedJob] = []
    for job in jobs:
        if not job.operations:
            continue
        routing = job_routing(job)
        if isinstance(routing, Unschedulable):
            unschedulable.extend(block_job(job, routing))
            continue
        prepared = eligibility.prepare(job, routing)
        if isinstance(prepared, Unschedulable):
            unschedulable.extend(block_job(job, prepared))
            continue
        prepared_jobs.append(prepared)
    return prepared_jobs


@dataclass(slots=True)
class _JobProgress:
    """One job during the placement: TR, its remaining work at the fastest machines (TP_min),
    per operation the unplaced predecessors and the ready time, and whether it is blocked."""

    prepared: PreparedJob
    time_remaining_s: float
    remaining_s: float
    pending_predecessors: list[int]
    ready_s: list[float]
    is_blocked: bool = False


def _place_operations(
    board: MachineBoard,
    prepared_jobs: list[PreparedJob],
    now_s: float,
    config: SchedulerConfig,
    unschedulable: list[Unschedulable],
) -> tuple[list[list[PlannedOperation]], dict[str, float]]:
    """Place the operations in critical-ratio order: per machine the placed operations, and
    the end of each job's last placed operation."""
    progress = [
        _JobProgress(
            prepared,
            prepared.job.due_at_s - now_s,
            sum(prepared.fastest_s),
            [len(items) for items in prepared.routing.predecessors],
            [max(now_s, prepared.job.release_at_s)] * len(prepared.job.operations),
        )
        for prepared in prepared_jobs
    ]
    counter = itertools.count()
    heap = _first_operations(progress, counter, config.priority_step)
    placed: list[list[PlannedOperation]] = [[] for _ in board.machines]
    job_end_s: dict[str, float] = {}
    while heap:
        ratio, _, _, job_index, position = heapq.heappop(heap)
        job_progress = progress[job_index]
        if job_progress.is_blocked:
            continue
        outcome = _place_operation(board, job_progress, position, ratio, now_s, config)
        if isinstance(outcome, Unschedulable):
            # The job's operations not placed yet are listed as blocked by assemble_plan.
            job_progress.is_blocked = True
            unschedulable.append(outcome)
            continue
        machine_index, planned = outcome
        placed[machine_index].append(planned)
        for successor in _finish_operation(job_progress, position, planned.end_s, job_end_s):
            heapq.heappush(
                heap, _entry_of(job_progress, job_index, successor, counter, config.priority_step)
            )
    return placed, job_end_s


def _first_operations(
    progress: list[_JobProgress], counter: Iterator[int], priority_step: float
) -> list[_HeapEntry]:
    """The heap of every job's operations without predecessors."""
    heap: list[_HeapEntry] = []
    for job_index, job_progress in enumerate(progress):
        ratio = ranking_key(
            critical_ratio(job_progress.time_remaining_s, job_progress.remaining_s),
            job_progress.prepared.job.priority,
            priority_step,
        )
        for position, count in enumerate(job_progress.pending_predecessors):
            if count == 0:
                heap.append(
                    (ratio, job_progress.prepared.job.due_at_s, next(counter), job_index, position)
                )
    heapq.heapify(heap)
    return heap


def _entry_of(
    job_progress: _JobProgress,
    job_index: int,
    position: int,
    counter: Iterator[int],
    priority_step: float,
) -> _HeapEntry:
    """The heap entry of an operation whose predecessors are all placed (the job's CR with
    its remaining work as it is now)."""
    ratio = ranking_key(
        critical_ratio(job_progress.time_remaining_s, max(job_progress.remaining_s, EPSILON_S)),
        job_progress.prepared.job.priority,
        priority_step,
    )
    return (ratio, job_progress.prepared.job.due_at_s, next(counter), job_index, position)


def _place_operation(
    board: MachineBoard,
    job_progress: _JobProgress,
    position: int,
    ratio: float,
    now_s: float,
    config: SchedulerConfig,
) -> tuple[int, PlannedOperation] | Unschedulable:
    """Put one operation on its best machine: (machine index, planned operation), or why no
    eligible machine can take it."""
    prepared = job_progress.prepared
    operation = prepared.routing.operations[position]
    allowed = prepared.allowed[position]
    remaining = job_progress.remaining_s
    terms = PriorityTerms(
        now_s=now_s,
        ready_s=job_progress.ready_s[position],
        time_remaining_s=job_progress.time_remaining_s,
        remaining_s=remaining,
        others_s=remaining - prepared.fastest_s[position],
    )
    tolerance = config.priority_tie_tolerance
    max_candidates = config.max_candidates_in_explanation
    ranking = rank_candidates(
        board,
        allowed,
        prepared.explicit_durations[position],
        operation.standard_duration_s,
        terms,
        tolerance,
        max_candidates,
    )
    if not ranking.ranked:
        return _no_time_before_maintenance(board, operation, ranking.horizon_excluded)
    chosen, tied_count = choose_candidate(ranking.ranked, tolerance)
    _, machine_index, duration, _, start = chosen
    board.occupy(machine_index, start, duration)
    explanation = explain_placement(
        board,
        operation,
        terms,
        critical_ratio=ratio,
        ranking=ranking,
        chosen=chosen,
        tied_count=tied_count,
        allowed_count=len(allowed),
        excluded_by_anomaly=prepared.excluded[position],
        max_candidates=max_candidates,
    )
    machine_id = board.machine_ids[machine_index]
    end = start + duration
    return machine_index, PlannedOperation(
        operation.id, operation.job_id, machine_id, start, end, explanation
    )


def _no_time_before_maintenance(
    board: MachineBoard, operation: Operation, horizon_excluded: list[int]
) -> Unschedulable:
    names = ", ".join(board.machine_ids[index] for index in horizon_excluded)
    return Unschedulable(
        operation.job_id,
        operation.id,
        UnschedulableReason.NO_TIME_BEFORE_MAINTENANCE,
        f"operation {operation.id}: no eligible machine ({names}) can finish it "
        "before its maintenance window / RUL p10",
    )


def _finish_operation(
    job_progress: _JobProgress, position: int, end_s: float, job_end_s: dict[str, float]
) -> list[int]:
    """Book a placed operation on its job; return the successors it made ready."""
    prepared = job_progress.prepared
    job_id = prepared.job.id
    job_progress.remaining_s -= prepared.fastest_s[position]
    job_end_s[job_id] = max(job_end_s.get(job_id, -INFINITY), end_s)
    ready: list[int] = []
    for successor in prepared.routing.successors[position]:
        job_progress.ready_s[successor] = max(job_progress.ready_s[successor], end_s)
        job_progress.pending_predecessors[successor] -= 1
        if job_progress.pending_predecessors[successor] == 0:
            ready.append(successor)
    return ready
