"""The outcome of a placement as a :class:`Plan`: the machine sequences in start order, the
operations of blocked jobs listed unschedulable with their cause, and the late jobs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from planning.algorithms.scheduler.model import (
    EPSILON_S,
    Job,
    LateJob,
    Plan,
    PlannedOperation,
    Unschedulable,
    UnschedulableReason,
)


def block_job(job: Job, problem: Unschedulable) -> list[Unschedulable]:
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


def late_jobs(
    jobs: Sequence[Job], now_s: float, job_end_s: Mapping[str, float], blocked_jobs: set[str]
) -> tuple[LateJob, ...]:
    """Jobs past due at ``now_s`` or planned to end after their due date."""
    late: list[LateJob] = []
    for job in jobs:
        if not job.operations:
            continue
        job_end = None if job.id in blocked_jobs else job_end_s.get(job.id)
        is_past_due = job.due_at_s < now_s
        if is_past_due or (job_end is not None and job_end > job.due_at_s + EPSILON_S):
            lateness = None if job_end is None else job_end - job.due_at_s
            late.append(LateJob(job.id, job.due_at_s, job_end, lateness, is_past_due))
    return tuple(late)


def assemble_plan(
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
    late = late_jobs(jobs, now_s, job_end_s, set(blocked_jobs))
    return Plan(
        now_s=now_s,
        machine_sequences=MappingProxyType(sequences),
        job_end_s=MappingProxyType(
            {job_id: end for job_id, end in job_end_s.items() if job_id not in blocked_jobs}
        ),
        unschedulable=tuple(unschedulable + extra),
        late_jobs=late,
    )
