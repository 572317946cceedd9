"""The disjunctive graph of a plan for the improvement step: job precedence arcs plus the
machine sequences, with heads, tails, the critical blocks of the longest path and Taillard's
O(1) estimate of swapping two adjacent operations."""

from __future__ import annotations

from planning.algorithms.scheduler.model import EPSILON_S, INFINITY


class DisjunctiveGraph:
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
            if start + durations[node] > block_start + EPSILON_S and start < block_end:
                start = block_end
                if start == INFINITY:
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
        objective = -INFINITY
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
