"""What the scheduler takes and gives: frozen dataclasses, enums and the input error.

Times are epoch seconds as floats (``*_s``); durations are seconds.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

EPSILON_S = 1e-9
INFINITY = math.inf


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
    ``degradation_floor_per_h`` is the least δ the health penalty counts, so a machine stably
    in anomaly (α = 1, δ = 0) is still penalised: penalty = θ·α·max(δ, floor).
    ``accepts_new_work`` False (down, in an open anomaly episode, waiting for maintenance):
    only operations already on it (``Operation.current_machine_id``) may stay there.
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
    degradation_floor_per_h: float = 0.0
    accepts_new_work: bool = True

    @property
    def health_penalty(self) -> float:
        """θ·α·max(δ, δ_floor), the term subtracted from the priority."""
        degradation = max(self.degradation_per_h, self.degradation_floor_per_h)
        return self.bottleneck_weight * self.anomaly_score * degradation

    def is_in_anomaly(self, anomaly_threshold: float) -> bool:
        return self.is_anomaly_flagged or self.anomaly_score > anomaly_threshold


@dataclass(frozen=True, slots=True)
class Operation:
    """One routing step of a job.

    The duration on machine ``m`` is ``machine_durations_s[m.id]`` when given, otherwise
    ``standard_duration_s / m.speed_factor``. Machine ids in ``machine_durations_s`` that are
    not among the scheduled machines are ignored. ``current_machine_id`` is the machine it is
    assigned to now (a machine that accepts no new work keeps only those).
    """

    id: str
    job_id: str
    sequence: int
    capability: str
    standard_duration_s: float
    force_kn: float = 0.0
    machine_durations_s: Mapping[str, float] = field(default_factory=dict)
    current_machine_id: str | None = None

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
    ``priority`` is the work order's priority (1 most urgent, 5 normal): each level below 5
    moves the job ``SchedulerConfig.priority_step`` earlier in the critical-ratio order.
    """

    id: str
    due_at_s: float
    operations: tuple[Operation, ...]
    release_at_s: float = 0.0
    precedence: tuple[tuple[str, str], ...] = ()
    priority: int = 5


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    anomaly_threshold: float = 0.6
    priority_tie_tolerance: float = 1e-9
    max_candidates_in_explanation: int = 5
    priority_step: float = 0.25

    def __post_init__(self) -> None:
        if not 0.0 <= self.anomaly_threshold <= 1.0:
            raise SchedulingInputError("anomaly_threshold must lie in [0, 1]")
        if self.priority_tie_tolerance < 0:
            raise SchedulingInputError("priority_tie_tolerance must be ≥ 0")
        if self.max_candidates_in_explanation < 1:
            raise SchedulingInputError("max_candidates_in_explanation must be ≥ 1")
        if not math.isfinite(self.priority_step) or self.priority_step < 0:
            raise SchedulingInputError("priority_step must be a finite number ≥ 0")


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
# Improvement step
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImprovementConfig:
    """Budget and objective of :func:`~planning.algorithms.scheduler.improve.improve_plan`.

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
