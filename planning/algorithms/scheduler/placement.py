"""Dynamic priority scheduler with machine health (pure, Django-free).

Times are epoch seconds as floats (``*_s``); durations are seconds; ``now_s`` is passed in.

Formula (DESIGN §6.3). For the operation ``o`` of job ``J`` and an eligible machine ``m``::

    TR(J)    = due_at_s(J) − now_s                   time left to the due date
    TP(J, m) = finish(o, m) − now_s + Σ min-duration(o')
               time from now until J's remaining work is done if o runs on m: o's wait for m
               and its duration there, plus J's later operations o' at their fastest machine
    Priority(J, m) = TR/TP − θ_m·α_m·δ_m

``θ`` is the machine's bottleneck weight, ``α`` its anomaly score in [0, 1] and ``δ`` its
degradation slope per hour. TP counts the wait for the machine on purpose: with pure processing
times a machine 1 % faster would win every operation however long its queue. For a job already
past due (TR ≤ 0) the literal ratio TR/TP would *grow* with TP and make a later finish look
better; the ratio term is then ``TR·TP/TP_min²`` (TP_min = J's remaining work at the fastest
machines, no waiting), which keeps "earlier finish is better".

Sequencing. Operations are placed one at a time, taken from a heap keyed by the critical
ratio ``CR(J) = TR/TP_min`` of their job (smallest first: most urgent; past-due jobs have a
negative CR and come first). After an operation of J is placed, J's next operation is pushed
back with J's updated CR (its remaining work shrank). Each operation goes to the eligible
machine with the highest Priority(J, m); candidates whose priorities lie within
``priority_tie_tolerance`` of the best are tied and the one that finishes first wins (then the
machine listed first). The operation is placed in the earliest idle interval of the machine at
or after its ready time (job release, ``now_s``, the end of its routing predecessors), so no
machine runs two operations at once and routing precedence holds.

Hard rules.

* A high-stress operation (``force_kn`` above the machine's ``stress_limit_kn``) never goes to
  a machine in anomaly (``is_anomaly_flagged`` or ``anomaly_score`` above
  ``SchedulerConfig.anomaly_threshold``).
* Maintenance / RUL horizon: a machine is blocked from
  ``min(maintenance_window_start_s, now_s + rul_p10_s)`` until ``maintenance_window_end_s``
  (for ever if no end is known or only the RUL is given). An operation is placed on a machine
  only if it finishes before the block starts (or starts after it ends); otherwise the next
  machine by priority is tried. This is applied to every machine that has a window or a RUL —
  on a degraded machine it is exactly the rule "stays only if it finishes before the
  maintenance window / RUL p10".

Operations already running are not re-planned: the caller leaves them out and passes the
machine's ``available_from_s`` and the job's ``release_at_s`` as their expected end.

Speed. The candidate loop is the hot path (operations × eligible machines). Each machine's
longest gap is tracked so that gaps are searched only when one can hold the operation, and a
maintenance block is looked at only when the unblocked run would overlap it. Operations with
many eligible machines (``_VECTOR_MIN_CANDIDATES``) are ranked with numpy arrays — the same
arithmetic in the same order, so the plan and the explanations are the same as the loop's.

Unschedulable work is reported with a reason, never silently dropped: no eligible machine,
duplicate or gapped sequence numbers, cyclic precedence or a precedence edge naming an unknown
operation, a zero or negative duration, or no time left on any eligible machine before its
maintenance / RUL horizon. Past-due jobs are scheduled and flagged late.

Improvement step (:func:`improve_plan`): a tabu search on the machine sequences of a plan,
keeping every machine assignment (so the hard rules keep holding), with the N5-style moves
(swap the first two or the last two operations of each critical block) and Taillard's O(1)
estimate of a swap's effect on the longest path; objective makespan or maximum lateness.
Deterministic for a given seed and ``max_iterations``; ``time_budget_s`` adds a wall-clock
bound (then the result depends on machine speed).
"""

from __future__ import annotations

import enum
import heapq
import math
import random
import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from operator import itemgetter
from types import MappingProxyType

import numpy as np

__all__ = [
    "AssignmentRule",
    "CandidateScore",
    "ChangeKind",
    "ExclusionRule",
    "Explanation",
    "ImprovementConfig",
    "ImprovementResult",
    "Job",
    "LateJob",
    "Machine",
    "Operation",
    "Plan",
    "PlanChange",
    "PlannedOperation",
    "PlannedSlot",
    "SchedulerConfig",
    "SchedulingInputError",
    "Unschedulable",
    "UnschedulableReason",
    "diff_plans",
    "improve_plan",
    "schedule",
]

_EPSILON_S = 1e-9
_INFINITY = math.inf


class SchedulingInputError(ValueError):
    """The machines or jobs given to the scheduler are malformed (the whole call is refused)."""


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Machine:
    """A machine and its health as the scheduler sees it.

    ``bottleneck_weight`` is θ, ``anomaly_score`` α ∈ [0, 1], ``degradation_per_h`` δ ≥ 0.
    ``speed_factor`` divides an operation's standard duration (2.0 = twice as fast).
    ``rul_p10_s`` is a duration (seconds from ``now_s``); the other times are epoch seconds.
    """

    id: str
    capabilities: frozenset[str]
    stress_limit_kn: float = 10.0
    bottleneck_weight: float = 1.0
    anomaly_score: float = 0.0
    degradation_per_h: float = 0.0
    is_anomaly_flagged: bool = False
    maintenance_window_start_s: float | None = None
    maintenance_window_end_s: float | None = None
    rul_p10_s: float | None = None
    available_from_s: float = 0.0
    speed_factor: float = 1.0

    @property
    def health_penalty(self) -> float:
        """θ·α·δ, the term subtracted from the priority."""
        return self.bottleneck_weight * self.anomaly_score * self.degradation_per_h

    def is_in_anomaly(self, anomaly_threshold: float) -> bool:
        return self.is_anomaly_flagged or self.anomaly_score > anomaly_threshold


@dataclass(frozen=True, slots=True)
class Operation:
    """One routing step of a job.

    The duration on machine ``m`` is ``machine_durations_s[m.id]`` when given, otherwise
    ``standard_duration_s / m.speed_factor``. Machine ids in ``machine_durations_s`` that are
    not among the scheduled machines are ignored.
    """

    id: str
    job_id: str
    sequence: int
    capability: str
    standard_duration_s: float
    force_kn: float = 0.0
    machine_durations_s: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "machine_durations_s", MappingProxyType(dict(self.machine_durations_s))
        )

    def duration_on(self, machine: Machine) -> float:
        explicit = self.machine_durations_s.get(machine.id)
        if explicit is not None:
            return float(explicit)
        return self.standard_duration_s / machine.speed_factor


@dataclass(frozen=True, slots=True)
class Job:
    """A job (work order) and its remaining operations.

    Routing precedence: by default the operations form a chain ordered by ``sequence``, which
    must be consecutive integers (a duplicate or a gap is reported as a missing/ambiguous step).
    When ``precedence`` edges ``(before_operation_id, after_operation_id)`` are given they
    define the precedence instead (any acyclic graph), and ``sequence`` only breaks ties.
    """

    id: str
    due_at_s: float
    operations: tuple[Operation, ...]
    release_at_s: float = 0.0
    precedence: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    anomaly_threshold: float = 0.6
    priority_tie_tolerance: float = 1e-9
    max_candidates_in_explanation: int = 5

    def __post_init__(self) -> None:
        if not 0.0 <= self.anomaly_threshold <= 1.0:
            raise SchedulingInputError("anomaly_threshold must lie in [0, 1]")
        if self.priority_tie_tolerance < 0:
            raise SchedulingInputError("priority_tie_tolerance must be ≥ 0")
        if self.max_candidates_in_explanation < 1:
            raise SchedulingInputError("max_candidates_in_explanation must be ≥ 1")


# --------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------


class AssignmentRule(enum.StrEnum):
    """Why an operation went to its machine."""

    HIGHEST_PRIORITY = "highest_priority"
    TIE_EARLIEST_FINISH = "tie_earliest_finish"
    ONLY_ELIGIBLE_MACHINE = "only_eligible_machine"
    HIGH_STRESS_ANOMALY = "high_stress_anomaly"
    MAINTENANCE_HORIZON = "maintenance_horizon"


class ExclusionRule(enum.StrEnum):
    """Why a capable machine was not used for an operation."""

    HIGH_STRESS_ANOMALY = "high_stress_anomaly"
    MAINTENANCE_HORIZON = "maintenance_horizon"


class UnschedulableReason(enum.StrEnum):
    NO_ELIGIBLE_MACHINE = "no_eligible_machine"
    DUPLICATE_SEQUENCE = "duplicate_sequence"
    GAPPED_SEQUENCE = "gapped_sequence"
    CYCLIC_ROUTING = "cyclic_routing"
    MISSING_ROUTING_STEP = "missing_routing_step"
    NON_POSITIVE_DURATION = "non_positive_duration"
    NO_TIME_BEFORE_MAINTENANCE = "no_time_before_maintenance"
    JOB_BLOCKED = "job_blocked"


class ChangeKind(enum.StrEnum):
    ADDED = "added"
    MOVED_MACHINE = "moved_machine"
    RESEQUENCED = "resequenced"
    RETIMED = "retimed"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class CandidateScore:
    """One machine compared for an operation. ``processing_time_s`` is TP(J, m)."""

    machine_id: str
    operation_duration_s: float
    processing_time_s: float
    health_penalty: float
    priority: float
    finish_s: float | None
    exclusion: ExclusionRule | None


@dataclass(frozen=True, slots=True)
class Explanation:
    """The numbers behind one placement, as data and as a sentence.

    ``candidates`` holds the best-ranked machines up to
    ``SchedulerConfig.max_candidates_in_explanation`` (always including the chosen one), then
    every machine the maintenance / RUL horizon excluded outright and every machine in anomaly
    that would have ranked above the chosen one but was excluded for a high-stress operation.
    ``sequencing`` is ``"critical_ratio"`` or ``"local_search"`` (the improvement step changed
    the operation's place on its machine).
    """

    operation_id: str
    job_id: str
    machine_id: str | None
    rule: str
    time_remaining_s: float
    processing_time_s: float | None
    critical_ratio: float
    bottleneck_weight: float | None
    anomaly_score: float | None
    degradation_per_h: float | None
    priority: float | None
    candidates: tuple[CandidateScore, ...]
    sequencing: str
    message: str


@dataclass(frozen=True, slots=True)
class PlannedSlot:
    """Where and when an operation is planned (the minimal record of a current plan)."""

    operation_id: str
    job_id: str
    machine_id: str
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class PlannedOperation(PlannedSlot):
    explanation: Explanation


@dataclass(frozen=True, slots=True)
class Unschedulable:
    job_id: str
    operation_id: str | None
    reason: UnschedulableReason
    message: str


@dataclass(frozen=True, slots=True)
class LateJob:
    job_id: str
    due_at_s: float
    planned_end_s: float | None
    lateness_s: float | None
    is_past_due_at_now: bool


@dataclass(frozen=True, slots=True)
class Plan:
    """Per machine, the planned operations in start order (every machine has a key)."""

    now_s: float
    machine_sequences: Mapping[str, tuple[PlannedOperation, ...]]
    job_end_s: Mapping[str, float]
    unschedulable: tuple[Unschedulable, ...]
    late_jobs: tuple[LateJob, ...]

    def operations(self) -> Iterator[PlannedOperation]:
        for sequence in self.machine_sequences.values():
            yield from sequence

    @property
    def operation_count(self) -> int:
        return sum(len(sequence) for sequence in self.machine_sequences.values())

    @property
    def end_s(self) -> float:
        """End of the last planned operation (``now_s`` for an empty plan)."""
        return max(
            (sequence[-1].end_s for sequence in self.machine_sequences.values() if sequence),
            default=self.now_s,
        )


@dataclass(frozen=True, slots=True)
class PlanChange:
    kind: ChangeKind
    operation_id: str
    job_id: str
    old_machine_id: str | None
    new_machine_id: str | None
    old_start_s: float | None
    new_start_s: float | None
    old_end_s: float | None
    new_end_s: float | None
    explanation: Explanation
    message: str


# --------------------------------------------------------------------------------------------
# Validation and preparation
# --------------------------------------------------------------------------------------------


def _check_finite(value: float, what: str) -> None:
    if not math.isfinite(value):
        raise SchedulingInputError(f"{what} must be a finite number, got {value!r}")


def _validate_machines(machines: Sequence[Machine]) -> None:
    seen: set[str] = set()
    for machine in machines:
        if machine.id in seen:
            raise SchedulingInputError(f"duplicate machine id {machine.id!r}")
        seen.add(machine.id)
        label = f"machine {machine.id!r}"
        for name in (
            "stress_limit_kn",
            "bottleneck_weight",
            "anomaly_score",
            "degradation_per_h",
            "available_from_s",
            "speed_factor",
        ):
            _check_finite(float(getattr(machine, name)), f"{label}: {name}")
        if not 0.0 <= machine.anomaly_score <= 1.0:
            raise SchedulingInputError(
                f"{label}: anomaly_score must lie in [0, 1], got {machine.anomaly_score}"
            )
        if machine.degradation_per_h < 0:
            raise SchedulingInputError(f"{label}: degradation_per_h must be ≥ 0")
        if machine.bottleneck_weight < 0:
            raise SchedulingInputError(f"{label}: bottleneck_weight must be ≥ 0")
        if machine.stress_limit_kn <= 0:
            raise SchedulingInputError(f"{label}: stress_limit_kn must be > 0")
        if machine.speed_factor <= 0:
            raise SchedulingInputError(f"{label}: speed_factor must be > 0")
        if machine.rul_p10_s is not None:
            _check_finite(machine.rul_p10_s, f"{label}: rul_p10_s")
            if machine.rul_p10_s < 0:
                raise SchedulingInputError(f"{label}: rul_p10_s must be ≥ 0 (a duration)")
        if machine.maintenance_window_start_s is not None:
            _check_finite(machine.maintenance_window_start_s, f"{label}: window start")
        if machine.maintenance_window_end_s is not None:
            _check_finite(machine.maintenance_window_end_s, f"{label}: window end")
            if machine.maintenance_window_start_s is None:
                raise SchedulingInputError(f"{label}: a window end needs a window start")
            if machine.maintenance_window_end_s < machine.maintenance_window_start_s:
                raise SchedulingInputError(f"{label}: maintenance window ends before it starts")


def _validate_jobs(jobs: Sequence[Job]) -> None:
    job_ids: set[str] = set()
    operation_ids: set[str] = set()
    for job in jobs:
        if job.id in job_ids:
            raise SchedulingInputError(f"duplicate job id {job.id!r}")
        job_ids.add(job.id)
        _check_finite(job.due_at_s, f"job {job.id!r}: due_at_s")
        _check_finite(job.release_at_s, f"job {job.id!r}: release_at_s")
        for operation in job.operations:
            if operation.id in operation_ids:
                raise SchedulingInputError(f"duplicate operation id {operation.id!r}")
            operation_ids.add(operation.id)
            if operation.job_id != job.id:
                raise SchedulingInputError(
                    f"operation {operation.id!r} names job {operation.job_id!r} "
                    f"but is listed under job {job.id!r}"
                )
            # NaN would slip through every comparison; ±inf is meaningless. Non-positive finite
            # durations are a per-job problem (reported as unschedulable), not an input error.
            _check_finite(operation.standard_duration_s, f"operation {operation.id!r}: duration")
            _check_finite(operation.force_kn, f"operation {operation.id!r}: force_kn")
            for machine_id, duration_s in operation.machine_durations_s.items():
                _check_finite(
                    float(duration_s), f"operation {operation.id!r}: duration on {machine_id!r}"
                )


@dataclass(slots=True)
class _Routing:
    """Precedence of one job over positions 0..k-1 of ``job.operations`` (sorted)."""

    operations: list[Operation]
    predecessors: list[list[int]]
    successors: list[list[int]]


def _job_routing(job: Job) -> _Routing | Unschedulable:
    operations = sorted(job.operations, key=lambda operation: (operation.sequence, operation.id))
    count = len(operations)
    predecessors: list[list[int]] = [[] for _ in range(count)]
    successors: list[list[int]] = [[] for _ in range(count)]
    if not job.precedence:
        for index in range(1, count):
            previous, current = operations[index - 1], operations[index]
            if current.sequence == previous.sequence:
                return Unschedulable(
                    job.id,
                    current.id,
                    UnschedulableReason.DUPLICATE_SEQUENCE,
                    f"job {job.id}: operations {previous.id} and {current.id} share sequence "
                    f"number {current.sequence}; the routing order is ambiguous",
                )
            if current.sequence != previous.sequence + 1:
                return Unschedulable(
                    job.id,
                    current.id,
                    UnschedulableReason.GAPPED_SEQUENCE,
                    f"job {job.id}: routing steps {previous.sequence + 1}–"
                    f"{current.sequence - 1} are missing between {previous.id} and {current.id}",
                )
            predecessors[index].append(index - 1)
            successors[index - 1].append(index)
        return _Routing(operations, predecessors, successors)

    position = {operation.id: index for index, operation in enumerate(operations)}
    for before_id, after_id in job.precedence:
        for operation_id in (before_id, after_id):
            if operation_id not in position:
                return Unschedulable(
                    job.id,
                    operation_id,
                    UnschedulableReason.MISSING_ROUTING_STEP,
                    f"job {job.id}: precedence names operation {operation_id}, "
                    "which is not one of the job's operations",
                )
        before, after = position[before_id], position[after_id]
        if before == after:
            return Unschedulable(
                job.id,
                before_id,
                UnschedulableReason.CYCLIC_ROUTING,
                f"job {job.id}: operation {before_id} is listed as its own predecessor",
            )
        if after not in successors[before]:
            successors[before].append(after)
            predecessors[after].append(before)
    # Kahn's algorithm: whatever keeps an in-degree is on a cycle.
    in_degree = [len(items) for items in predecessors]
    queue = [index for index in range(count) if in_degree[index] == 0]
    visited = 0
    while queue:
        index = queue.pop()
        visited += 1
        for successor in successors[index]:
            in_degree[successor] -= 1
            if in_degree[successor] == 0:
                queue.append(successor)
    if visited < count:
        on_cycle = [operations[index].id for index in range(count) if in_degree[index] > 0]
        return Unschedulable(
            job.id,
            on_cycle[0],
            UnschedulableReason.CYCLIC_ROUTING,
            f"job {job.id}: the precedence edges form a cycle through {', '.join(on_cycle)}",
        )
    return _Routing(operations, predecessors, successors)


def _machine_block(machine: Machine, now_s: float) -> tuple[float, float]:
    """The interval [start, end) in which the machine must not run (``inf`` if none)."""
    block_start = _INFINITY
    if machine.maintenance_window_start_s is not None:
        block_start = machine.maintenance_window_start_s
    if machine.rul_p10_s is not None:
        block_start = min(block_start, now_s + machine.rul_p10_s)
    if block_start == _INFINITY:
        return _INFINITY, _INFINITY
    block_end = _INFINITY
    if machine.maintenance_window_end_s is not None:
        block_end = machine.maintenance_window_end_s
    return block_start, block_end


class _Timeline:
    """Idle intervals of one machine: sorted disjoint gaps, then free from ``free_from_s``.

    The maintenance / RUL block [block_start_s, block_end_s) is kept apart from the gaps and
    applied when a start is searched, so the start without the block can be compared.
    """

    __slots__ = (
        "block_end_s",
        "block_start_s",
        "free_from_s",
        "gap_ends",
        "gap_starts",
        "max_gap_s",
    )

    def __init__(self, start_s: float, block_start_s: float, block_end_s: float) -> None:
        self.gap_starts: list[float] = []
        self.gap_ends: list[float] = []
        self.free_from_s = start_s
        self.block_start_s = block_start_s
        self.block_end_s = block_end_s
        self.max_gap_s = 0.0  # longest gap: no gap can hold a longer run

    @property
    def last_gap_end_s(self) -> float:
        return self.gap_ends[-1] if self.gap_ends else -_INFINITY

    @property
    def has_block(self) -> bool:
        return self.block_start_s < _INFINITY

    def earliest_start(
        self, ready_s: float, duration_s: float, *, respect_block: bool = True
    ) -> float:
        """Earliest start ≥ ready_s of an uninterrupted run of duration_s (``inf``: none)."""
        block_start = self.block_start_s if respect_block else _INFINITY
        block_end = self.block_end_s
        gap_starts, gap_ends = self.gap_starts, self.gap_ends
        index = bisect_left(gap_ends, ready_s + duration_s - _EPSILON_S)
        for gap_index in range(index, len(gap_ends)):
            gap_start = gap_starts[gap_index]
            start = ready_s if ready_s > gap_start else gap_start
            if start + duration_s > block_start + _EPSILON_S and start < block_end:
                start = block_end
            if start + duration_s <= gap_ends[gap_index] + _EPSILON_S:
                return start
        start = max(ready_s, self.free_from_s)
        if start + duration_s > block_start + _EPSILON_S and start < block_end:
            start = block_end
        return start

    def occupy(self, start_s: float, duration_s: float) -> None:
        end_s = start_s + duration_s
        if start_s >= self.free_from_s - _EPSILON_S:
            if start_s > self.free_from_s + _EPSILON_S:
                self.gap_starts.append(self.free_from_s)
                self.gap_ends.append(start_s)
                self.max_gap_s = max(self.max_gap_s, start_s - self.free_from_s)
            self.free_from_s = end_s
            return
        index = bisect_left(self.gap_ends, end_s - _EPSILON_S)
        gap_start, gap_end = self.gap_starts[index], self.gap_ends[index]
        is_longest = gap_end - gap_start >= self.max_gap_s
        replacement_starts: list[float] = []
        replacement_ends: list[float] = []
        if start_s > gap_start + _EPSILON_S:
            replacement_starts.append(gap_start)
            replacement_ends.append(start_s)
        if gap_end > end_s + _EPSILON_S:
            replacement_starts.append(end_s)
            replacement_ends.append(gap_end)
        self.gap_starts[index : index + 1] = replacement_starts
        self.gap_ends[index : index + 1] = replacement_ends
        if is_longest:  # the split gap may have been the longest: measure again
            self.max_gap_s = max(
                (end - start for start, end in zip(self.gap_starts, self.gap_ends, strict=True)),
                default=0.0,
            )


# --------------------------------------------------------------------------------------------
# Scheduling
# --------------------------------------------------------------------------------------------


def _ratio_term(time_remaining_s: float, processing_time_s: float, minimum_s: float) -> float:
    if time_remaining_s > 0:
        return time_remaining_s / processing_time_s
    return time_remaining_s * processing_time_s / (minimum_s * minimum_s)


_priority_of = itemgetter(0)  # sort key of the ranked candidates (C speed)


def _rule_sentence(rule: AssignmentRule, excluded_machine: str | None) -> str:
    if rule is AssignmentRule.HIGH_STRESS_ANOMALY:
        return (
            f"machine {excluded_machine} ranked higher but is in anomaly and the operation "
            "is high-stress"
        )
    if rule is AssignmentRule.MAINTENANCE_HORIZON:
        return (
            f"machine {excluded_machine} ranked higher but the operation would not finish "
            "before its maintenance window / RUL p10"
        )
    if rule is AssignmentRule.TIE_EARLIEST_FINISH:
        return "tied on priority; it finishes first"
    if rule is AssignmentRule.ONLY_ELIGIBLE_MACHINE:
        return "the only eligible machine"
    return "highest priority"


# Operations with at least this many eligible machines are ranked with numpy arrays (same
# arithmetic, same order, so the same plan); fewer are ranked in a plain loop.
_VECTOR_MIN_CANDIDATES = 16


class _Mirrors:
    """numpy copies of the machines' state for the vectorised ranking of wide operations."""

    __slots__ = (
        "block",
        "free_from",
        "index_arrays",
        "last_gap_end",
        "longest_gap",
        "penalty",
        "speed",
    )

    def __init__(
        self, timelines: list[_Timeline], speed_factors: list[float], penalties: list[float]
    ) -> None:
        self.free_from = np.array([timeline.free_from_s for timeline in timelines])
        self.longest_gap = np.zeros(len(timelines))
        self.last_gap_end = np.full(len(timelines), -_INFINITY)
        self.block = np.array([timeline.has_block for timeline in timelines], dtype=bool)
        self.speed = np.array(speed_factors, dtype=float)
        self.penalty = np.array(penalties, dtype=float)
        self.index_arrays: dict[int, np.ndarray] = {}

    def update(self, machine_index: int, timeline: _Timeline) -> None:
        self.free_from[machine_index] = timeline.free_from_s
        self.longest_gap[machine_index] = timeline.max_gap_s
        self.last_gap_end[machine_index] = timeline.last_gap_end_s

    def indices(self, allowed: list[int]) -> np.ndarray:
        # Keyed by the list's id: the capability lists and cached splits live for the call.
        array = self.index_arrays.get(id(allowed))
        if array is None:
            array = np.array(allowed, dtype=np.intp)
            self.index_arrays[id(allowed)] = array
        return array


def _rank_vectorized(
    mirrors: _Mirrors | None,
    timelines: list[_Timeline],
    allowed: list[int],
    explicit: list[float] | None,
    standard: float,
    ready: float,
    now_s: float,
    others_s: float,
    time_remaining: float,
    late_scale: float,
    tolerance: float,
    max_candidates: int,
    horizon_pushed: list[int],
    horizon_excluded: list[int],
) -> list[tuple[float, int, float, float, float]]:
    """The loop of :func:`schedule` over many machines at once, with numpy.

    Returns the best candidates (priority, machine index, duration, TP, start), sorted like
    the loop's stable sort, cut to ``max(max_candidates, number tied with the best)``.
    Machines with a usable gap or a maintenance block are resolved one by one, exactly as
    the loop does.
    """
    assert mirrors is not None
    indices = mirrors.indices(allowed)
    durations = np.array(explicit) if explicit is not None else standard / mirrors.speed[indices]
    starts = np.maximum(mirrors.free_from[indices], ready)
    special = np.flatnonzero(
        (
            (mirrors.longest_gap[indices] >= durations - _EPSILON_S)
            & (mirrors.last_gap_end[indices] >= ready + durations - _EPSILON_S)
        )
        | mirrors.block[indices]
    )
    keep = None
    for position in special.tolist():
        machine_index = allowed[position]
        duration = float(durations[position])
        timeline = timelines[machine_index]
        if (
            mirrors.longest_gap[machine_index] >= duration - _EPSILON_S
            and mirrors.last_gap_end[machine_index] >= ready + duration - _EPSILON_S
        ):
            start = timeline.earliest_start(ready, duration, respect_block=False)
        else:
            start = float(starts[position])
        if timeline.has_block and (
            start + duration > timeline.block_start_s + _EPSILON_S and start < timeline.block_end_s
        ):
            blocked_start = timeline.earliest_start(ready, duration)
            if blocked_start > start:
                horizon_pushed.append(machine_index)
            start = blocked_start
            if start == _INFINITY:
                horizon_excluded.append(machine_index)
                if keep is None:
                    keep = np.ones(len(allowed), dtype=bool)
                keep[position] = False
                start = 0.0
        starts[position] = start
    processing = starts + durations - now_s + others_s
    if time_remaining > 0:
        priorities = time_remaining / processing - mirrors.penalty[indices]
    else:
        priorities = late_scale * processing - mirrors.penalty[indices]
    positions = np.arange(len(allowed)) if keep is None else np.flatnonzero(keep)
    if positions.size == 0:
        return []
    order = positions[np.argsort(-priorities[positions], kind="stable")]
    ordered = priorities[order]
    tied = int(np.count_nonzero(ordered >= ordered[0] - tolerance))
    top = order[: max(max_candidates, tied)].tolist()
    return [
        (
            float(priorities[position]),
            allowed[position],
            float(durations[position]),
            float(processing[position]),
            float(starts[position]),
        )
        for position in top
    ]


def schedule(
    machines: Sequence[Machine],
    jobs: Sequence[Job],
    now_s: float,
    *,
    config: SchedulerConfig | None = None,
    improvement: ImprovementConfig | None = None,
) -> Plan:
    """Build a plan for ``jobs`` on ``machines`` from ``now_s`` (epoch seconds).

    With ``improvement`` the plan is then passed through :func:`improve_plan`.
    Raises :class:`SchedulingInputError` for malformed input (duplicate ids, NaN, α outside
    [0, 1], ...); problems of single jobs are reported in ``Plan.unschedulable``.
    """
    config = config or SchedulerConfig()
    _check_finite(now_s, "now_s")
    _validate_machines(machines)
    _validate_jobs(jobs)

    machine_count = len(machines)
    machine_ids = [machine.id for machine in machines]
    penalties = [machine.health_penalty for machine in machines]
    speed_factors = [machine.speed_factor for machine in machines]
    in_anomaly = [machine.is_in_anomaly(config.anomaly_threshold) for machine in machines]
    by_capability: dict[str, list[int]] = {}
    for machine_index, machine in enumerate(machines):
        for capability in machine.capabilities:
            by_capability.setdefault(capability, []).append(machine_index)
    timelines = []
    for machine in machines:
        block_start, block_end = _machine_block(machine, now_s)
        timelines.append(_Timeline(max(now_s, machine.available_from_s), block_start, block_end))

    has_block = [timeline.has_block for timeline in timelines]
    # Mirrors of each timeline for the hot loop (updated when an operation is placed): where
    # the machine is free for good, its longest gap and the end of its last gap. A gap can
    # only take an operation that fits in the longest gap and ends before the last gap ends.
    free_from = [timeline.free_from_s for timeline in timelines]
    longest_gap = [0.0] * machine_count
    last_gap_end = [-_INFINITY] * machine_count
    widest = max((len(indices) for indices in by_capability.values()), default=0)
    mirrors = (
        _Mirrors(timelines, speed_factors, penalties) if widest >= _VECTOR_MIN_CANDIDATES else None
    )
    # Per capability, the lowest stress limit among its machines in anomaly: operations with
    # less force than that cannot be excluded by the anomaly rule.
    lowest_anomalous_limit: dict[str, float] = {}
    for capability, indices in by_capability.items():
        limits = [machines[index].stress_limit_kn for index in indices if in_anomaly[index]]
        if limits:
            lowest_anomalous_limit[capability] = min(limits)
    unschedulable: list[Unschedulable] = []
    # (capability, force) → (machines the anomaly rule excludes, machines allowed).
    anomaly_split: dict[tuple[str, float], tuple[list[int], list[int]]] = {}
    # id of an allowed-machine list (the capability lists and the cached splits, alive for
    # the whole call) → the highest speed factor among them.
    fastest_speed_of: dict[int, float] = {}

    # Per job: routing, eligible (machine, duration) pairs per operation, fastest duration.
    job_routings: list[_Routing] = []
    job_list: list[Job] = []
    job_options: list[list[list[int]]] = []
    job_durations: list[list[list[float] | None]] = []
    job_excluded: list[list[list[int]]] = []
    job_fastest: list[list[float]] = []
    for job in jobs:
        if not job.operations:
            continue
        routing = _job_routing(job)
        if isinstance(routing, Unschedulable):
            unschedulable.extend(_block_job(job, routing))
            continue
        options_per_operation: list[list[int]] = []
        durations_per_operation: list[list[float] | None] = []
        excluded_per_operation: list[list[int]] = []
        fastest_per_operation: list[float] = []
        problem: Unschedulable | None = None
        for operation in routing.operations:
            if operation.standard_duration_s <= 0 or any(
                float(value) <= 0 for value in operation.machine_durations_s.values()
            ):
                problem = Unschedulable(
                    job.id,
                    operation.id,
                    UnschedulableReason.NON_POSITIVE_DURATION,
                    f"operation {operation.id}: processing time must be > 0 s",
                )
                break
            capable = by_capability.get(operation.capability, [])
            force = operation.force_kn
            excluded: list[int]
            if force > lowest_anomalous_limit.get(operation.capability, _INFINITY):
                key = (operation.capability, force)
                split = anomaly_split.get(key)
                if split is None:
                    excluded_set = {
                        index
                        for index in capable
                        if in_anomaly[index] and force > machines[index].stress_limit_kn
                    }
                    split = (
                        sorted(excluded_set),
                        [index for index in capable if index not in excluded_set],
                    )
                    anomaly_split[key] = split
                excluded, allowed = split
            else:
                excluded, allowed = [], capable
            if not allowed:
                if capable:
                    message = (
                        f"operation {operation.id}: every machine with capability "
                        f"{operation.capability!r} is in anomaly and the operation is "
                        f"high-stress ({operation.force_kn:g} kN)"
                    )
                else:
                    message = (
                        f"operation {operation.id}: no machine has capability "
                        f"{operation.capability!r}"
                    )
                problem = Unschedulable(
                    job.id, operation.id, UnschedulableReason.NO_ELIGIBLE_MACHINE, message
                )
                break
            options_per_operation.append(allowed)
            excluded_per_operation.append(excluded)
            if operation.machine_durations_s:
                durations = [operation.duration_on(machines[index]) for index in allowed]
                durations_per_operation.append(durations)
                fastest_per_operation.append(min(durations))
            else:
                durations_per_operation.append(None)
                fastest_speed = fastest_speed_of.get(id(allowed))
                if fastest_speed is None:
                    fastest_speed = max(speed_factors[index] for index in allowed)
                    fastest_speed_of[id(allowed)] = fastest_speed
                fastest_per_operation.append(operation.standard_duration_s / fastest_speed)
        if problem is not None:
            unschedulable.extend(_block_job(job, problem))
            continue
        job_routings.append(routing)
        job_list.append(job)
        job_options.append(options_per_operation)
        job_durations.append(durations_per_operation)
        job_excluded.append(excluded_per_operation)
        job_fastest.append(fastest_per_operation)

    job_count = len(job_list)
    remaining_s = [sum(fastest) for fastest in job_fastest]
    time_remaining = [job.due_at_s - now_s for job in job_list]
    pending_predecessors = [
        [len(items) for items in routing.predecessors] for routing in job_routings
    ]
    ready_s = [[max(now_s, job.release_at_s)] * len(job.operations) for job in job_list]
    is_blocked = [False] * job_count
    job_end_s: dict[str, float] = {}

    heap: list[tuple[float, float, int, int, int]] = []
    counter = 0
    for job_index in range(job_count):
        critical_ratio = time_remaining[job_index] / remaining_s[job_index]
        for position, count in enumerate(pending_predecessors[job_index]):
            if count == 0:
                heap.append(
                    (critical_ratio, job_list[job_index].due_at_s, counter, job_index, position)
                )
                counter += 1
    heapq.heapify(heap)

    placed: list[list[PlannedOperation]] = [[] for _ in range(machine_count)]
    tolerance = config.priority_tie_tolerance
    max_candidates = config.max_candidates_in_explanation

    while heap:
        critical_ratio, _, _, job_index, position = heapq.heappop(heap)
        if is_blocked[job_index]:
            continue
        job = job_list[job_index]
        operation = job_routings[job_index].operations[position]
        allowed = job_options[job_index][position]
        explicit = job_durations[job_index][position]
        standard = operation.standard_duration_s
        fastest = job_fastest[job_index][position]
        remaining = remaining_s[job_index]
        others_s = remaining - fastest
        tr = time_remaining[job_index]
        ready = ready_s[job_index][position]

        # Candidates: (priority, machine index, duration, TP, start); TP runs from now_s to
        # the end of the job if this operation goes to the machine.
        ranked: list[tuple[float, int, float, float, float]] = []
        horizon_pushed: list[int] = []
        horizon_excluded: list[int] = []
        late_scale = tr / (remaining * remaining)
        if len(allowed) >= _VECTOR_MIN_CANDIDATES:
            ranked = _rank_vectorized(
                mirrors,
                timelines,
                allowed,
                explicit,
                standard,
                ready,
                now_s,
                others_s,
                tr,
                late_scale,
                tolerance,
                max_candidates,
                horizon_pushed,
                horizon_excluded,
            )
        scalar_durations: Sequence[float] = (
            ()
            if len(allowed) >= _VECTOR_MIN_CANDIDATES
            else explicit
            if explicit is not None
            else [standard / speed_factors[index] for index in allowed]
        )
        for machine_index, duration in zip(allowed, scalar_durations, strict=False):
            if (
                longest_gap[machine_index] >= duration - _EPSILON_S
                and last_gap_end[machine_index] >= ready + duration - _EPSILON_S
            ):
                start = timelines[machine_index].earliest_start(
                    ready, duration, respect_block=False
                )
            else:  # no gap can hold it: the machine's free end decides
                machine_free_from = free_from[machine_index]
                start = ready if ready > machine_free_from else machine_free_from
            if has_block[machine_index]:
                # The block moves the start only if the unblocked run overlaps it.
                timeline = timelines[machine_index]
                if (
                    start + duration > timeline.block_start_s + _EPSILON_S
                    and start < timeline.block_end_s
                ):
                    blocked_start = timeline.earliest_start(ready, duration)
                    if blocked_start > start:
                        horizon_pushed.append(machine_index)
                    start = blocked_start
                    if start == _INFINITY:
                        horizon_excluded.append(machine_index)
                        continue
            processing = start + duration - now_s + others_s
            # Inlined _ratio_term (this loop is the scheduler's hot path).
            ratio = tr / processing if tr > 0 else late_scale * processing
            ranked.append(
                (ratio - penalties[machine_index], machine_index, duration, processing, start)
            )

        if not ranked:
            is_blocked[job_index] = True
            names = ", ".join(machine_ids[index] for index in horizon_excluded)
            # The job's operations not placed yet are listed as blocked by _assemble_plan.
            unschedulable.append(
                Unschedulable(
                    job.id,
                    operation.id,
                    UnschedulableReason.NO_TIME_BEFORE_MAINTENANCE,
                    f"operation {operation.id}: no eligible machine ({names}) can finish it "
                    "before its maintenance window / RUL p10",
                )
            )
            continue

        if scalar_durations:  # the vectorised ranking comes sorted (and cut to what is needed)
            ranked.sort(key=_priority_of, reverse=True)  # stable: equal priorities keep order
        best_priority = ranked[0][0]
        tied = [item for item in ranked if item[0] >= best_priority - tolerance]
        chosen = min(tied, key=lambda item: (item[4] + item[2], -item[0], item[1]))
        priority, machine_index, duration, processing, start = chosen
        chosen_timeline = timelines[machine_index]
        chosen_timeline.occupy(start, duration)
        free_from[machine_index] = chosen_timeline.free_from_s
        longest_gap[machine_index] = chosen_timeline.max_gap_s
        last_gap_end[machine_index] = chosen_timeline.last_gap_end_s
        if mirrors is not None:
            mirrors.update(machine_index, chosen_timeline)
        end = start + duration

        rule_machine: str | None = None
        rule = AssignmentRule.HIGHEST_PRIORITY
        excluded_anomaly = job_excluded[job_index][position]
        # Machines the anomaly rule excluded that would have ranked higher. A start is never
        # before ``ready``, which bounds their priority from above and skips most of them.
        anomaly_scores: dict[int, float] = {}
        explicit_durations = operation.machine_durations_s
        for index in excluded_anomaly:
            excluded_duration = (
                operation.duration_on(machines[index])
                if explicit_durations
                else operation.standard_duration_s / speed_factors[index]
            )
            earliest_processing = ready + excluded_duration - now_s + others_s
            if _ratio_term(tr, earliest_processing, remaining) - penalties[index] <= priority:
                continue
            if has_block[index] or (
                longest_gap[index] >= excluded_duration - _EPSILON_S
                and last_gap_end[index] >= ready + excluded_duration - _EPSILON_S
            ):
                value = _hypothetical_priority(
                    timelines[index],
                    machines[index],
                    operation,
                    ready,
                    now_s,
                    tr,
                    others_s,
                    remaining,
                    penalties[index],
                    respect_block=True,
                )
            else:  # no gap, no block: it would start when the machine is free
                excluded_start = ready if ready > free_from[index] else free_from[index]
                value = (
                    _ratio_term(
                        tr, excluded_start + excluded_duration - now_s + others_s, remaining
                    )
                    - penalties[index]
                )
            if value > priority:
                anomaly_scores[index] = value
        better_anomaly = list(anomaly_scores)
        better_horizon = [
            index
            for index in horizon_pushed
            if index != machine_index
            and _hypothetical_priority(
                timelines[index],
                machines[index],
                operation,
                ready,
                now_s,
                tr,
                others_s,
                remaining,
                penalties[index],
                respect_block=False,
            )
            > priority
        ]
        if better_anomaly:
            rule, rule_machine = AssignmentRule.HIGH_STRESS_ANOMALY, machine_ids[better_anomaly[0]]
        elif better_horizon:
            rule = AssignmentRule.MAINTENANCE_HORIZON
            rule_machine = machine_ids[better_horizon[0]]
        elif len(allowed) == 1:
            rule = AssignmentRule.ONLY_ELIGIBLE_MACHINE
        elif len(tied) > 1:
            rule = AssignmentRule.TIE_EARLIEST_FINISH

        candidates: list[CandidateScore] = []
        chosen_rank = ranked.index(chosen)
        for item in ranked[: max(max_candidates, chosen_rank + 1)]:
            item_machine = item[1]
            candidates.append(
                CandidateScore(
                    machine_ids[item_machine],
                    item[2],
                    item[3],
                    penalties[item_machine],
                    item[0],
                    item[4] + item[2],
                    ExclusionRule.MAINTENANCE_HORIZON if item_machine in better_horizon else None,
                )
            )
        for excluded_index in horizon_excluded:
            candidates.append(
                CandidateScore(
                    machine_ids[excluded_index],
                    operation.duration_on(machines[excluded_index]),
                    _INFINITY,
                    penalties[excluded_index],
                    -_INFINITY,
                    None,
                    ExclusionRule.MAINTENANCE_HORIZON,
                )
            )
        for excluded_index in better_anomaly:
            excluded_duration = operation.duration_on(machines[excluded_index])
            excluded_start = timelines[excluded_index].earliest_start(ready, excluded_duration)
            candidates.append(
                CandidateScore(
                    machine_ids[excluded_index],
                    excluded_duration,
                    excluded_start + excluded_duration - now_s + others_s,
                    penalties[excluded_index],
                    anomaly_scores[excluded_index],
                    None,
                    ExclusionRule.HIGH_STRESS_ANOMALY,
                )
            )
        machine = machines[machine_index]
        explanation = Explanation(
            operation_id=operation.id,
            job_id=job.id,
            machine_id=machine.id,
            rule=rule.value,
            time_remaining_s=tr,
            processing_time_s=processing,
            critical_ratio=critical_ratio,
            bottleneck_weight=machine.bottleneck_weight,
            anomaly_score=machine.anomaly_score,
            degradation_per_h=machine.degradation_per_h,
            priority=priority,
            candidates=tuple(candidates),
            sequencing="critical_ratio",
            message=(
                f"{operation.id} (job {job.id}) → {machine.id} at {start:.0f}–{end:.0f}: "
                f"priority {priority:.4g} = "
                + (
                    f"TR {tr:.0f} s / TP {processing:.0f} s − "
                    if tr > 0
                    else f"TR {tr:.0f} s · TP {processing:.0f} s / TP_min {remaining:.0f} s² "
                    "(job past due) − "
                )
                + f"θ {machine.bottleneck_weight:g}·α {machine.anomaly_score:g}·"
                f"δ {machine.degradation_per_h:g}/h; {_rule_sentence(rule, rule_machine)}"
            ),
        )
        placed[machine_index].append(
            PlannedOperation(operation.id, job.id, machine.id, start, end, explanation)
        )

        remaining_s[job_index] = remaining - fastest
        routing = job_routings[job_index]
        previous_end = job_end_s.get(job.id, -_INFINITY)
        job_end_s[job.id] = max(previous_end, end)
        new_ratio = tr / max(remaining_s[job_index], _EPSILON_S)
        for successor in routing.successors[position]:
            ready_s[job_index][successor] = max(ready_s[job_index][successor], end)
            pending_predecessors[job_index][successor] -= 1
            if pending_predecessors[job_index][successor] == 0:
                heapq.heappush(heap, (new_ratio, job.due_at_s, counter, job_index, successor))
                counter += 1

    plan = _assemble_plan(now_s, machine_ids, placed, jobs, job_end_s, unschedulable)
    if improvement is not None:
        return improve_plan(plan, machines, jobs, config=improvement).plan
    return plan


def _hypothetical_priority(
    timeline: _Timeline,
    machine: Machine,
    operation: Operation,
    ready_s: float,
    now_s: float,
    time_remaining_s: float,
    others_s: float,
    remaining_s: float,
    penalty: float,
    *,
    respect_block: bool,
) -> float:
    """Priority the operation would get on a machine a hard rule keeps it from."""
    duration = operation.duration_on(machine)
    start = timeline.earliest_start(ready_s, duration, respect_block=respect_block)
    if start == _INFINITY:
        return -_INFINITY
    processing = start + duration - now_s + others_s
    return _ratio_term(time_remaining_s, processing, remaining_s) - penalty


def _block_job(job: Job, problem: Unschedulable) -> list[Unschedulable]:
    entries = [problem]
    for operation in sorted(job.operations, key=lambda item: (item.sequence, item.id)):
        if operation.id != problem.operation_id:
            entries.append(
                Unschedulable(
                    job.id,
                    operation.id,
                    UnschedulableReason.JOB_BLOCKED,
                    f"operation {operation.id}: not scheduled because {problem.message}",
                )
            )
    return entries


def _late_jobs(
    jobs: Sequence[Job], now_s: float, job_end_s: Mapping[str, float], blocked_jobs: set[str]
) -> tuple[LateJob, ...]:
    """Jobs past due at ``now_s`` or planned to end after their due date."""
    late: list[LateJob] = []
    for job in jobs:
        if not job.operations:
            continue
        job_end = None if job.id in blocked_jobs else job_end_s.get(job.id)
        is_past_due = job.due_at_s < now_s
        if is_past_due or (job_end is not None and job_end > job.due_at_s + _EPSILON_S):
            lateness = None if job_end is None else job_end - job.due_at_s
            late.append(LateJob(job.id, job.due_at_s, job_end, lateness, is_past_due))
    return tuple(late)


def _assemble_plan(
    now_s: float,
    machine_ids: list[str],
    placed: list[list[PlannedOperation]],
    jobs: Sequence[Job],
    job_end_s: dict[str, float],
    unschedulable: list[Unschedulable],
) -> Plan:
    placed_ids = {item.operation_id for sequence in placed for item in sequence}
    listed_ids = {item.operation_id for item in unschedulable}
    blocked_jobs = {item.job_id: item for item in unschedulable}
    extra: list[Unschedulable] = []
    for job in jobs:
        if job.id not in blocked_jobs:
            continue
        cause = next(
            item for item in unschedulable if item.job_id == job.id and item.reason != "job_blocked"
        )
        for operation in sorted(job.operations, key=lambda item: (item.sequence, item.id)):
            if operation.id not in placed_ids and operation.id not in listed_ids:
                extra.append(
                    Unschedulable(
                        job.id,
                        operation.id,
                        UnschedulableReason.JOB_BLOCKED,
                        f"operation {operation.id}: not scheduled because {cause.message}",
                    )
                )
    sequences = {
        machine_id: tuple(sorted(items, key=lambda item: (item.start_s, item.end_s)))
        for machine_id, items in zip(machine_ids, placed, strict=True)
    }
    late = _late_jobs(jobs, now_s, job_end_s, set(blocked_jobs))
    return Plan(
        now_s=now_s,
        machine_sequences=MappingProxyType(sequences),
        job_end_s=MappingProxyType(
            {job_id: end for job_id, end in job_end_s.items() if job_id not in blocked_jobs}
        ),
        unschedulable=tuple(unschedulable + extra),
        late_jobs=late,
    )


# --------------------------------------------------------------------------------------------
# Plan changes
# --------------------------------------------------------------------------------------------


def diff_plans(
    current: Plan | Iterable[PlannedSlot],
    new: Plan,
    *,
    retime_tolerance_s: float = 1.0,
) -> tuple[PlanChange, ...]:
    """What changes between the current plan and a new one, each with its explanation.

    Per operation the most significant change is reported: moved to another machine, else
    resequenced (its order among the operations that stay on the machine changed), else
    retimed (start or end moved by more than ``retime_tolerance_s``). Operations only in the
    new plan are ``added``; operations of the current plan that are now unschedulable or gone
    are ``removed`` (with the reason when the new plan has one).
    """
    current_slots: list[PlannedSlot] = (
        list(current.operations()) if isinstance(current, Plan) else list(current)
    )
    old_by_id = {slot.operation_id: slot for slot in current_slots}
    new_by_id = {item.operation_id: item for item in new.operations()}

    def ranks(slots: Iterable[PlannedSlot], keep: set[str]) -> dict[str, int]:
        by_machine: dict[str, list[PlannedSlot]] = {}
        for slot in slots:
            if slot.operation_id in keep:
                by_machine.setdefault(slot.machine_id, []).append(slot)
        result: dict[str, int] = {}
        for items in by_machine.values():
            items.sort(key=lambda slot: (slot.start_s, slot.end_s, slot.operation_id))
            for rank, slot in enumerate(items):
                result[slot.operation_id] = rank
        return result

    staying = {
        operation_id
        for operation_id, slot in old_by_id.items()
        if operation_id in new_by_id and new_by_id[operation_id].machine_id == slot.machine_id
    }
    old_ranks = ranks(current_slots, staying)
    new_ranks = ranks(new_by_id.values(), staying)

    changes: list[PlanChange] = []
    for operation_id, item in new_by_id.items():
        old = old_by_id.get(operation_id)
        explanation = item.explanation
        if old is None:
            kind = ChangeKind.ADDED
            message = f"{operation_id} added on {item.machine_id} at {item.start_s:.0f}"
        elif old.machine_id != item.machine_id:
            kind = ChangeKind.MOVED_MACHINE
            message = f"{operation_id} moved from {old.machine_id} to {item.machine_id}"
        elif old_ranks[operation_id] != new_ranks[operation_id]:
            kind = ChangeKind.RESEQUENCED
            message = (
                f"{operation_id} resequenced on {item.machine_id}: position "
                f"{old_ranks[operation_id] + 1} → {new_ranks[operation_id] + 1}"
            )
        elif (
            abs(old.start_s - item.start_s) > retime_tolerance_s
            or abs(old.end_s - item.end_s) > retime_tolerance_s
        ):
            kind = ChangeKind.RETIMED
            message = (
                f"{operation_id} retimed on {item.machine_id}: start {old.start_s:.0f} → "
                f"{item.start_s:.0f}"
            )
        else:
            continue
        changes.append(
            PlanChange(
                kind,
                operation_id,
                item.job_id,
                None if old is None else old.machine_id,
                item.machine_id,
                None if old is None else old.start_s,
                item.start_s,
                None if old is None else old.end_s,
                item.end_s,
                explanation,
                f"{message}. {explanation.message}",
            )
        )
    unschedulable_by_id = {
        entry.operation_id: entry for entry in new.unschedulable if entry.operation_id
    }
    for operation_id, old in old_by_id.items():
        if operation_id in new_by_id:
            continue
        entry = unschedulable_by_id.get(operation_id)
        reason = entry.reason.value if entry else "not_in_new_plan"
        reason_message = entry.message if entry else "the operation is no longer to be scheduled"
        explanation = Explanation(
            operation_id=operation_id,
            job_id=old.job_id,
            machine_id=None,
            rule=reason,
            time_remaining_s=math.nan,
            processing_time_s=None,
            critical_ratio=math.nan,
            bottleneck_weight=None,
            anomaly_score=None,
            degradation_per_h=None,
            priority=None,
            candidates=(),
            sequencing="none",
            message=reason_message,
        )
        changes.append(
            PlanChange(
                ChangeKind.REMOVED,
                operation_id,
                old.job_id,
                old.machine_id,
                None,
                old.start_s,
                None,
                old.end_s,
                None,
                explanation,
                f"{operation_id} removed from {old.machine_id}: {reason_message}",
            )
        )
    return tuple(changes)


# --------------------------------------------------------------------------------------------
# Improvement step: tabu search over machine sequences
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImprovementConfig:
    """Budget and objective of :func:`improve_plan`.

    ``objective``: ``"makespan"`` (end of the last operation) or ``"max_lateness"``
    (max over jobs of end − due). The search stops after ``max_iterations`` moves, after
    ``time_budget_s`` seconds of wall-clock time when given, or when no move exists.
    """

    seed: int = 0
    max_iterations: int = 2000
    time_budget_s: float | None = None
    objective: str = "makespan"
    tabu_tenure_min: int = 6
    tabu_tenure_max: int = 14
    restart_after_iterations: int = 400

    def __post_init__(self) -> None:
        if self.objective not in ("makespan", "max_lateness"):
            raise SchedulingInputError("objective must be 'makespan' or 'max_lateness'")
        if self.max_iterations < 0:
            raise SchedulingInputError("max_iterations must be ≥ 0")
        if self.time_budget_s is not None and self.time_budget_s < 0:
            raise SchedulingInputError("time_budget_s must be ≥ 0")
        if not 1 <= self.tabu_tenure_min <= self.tabu_tenure_max:
            raise SchedulingInputError("need 1 ≤ tabu_tenure_min ≤ tabu_tenure_max")
        if self.restart_after_iterations < 1:
            raise SchedulingInputError("restart_after_iterations must be ≥ 1")


@dataclass(frozen=True, slots=True)
class ImprovementResult:
    plan: Plan
    initial_objective_s: float
    objective_s: float
    iterations: int
    improving_moves: int


class _Graph:
    """Disjunctive graph of a plan: job precedence arcs plus the machine sequences."""

    def __init__(
        self,
        durations: list[float],
        releases: list[float],
        tail_ends: list[float],
        job_predecessors: list[list[int]],
        job_successors: list[list[int]],
        machine_of: list[int],
        sequences: list[list[int]],
        blocks: list[tuple[float, float]],
    ) -> None:
        self.durations = durations
        self.releases = releases
        self.tail_ends = tail_ends
        self.job_predecessors = job_predecessors
        self.job_successors = job_successors
        self.machine_of = machine_of
        self.sequences = sequences
        self.blocks = blocks
        count = len(durations)
        self.position = [0] * count
        self.heads = [0.0] * count
        self.tails = [0.0] * count
        self.reindex()

    def reindex(self) -> None:
        for sequence in self.sequences:
            for index, node in enumerate(sequence):
                self.position[node] = index

    def machine_predecessor(self, node: int) -> int:
        index = self.position[node]
        return self.sequences[self.machine_of[node]][index - 1] if index > 0 else -1

    def machine_successor(self, node: int) -> int:
        sequence = self.sequences[self.machine_of[node]]
        index = self.position[node] + 1
        return sequence[index] if index < len(sequence) else -1

    def evaluate(self) -> float | None:
        """Heads, tails and objective; ``None`` if the sequences form a cycle or a block."""
        count = len(self.durations)
        durations, heads, releases = self.durations, self.heads, self.releases
        job_predecessors, job_successors = self.job_predecessors, self.job_successors
        machine_of, position, sequences, blocks = (
            self.machine_of,
            self.position,
            self.sequences,
            self.blocks,
        )
        in_degree = [
            len(job_predecessors[node]) + (1 if position[node] > 0 else 0) for node in range(count)
        ]
        stack = [node for node in range(count) if in_degree[node] == 0]
        order: list[int] = []
        while stack:
            node = stack.pop()
            order.append(node)
            start = releases[node]
            for predecessor in job_predecessors[node]:
                end = heads[predecessor] + durations[predecessor]
                if end > start:
                    start = end
            machine = machine_of[node]
            index = position[node]
            sequence = sequences[machine]
            if index > 0:
                predecessor = sequence[index - 1]
                end = heads[predecessor] + durations[predecessor]
                if end > start:
                    start = end
            block_start, block_end = blocks[machine]
            if start + durations[node] > block_start + _EPSILON_S and start < block_end:
                start = block_end
                if start == _INFINITY:
                    return None
            heads[node] = start
            for successor in job_successors[node]:
                in_degree[successor] -= 1
                if in_degree[successor] == 0:
                    stack.append(successor)
            if index + 1 < len(sequence):
                successor = sequence[index + 1]
                in_degree[successor] -= 1
                if in_degree[successor] == 0:
                    stack.append(successor)
        if len(order) < count:
            return None
        tails, tail_ends = self.tails, self.tail_ends
        objective = -_INFINITY
        for node in reversed(order):
            tail = tail_ends[node]
            for successor in job_successors[node]:
                value = durations[successor] + tails[successor]
                if value > tail:
                    tail = value
            sequence = sequences[machine_of[node]]
            index = position[node] + 1
            if index < len(sequence):
                successor = sequence[index]
                value = durations[successor] + tails[successor]
                if value > tail:
                    tail = value
            tails[node] = tail
            value = heads[node] + durations[node] + tail_ends[node]
            if value > objective:
                objective = value
        return objective

    def critical_blocks(self, objective: float) -> list[list[int]]:
        durations, heads, tail_ends = self.durations, self.heads, self.tail_ends
        end_node = -1
        for node in range(len(durations)):
            if abs(heads[node] + durations[node] + tail_ends[node] - objective) <= 1e-6:
                end_node = node
                break
        path = [end_node]
        node = end_node
        while True:
            start = heads[node]
            predecessor = self.machine_predecessor(node)
            if (
                predecessor >= 0
                and abs(heads[predecessor] + durations[predecessor] - start) <= 1e-6
            ):
                node = predecessor
                path.append(node)
                continue
            following = -1
            for job_predecessor in self.job_predecessors[node]:
                if abs(heads[job_predecessor] + durations[job_predecessor] - start) <= 1e-6:
                    following = job_predecessor
                    break
            if following < 0:
                break
            node = following
            path.append(node)
        path.reverse()
        blocks: list[list[int]] = []
        current = [path[0]]
        for node in path[1:]:
            if (
                self.machine_of[node] == self.machine_of[current[-1]]
                and self.machine_predecessor(node) == current[-1]
            ):
                current.append(node)
            else:
                blocks.append(current)
                current = [node]
        blocks.append(current)
        return [block for block in blocks if len(block) >= 2]

    def swap_estimate(self, first: int, second: int) -> float:
        """Taillard's estimate of the longest path through the swapped pair."""
        durations, heads, tails, releases = self.durations, self.heads, self.tails, self.releases
        before = self.machine_predecessor(first)
        after = self.machine_successor(second)
        head_second = releases[second]
        for predecessor in self.job_predecessors[second]:
            head_second = max(head_second, heads[predecessor] + durations[predecessor])
        if before >= 0:
            head_second = max(head_second, heads[before] + durations[before])
        head_first = max(releases[first], head_second + durations[second])
        for predecessor in self.job_predecessors[first]:
            head_first = max(head_first, heads[predecessor] + durations[predecessor])
        tail_first = self.tail_ends[first]
        for successor in self.job_successors[first]:
            tail_first = max(tail_first, durations[successor] + tails[successor])
        if after >= 0:
            tail_first = max(tail_first, durations[after] + tails[after])
        tail_second = max(self.tail_ends[second], tail_first + durations[first])
        for successor in self.job_successors[second]:
            tail_second = max(tail_second, durations[successor] + tails[successor])
        return max(
            head_second + durations[second] + tail_second,
            head_first + durations[first] + tail_first,
        )

    def swap(self, first: int, second: int) -> None:
        machine = self.machine_of[first]
        index = self.position[first]
        sequence = self.sequences[machine]
        sequence[index], sequence[index + 1] = second, first
        self.position[second], self.position[first] = index, index + 1


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
    now_s = plan.now_s
    machine_index = {machine.id: index for index, machine in enumerate(machines)}
    for machine_id in plan.machine_sequences:
        if machine_id not in machine_index:
            raise SchedulingInputError(f"plan names unknown machine {machine_id!r}")
    items = list(plan.operations())
    node_of = {item.operation_id: node for node, item in enumerate(items)}
    count = len(items)
    durations = [item.end_s - item.start_s for item in items]
    machine_of = [machine_index[item.machine_id] for item in items]
    job_by_id = {job.id: job for job in jobs}
    releases = [0.0] * count
    tail_ends = [-_INFINITY] * count
    job_predecessors: list[list[int]] = [[] for _ in range(count)]
    job_successors: list[list[int]] = [[] for _ in range(count)]
    for item in items:
        if item.job_id not in job_by_id:
            raise SchedulingInputError(f"plan names unknown job {item.job_id!r}")
    for job_id in {item.job_id for item in items}:
        job = job_by_id[job_id]
        routing = _job_routing(job)
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
                due_offset = job.due_at_s if config.objective == "max_lateness" else 0.0
                tail_ends[node] = -due_offset
    # Predecessors that were scheduled in an earlier plan are not in the graph; the job's
    # release covers them (operations in progress are passed as releases by the caller).
    sequences: list[list[int]] = [[] for _ in machines]
    for machine_id, planned in plan.machine_sequences.items():
        sequences[machine_index[machine_id]] = [node_of[item.operation_id] for item in planned]
    blocks = [_machine_block(machine, now_s) for machine in machines]
    graph = _Graph(
        durations,
        releases,
        tail_ends,
        job_predecessors,
        job_successors,
        machine_of,
        sequences,
        blocks,
    )
    initial = graph.evaluate()
    if initial is None or count == 0:
        objective = _plan_objective(plan, jobs, config.objective)
        return ImprovementResult(plan, objective, objective, 0, 0)

    rng = random.Random(config.seed)
    deadline = None if config.time_budget_s is None else time.perf_counter() + config.time_budget_s
    best_objective = initial
    best_sequences = [list(sequence) for sequence in sequences]
    current = initial
    tabu: dict[tuple[int, int], int] = {}
    iteration = 0
    improving_moves = 0
    since_best = 0
    while iteration < config.max_iterations:
        if deadline is not None and time.perf_counter() > deadline:
            break
        iteration += 1
        moves: list[tuple[int, int]] = []
        for block in graph.critical_blocks(current):
            moves.append((block[0], block[1]))
            if len(block) > 2:
                moves.append((block[-2], block[-1]))
        if not moves:
            break
        best_move: tuple[int, int] | None = None
        best_estimate = _INFINITY
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
        first, second = best_move
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

    graph.sequences = best_sequences
    graph.reindex()
    final = graph.evaluate()
    assert final is not None
    initial_objective = _plan_objective(plan, jobs, config.objective)
    improved = _rebuild_plan(plan, jobs, items, graph, machines)
    improved_objective = _plan_objective(improved, jobs, config.objective)
    if improved_objective > initial_objective + 1e-9:
        # The greedy placement used gaps the semi-active recomputation could not reproduce.
        return ImprovementResult(plan, initial_objective, initial_objective, iteration, 0)
    return ImprovementResult(
        improved, initial_objective, improved_objective, iteration, improving_moves
    )


def _plan_objective(plan: Plan, jobs: Sequence[Job], objective: str) -> float:
    if objective == "makespan":
        return plan.end_s - plan.now_s
    due = {job.id: job.due_at_s for job in jobs}
    return max(
        (end - due[job_id] for job_id, end in plan.job_end_s.items()),
        default=-_INFINITY,
    )


def _rebuild_plan(
    plan: Plan,
    jobs: Sequence[Job],
    items: list[PlannedOperation],
    graph: _Graph,
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
            job_end_s[item.job_id] = max(job_end_s.get(item.job_id, -_INFINITY), end)
        sequences[machine_id] = tuple(rebuilt)
    blocked_jobs = {entry.job_id for entry in plan.unschedulable}
    late = _late_jobs(jobs, plan.now_s, job_end_s, blocked_jobs)
    return Plan(
        now_s=plan.now_s,
        machine_sequences=MappingProxyType(sequences),
        job_end_s=MappingProxyType(
            {job_id: end for job_id, end in job_end_s.items() if job_id in plan.job_end_s}
        ),
        unschedulable=plan.unschedulable,
        late_jobs=late,
    )
