"""Refusing malformed scheduler input: duplicate ids, NaN or infinite numbers, α outside [0, 1].

Problems of a single job (a bad routing, a non-positive duration, no eligible machine) are not
input errors: the job is reported unschedulable with its reason.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from planning.algorithms.scheduler.model import Job, Machine, SchedulingInputError


def check_finite(value: float, what: str) -> None:
    if not math.isfinite(value):
        raise SchedulingInputError(f"{what} must be a finite number, got {value!r}")


def validate_machines(machines: Sequence[Machine]) -> None:
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
            check_finite(float(getattr(machine, name)), f"{label}: {name}")
        if not 0.0 <= machine.anomaly_score <= 1.0:
            raise SchedulingInputError(
                f"{label}: anomaly_score must lie in [0, 1], got {machine.anomaly_score}"
            )
        if machine.degradation_per_h < 0:
            raise SchedulingInputError(f"{label}: degradation_per_h must be ≥ 0")
        check_finite(machine.degradation_floor_per_h, f"{label}: degradation_floor_per_h")
        if machine.degradation_floor_per_h < 0:
            raise SchedulingInputError(f"{label}: degradation_floor_per_h must be ≥ 0")
        if machine.bottleneck_weight < 0:
            raise SchedulingInputError(f"{label}: bottleneck_weight must be ≥ 0")
        if machine.stress_limit_kn <= 0:
            raise SchedulingInputError(f"{label}: stress_limit_kn must be > 0")
        if machine.speed_factor <= 0:
            raise SchedulingInputError(f"{label}: speed_factor must be > 0")
        if machine.rul_p10_s is not None:
            check_finite(machine.rul_p10_s, f"{label}: rul_p10_s")
            if machine.rul_p10_s < 0:
                raise SchedulingInputError(f"{label}: rul_p10_s must be ≥ 0 (a duration)")
        if machine.maintenance_window_start_s is not None:
            check_finite(machine.maintenance_window_start_s, f"{label}: window start")
        if machine.maintenance_window_end_s is not None:
            check_finite(machine.maintenance_window_end_s, f"{label}: window end")
            if machine.maintenance_window_start_s is None:
                raise SchedulingInputError(f"{label}: a window end needs a window start")
            if machine.maintenance_window_end_s < machine.maintenance_window_start_s:
                raise SchedulingInputError(f"{label}: maintenance window ends before it starts")


def validate_jobs(jobs: Sequence[Job]) -> None:
    job_ids: set[str] = set()
    operation_ids: set[str] = set()
    for job in jobs:
        if job.id in job_ids:
            raise SchedulingInputError(f"duplicate job id {job.id!r}")
        job_ids.add(job.id)
        check_finite(job.due_at_s, f"job {job.id!r}: due_at_s")
        check_finite(job.release_at_s, f"job {job.id!r}: release_at_s")
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
            check_finite(operation.standard_duration_s, f"operation {operation.id!r}: duration")
            check_finite(operation.force_kn, f"operation {operation.id!r}: force_kn")
            for machine_id, duration_s in operation.machine_durations_s.items():
                check_finite(
                    float(duration_s), f"operation {operation.id!r}: duration on {machine_id!r}"
                )
