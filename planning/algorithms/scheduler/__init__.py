"""Dynamic priority scheduler with machine health (pure, Django-free), DESIGN §6.3.

Modules:

* :mod:`.model` — the frozen dataclasses in and out, the enums, :class:`SchedulingInputError`;
* :mod:`.validation` — refusing malformed input;
* :mod:`.routing` — a job's routing precedence (chain or explicit edges);
* :mod:`.timeline` — a machine's idle intervals and its maintenance / RUL block;
* :mod:`.rule` — Priority(J, m) = TR/TP − θ·α·δ, the critical ratio, eligibility and the
  anomaly rule;
* :mod:`.ranking` — the machines' state during a call and the ranking of the candidate
  machines of an operation (plain loop and numpy);
* :mod:`.explain` — the explanation of each placement;
* :mod:`.placement` — :func:`schedule`: the critical-ratio heap placing operations one by one;
* :mod:`.outcome` — the placed operations assembled into a :class:`Plan`;
* :mod:`.diff` — :func:`diff_plans`, the changes against the current plan;
* :mod:`.graph`, :mod:`.improve` — :func:`improve_plan`, the tabu search on the machine
  sequences.
"""

from planning.algorithms.scheduler.diff import diff_plans
from planning.algorithms.scheduler.improve import improve_plan
from planning.algorithms.scheduler.model import (
    AssignmentRule,
    CandidateScore,
    ChangeKind,
    ExclusionRule,
    Explanation,
    ImprovementConfig,
    ImprovementResult,
    Job,
    LateJob,
    Machine,
    Operation,
    Plan,
    PlanChange,
    PlannedOperation,
    PlannedSlot,
    SchedulerConfig,
    SchedulingInputError,
    Unschedulable,
    UnschedulableReason,
)
from planning.algorithms.scheduler.placement import schedule

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
