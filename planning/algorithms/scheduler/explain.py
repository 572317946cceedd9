"""The explanation of one placement: the numbers behind it, as data and as a sentence.

The rule that decided it (highest priority, a tie broken by the earliest finish, the only
eligible machine, or a hard rule that kept a better-ranked machine out), the best-ranked
candidates, the machines the maintenance / RUL horizon excluded and the machines in anomaly
that would have ranked higher.
"""

from __future__ import annotations

from planning.algorithms.scheduler.model import (
    EPSILON_S,
    INFINITY,
    AssignmentRule,
    CandidateScore,
    ExclusionRule,
    Explanation,
    Machine,
    Operation,
)
from planning.algorithms.scheduler.ranking import Candidate, MachineBoard, Ranking
from planning.algorithms.scheduler.rule import PriorityTerms, hypothetical_priority, ratio_term


def explain_placement(
    board: MachineBoard,
    operation: Operation,
    terms: PriorityTerms,
    *,
    critical_ratio: float,
    ranking: Ranking,
    chosen: Candidate,
    tied_count: int,
    allowed_count: int,
    excluded_by_anomaly: list[int],
    max_candidates: int,
) -> Explanation:
    """Explain why ``operation`` went to the machine of ``chosen`` (already placed there)."""
    priority, machine_index, duration, processing, start = chosen
    anomaly_scores = _better_anomalous_machines(
        board, operation, terms, excluded_by_anomaly, priority
    )
    better_horizon = _better_blocked_machines(
        board, operation, terms, ranking.horizon_pushed, machine_index, priority
    )
    rule_machine: str | None = None
    rule = AssignmentRule.HIGHEST_PRIORITY
    if anomaly_scores:
        rule = AssignmentRule.HIGH_STRESS_ANOMALY
        rule_machine = board.machine_ids[next(iter(anomaly_scores))]
    elif better_horizon:
        rule = AssignmentRule.MAINTENANCE_HORIZON
        rule_machine = board.machine_ids[better_horizon[0]]
    elif allowed_count == 1:
        rule = AssignmentRule.ONLY_ELIGIBLE_MACHINE
    elif tied_count > 1:
        rule = AssignmentRule.TIE_EARLIEST_FINISH

    machine = board.machines[machine_index]
    return Explanation(
        operation_id=operation.id,
        job_id=operation.job_id,
        machine_id=machine.id,
        rule=rule.value,
        time_remaining_s=terms.time_remaining_s,
        processing_time_s=processing,
        critical_ratio=critical_ratio,
        bottleneck_weight=machine.bottleneck_weight,
        anomaly_score=machine.anomaly_score,
        degradation_per_h=machine.degradation_per_h,
        priority=priority,
        candidates=_candidate_scores(
            board,
            operation,
            terms,
            ranking,
            chosen,
            better_horizon,
            anomaly_scores,
            max_candidates,
        ),
        sequencing="critical_ratio",
        message=_placement_message(
            operation, machine, start, start + duration, chosen, terms, rule, rule_machine
        ),
    )


def _better_anomalous_machines(
    board: MachineBoard,
    operation: Operation,
    terms: PriorityTerms,
    excluded_by_anomaly: list[int],
    priority: float,
) -> dict[int, float]:
    """Machines the anomaly rule excluded that would have ranked higher, with that priority.

    A start is never before ``ready``, which bounds their priority from above and skips most
    of them.
    """
    machines, penalties, timelines = board.machines, board.penalties, board.timelines
    ready, now_s, others_s = terms.ready_s, terms.now_s, terms.others_s
    tr, remaining = terms.time_remaining_s, terms.remaining_s
    anomaly_scores: dict[int, float] = {}
    explicit_durations = operation.machine_durations_s
    for index in excluded_by_anomaly:
        excluded_duration = (
            operation.duration_on(machines[index])
            if explicit_durations
            else operation.standard_duration_s / board.speed_factors[index]
        )
        earliest_processing = ready + excluded_duration - now_s + others_s
        if ratio_term(tr, earliest_processing, remaining) - penalties[index] <= priority:
            continue
        if board.has_block[index] or (
            board.longest_gap[index] >= excluded_duration - EPSILON_S
            and board.last_gap_end[index] >= ready + excluded_duration - EPSILON_S
        ):
            value = hypothetical_priority(
                timelines[index],
                machines[index],
                operation,
                terms,
                penalties[index],
                respect_block=True,
            )
        else:  # no gap, no block: it would start when the machine is free
            free_from = board.free_from[index]
            excluded_start = ready if ready > free_from else free_from
            value = (
                ratio_term(tr, excluded_start + excluded_duration - now_s + others_s, remaining)
                - penalties[index]
            )
        if value > priority:
            anomaly_scores[index] = value
    return anomaly_scores


def _better_blocked_machines(
    board: MachineBoard,
    operation: Operation,
    terms: PriorityTerms,
    horizon_pushed: list[int],
    chosen_index: int,
    priority: float,
) -> list[int]:
    """Machines the maintenance / RUL horizon pushed back that would have ranked higher."""
    return [
        index
        for index in horizon_pushed
        if index != chosen_index
        and hypothetical_priority(
            board.timelines[index],
            board.machines[index],
            operation,
            terms,
            board.penalties[index],
            respect_block=False,
        )
        > priority
    ]


def _candidate_scores(
    board: MachineBoard,
    operation: Operation,
    terms: PriorityTerms,
    ranking: Ranking,
    chosen: Candidate,
    better_horizon: list[int],
    anomaly_scores: dict[int, float],
    max_candidates: int,
) -> tuple[CandidateScore, ...]:
    """The best-ranked machines (the chosen one included), then the machines the horizon
    excluded outright, then the better-ranked machines the anomaly rule excluded."""
    machines, machine_ids, penalties = board.machines, board.machine_ids, board.penalties
    ranked = ranking.ranked
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
    for excluded_index in ranking.horizon_excluded:
        candidates.append(
            CandidateScore(
                machine_ids[excluded_index],
                operation.duration_on(machines[excluded_index]),
                INFINITY,
                penalties[excluded_index],
                -INFINITY,
                None,
                ExclusionRule.MAINTENANCE_HORIZON,
            )
        )
    for excluded_index, score in anomaly_scores.items():
        excluded_duration = operation.duration_on(machines[excluded_index])
        excluded_start = board.timelines[excluded_index].earliest_start(
            terms.ready_s, excluded_duration
        )
        candidates.append(
            CandidateScore(
                machine_ids[excluded_index],
                excluded_duration,
                excluded_start + excluded_duration - terms.now_s + terms.others_s,
                penalties[excluded_index],
                score,
                None,
                ExclusionRule.HIGH_STRESS_ANOMALY,
            )
        )
    return tuple(candidates)


def _placement_message(
    operation: Operation,
    machine: Machine,
    start: float,
    end: float,
    chosen: Candidate,
    terms: PriorityTerms,
    rule: AssignmentRule,
    rule_machine: str | None,
) -> str:
    priority, processing = chosen[0], chosen[3]
    tr, remaining = terms.time_remaining_s, terms.remaining_s
    return (
        f"{operation.id} (job {operation.job_id}) → {machine.id} at {start:.0f}–{end:.0f}: "
        f"priority {priority:.4g} = "
        + (
            f"TR {tr:.0f} s / TP {processing:.0f} s − "
            if tr > 0
            else f"TR {tr:.0f} s · TP {processing:.0f} s / TP_min {remaining:.0f} s² "
            "(job past due) − "
        )
        + f"θ {machine.bottleneck_weight:g}·α {machine.anomaly_score:g}·"
        f"δ {machine.degradation_per_h:g}/h; {_rule_sentence(rule, rule_machine)}"
    )


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
