"""The assignment rule: Priority(J, m), the critical ratio, eligibility and the anomaly rule.

Formula (DESIGN §6.3). For the operation ``o`` of job ``J`` and an eligible machine ``m``::

    TR(J)    = due_at_s(J) − now_s                   time left to the due date
    TP(J, m) = finish(o, m) − now_s + Σ min-duration(o')
               time from now until J's remaining work is done if o runs on m: o's wait for m
               and its duration there, plus J's later operations o' at their fastest machine
    Priority(J, m) = TR/TP − θ_m·α_m·max(δ_m, δ_floor)

``θ`` is the machine's bottleneck weight, ``α`` its anomaly score in [0, 1] and ``δ`` its
degradation slope per hour. TP counts the wait for the machine on purpose: with pure processing
times a machine 1 % faster would win every operation however long its queue. For a job already
past due (TR ≤ 0) the literal ratio TR/TP would *grow* with TP and make a later finish look
better; the ratio term is then ``TR·TP/TP_min²`` (TP_min = J's remaining work at the fastest
machines, no waiting), which keeps "earlier finish is better". The critical ratio of a job is
``CR(J) = TR/TP_min``; the work order's priority shifts it (:func:`ranking_key`). δ_floor
(``Machine.degradation_floor_per_h``) keeps a machine stably in anomaly (α = 1, δ = 0)
penalised: the seed's θ·α·δ is 0 there.

Eligibility. A machine is eligible for an operation when it has the operation's capability;
the hard anomaly rule then removes every machine in anomaly (``is_anomaly_flagged`` or
``anomaly_score`` above ``SchedulerConfig.anomaly_threshold``) for a high-stress operation
(``force_kn`` above the machine's ``stress_limit_kn``). The other hard rule, the maintenance /
RUL horizon, is applied when a start is searched (:mod:`.timeline`). A machine that accepts
no new work (``Machine.accepts_new_work`` False: in an open anomaly episode, waiting for
maintenance) is eligible only for the operations already on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from planning.algorithms.scheduler.model import (
    INFINITY,
    Job,
    Machine,
    Operation,
    Unschedulable,
    UnschedulableReason,
)
from planning.algorithms.scheduler.routing import Routing
from planning.algorithms.scheduler.timeline import Timeline

# --------------------------------------------------------------------------------------------
# Priority
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PriorityTerms:
    """The job's side of Priority(J, m) for one operation at the moment it is placed.

    ``ready_s`` is the operation's earliest start (job release, ``now_s``, the end of its
    routing predecessors); ``remaining_s`` is TP_min(J), the job's remaining work with this
    operation at the fastest machines; ``others_s`` the same without this operation.
    """

    now_s: float
    ready_s: float
    time_remaining_s: float
    remaining_s: float
    others_s: float

    @property
    def late_scale(self) -> float:
        """TR/TP_min², the factor of TP in the ratio term of a past-due job."""
        return self.time_remaining_s / (self.remaining_s * self.remaining_s)


def critical_ratio(time_remaining_s: float, remaining_s: float) -> float:
    """CR(J) = TR/TP_min: smallest first is most urgent (past-due jobs are negative)."""
    return time_remaining_s / remaining_s


def ranking_key(critical: float, priority: int, step: float) -> float:
    """The sequencing key: CR(J) − step·(5 − priority) (priority 1 most urgent, 5 normal)."""
    return critical - step * (5 - priority)


def ratio_term(time_remaining_s: float, processing_time_s: float, minimum_s: float) -> float:
    """TR/TP, or TR·TP/TP_min² for a job past due (so an earlier finish stays better)."""
    if time_remaining_s > 0:
        return time_remaining_s / processing_time_s
    return time_remaining_s * processing_time_s / (minimum_s * minimum_s)


def hypothetical_priority(
    timeline: Timeline,
    machine: Machine,
    operation: Operation,
    terms: PriorityTerms,
    penalty: float,
    *,
    respect_block: bool,
) -> float:
    """Priority the operation would get on a machine a hard rule keeps it from."""
    duration = operation.duration_on(machine)
    start = timeline.earliest_start(terms.ready_s, duration, respect_block=respect_block)
    if start == INFINITY:
        return -INFINITY
    processing = start + duration - terms.now_s + terms.others_s
    return ratio_term(terms.time_remaining_s, processing, terms.remaining_s) - penalty


# --------------------------------------------------------------------------------------------
# Eligibility and the anomaly rule
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class PreparedJob:
    """A job whose every operation has an eligible machine, per operation in routing order:
    the allowed machines (indices), their explicit durations (None: standard duration / speed
    factor), the machines the anomaly rule excluded and the duration on the fastest allowed
    machine."""

    job: Job
    routing: Routing
    allowed: list[list[int]]
    explicit_durations: list[list[float] | None]
    excluded: list[list[int]]
    fastest_s: list[float]


class Eligibility:
    """The machines each operation may go to, for one scheduling call.

    The allowed-machine lists (one per capability, one per (capability, force) the anomaly rule
    splits) live as long as this object; the ranking caches by their ``id``.
    """

    def __init__(self, machines: Sequence[Machine], anomaly_threshold: float) -> None:
        self.machines = machines
        self.closed = {
            index for index, machine in enumerate(machines) if not machine.accepts_new_work
        }
        # (id of an allowed list, current machine) → the list without closed machines.
        self._open_split: dict[tuple[int, str | None], list[int]] = {}
        self.speed_factors = [machine.speed_factor for machine in machines]
        self.in_anomaly = [machine.is_in_anomaly(anomaly_threshold) for machine in machines]
        self.by_capability: dict[str, list[int]] = {}
        for machine_index, machine in enumerate(machines):
            for capability in machine.capabilities:
                self.by_capability.setdefault(capability, []).append(machine_index)
        # Per capability, the lowest stress limit among its machines in anomaly: operations
        # with less force than that cannot be excluded by the anomaly rule.
        self.lowest_anomalous_limit: dict[str, float] = {}
        for capability, indices in self.by_capability.items():
            limits = [
                machines[index].stress_limit_kn for index in indices if self.in_anomaly[index]
            ]
            if limits:
                self.lowest_anomalous_limit[capability] = min(limits)
        # (capability, force) → (machines the anomaly rule excludes, machines allowed).
        self._anomaly_split: dict[tuple[str, float], tuple[list[int], list[int]]] = {}
        # id of an allowed-machine list → the highest speed factor among them.
        self._fastest_speed_of: dict[int, float] = {}

    @property
    def widest(self) -> int:
        """The most machines any capability has."""
        return max((len(indices) for indices in self.by_capability.values()), default=0)

    def prepare(self, job: Job, routing: Routing) -> PreparedJob | Unschedulable:
        """The job's eligible machines per operation, or why one operation has none."""
        prepared = PreparedJob(job, routing, [], [], [], [])
        for operation in routing.operations:
            if operation.standard_duration_s <= 0 or any(
                float(value) <= 0 for value in operation.machine_durations_s.values()
            ):
                return Unschedulable(
                    job.id,
                    operation.id,
                    UnschedulableReason.NON_POSITIVE_DURATION,
                    f"operation {operation.id}: processing time must be > 0 s",
                )
            capable = self.by_capability.get(operation.capability, [])
            excluded, allowed = self._anomaly_rule(operation, capable)
            if self.closed:
                allowed = self._open_machines(operation, allowed)
            if not allowed:
                return _no_eligible_machine(job, operation, capable)
            prepared.allowed.append(allowed)
            prepared.excluded.append(excluded)
            if operation.machine_durations_s:
                durations = [operation.duration_on(self.machines[index]) for index in allowed]
                prepared.explicit_durations.append(durations)
                prepared.fastest_s.append(min(durations))
            else:
                prepared.explicit_durations.append(None)
                prepared.fastest_s.append(
                    operation.standard_duration_s / self._fastest_speed(allowed)
                )
        return prepared

    def _anomaly_rule(
        self, operation: Operation, capable: list[int]
    ) -> tuple[list[int], list[int]]:
        """(machines excluded, machines allowed): no high-stress operation on a machine in
        anomaly."""
        force = operation.force_kn
        if force <= self.lowest_anomalous_limit.get(operation.capability, INFINITY):
            return [], capable
        key = (operation.capability, force)
        split = self._anomaly_split.get(key)
        if split is None:
            excluded_set = {
                index
                for index in capable
                if self.in_anomaly[index] and force > self.machines[index].stress_limit_kn
            }
            split = (
                sorted(excluded_set),
                [index for index in capable if index not in excluded_set],
            )
            self._anomaly_split[key] = split
        return split

    def _open_machines(self, operation: Operation, allowed: list[int]) -> list[int]:
        """``allowed`` without the machines that accept no new work, except the operation's
        current one (cached, so the ranking's per-list caches keep working)."""
        key = (id(allowed), operation.current_machine_id)
        result = self._open_split.get(key)
        if result is None:
            result = [
                index
                for index in allowed
                if index not in self.closed
                or self.machines[index].id == operation.current_machine_id
            ]
            if len(result) == len(allowed):
                result = allowed
            self._open_split[key] = result
        return result

    def _fastest_speed(self, allowed: list[int]) -> float:
        fastest_speed = self._fastest_speed_of.get(id(allowed))
        if fastest_speed is None:
            fastest_speed = max(self.speed_factors[index] for index in allowed)
            self._fastest_speed_of[id(allowed)] = fastest_speed
        return fastest_speed


def _no_eligible_machine(job: Job, operation: Operation, capable: list[int]) -> Unschedulable:
    if capable:
        message = (
            f"operation {operation.id}: every machine with capability "
            f"{operation.capability!r} is in anomaly and the operation is "
            f"high-stress ({operation.force_kn:g} kN)"
        )
    else:
        message = f"operation {operation.id}: no machine has capability {operation.capability!r}"
    return Unschedulable(job.id, operation.id, UnschedulableReason.NO_ELIGIBLE_MACHINE, message)
