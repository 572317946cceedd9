"""A job's routing precedence: the default chain by sequence number, or explicit edges.

A duplicate or gapped sequence number, a precedence edge naming an unknown operation and a
cycle make the job unschedulable (reported with the reason, never an input error).
"""

from __future__ import annotations

from dataclasses import dataclass

from planning.algorithms.scheduler.model import Job, Operation, Unschedulable, UnschedulableReason


@dataclass(slots=True)
class Routing:
    """Precedence of one job over positions 0..k-1 of ``job.operations`` (sorted)."""

    operations: list[Operation]
    predecessors: list[list[int]]
    successors: list[list[int]]


def job_routing(job: Job) -> Routing | Unschedulable:
    """The job's precedence over its operations sorted by (sequence, id), or why it has none."""
    operations = sorted(job.operations, key=lambda operation: (operation.sequence, operation.id))
    if not job.precedence:
        return _chain_routing(job, operations)
    return _edge_routing(job, operations)


def _chain_routing(job: Job, operations: list[Operation]) -> Routing | Unschedulable:
    """The operations in sequence order, each after the previous (consecutive numbers)."""
    count = len(operations)
    predecessors: list[list[int]] = [[] for _ in range(count)]
    successors: list[list[int]] = [[] for _ in range(count)]
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
    return Routing(operations, predecessors, successors)


def _edge_routing(job: Job, operations: list[Operation]) -> Routing | Unschedulable:
    """The precedence edges of the job, which must name its operations and form no cycle."""
    count = len(operations)
    predecessors: list[list[int]] = [[] for _ in range(count)]
    successors: list[list[int]] = [[] for _ in range(count)]
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
    return Routing(operations, predecessors, successors)
