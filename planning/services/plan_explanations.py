"""The explanations stored with a plan: each change in words (the formula's numbers and the
rule that decided it), why an operation could not be scheduled, and the machines' facts the
scheduler used (health, maintenance block, left out)."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from planning.algorithms.scheduler.model import ChangeKind, Plan, PlanChange, UnschedulableReason
from planning.models import ScheduleRun
from planning.selectors.scheduling_input import MachineInfo, SchedulingInput
from planning.services.values import iso_text, setting, utc_at

__all__ = [
    "PlanChangeSummary",
    "change_record",
    "machines_record",
    "plan_change_summary",
    "unschedulable_record",
]


def _machine_code(data: SchedulingInput, machine_id: str | None) -> str:
    if machine_id is None:
        return "—"
    info = data.machine_info.get(machine_id)
    return info.code if info is not None else machine_id


def _health_text(info: MachineInfo) -> str:
    state = info.health
    if state is None:
        return "no health data"
    text = f"α {state.anomaly_score:.2f}, δ {state.degradation_per_h:.3g}/h"
    if state.rul_p10_h is not None:
        text += f", RUL p10 {state.rul_p10_h:.0f} h"
    return text + (", in anomaly" if state.is_anomaly else "")


def _is_in_anomaly(info: MachineInfo) -> bool:
    state = info.health
    threshold = float(setting("SCHEDULING_ANOMALY_THRESHOLD", 0.6))
    return state is not None and (state.is_anomaly or state.anomaly_score > threshold)


def _formula_text(explanation) -> str:
    if explanation.priority is None or explanation.processing_time_s is None:
        return ""
    time_left_h = explanation.time_remaining_s / 3600.0
    processing_h = explanation.processing_time_s / 3600.0
    ratio = (
        f"TR {time_left_h:.2f} h / TP {processing_h:.2f} h"
        if explanation.time_remaining_s > 0
        else f"TR {time_left_h:.2f} h (past due) · TP {processing_h:.2f} h / TP_min²"
    )
    return (
        f"priority {explanation.priority:.3f} = {ratio} − θ {explanation.bottleneck_weight:g}"
        f" · α {explanation.anomaly_score:.2f} · δ {explanation.degradation_per_h:.3g}/h"
    )


def _why_not_old_machine(
    data: SchedulingInput, change: PlanChange, operation_force_kn: float
) -> tuple[str, str]:
    """(rule, sentence) for leaving the old machine, from the facts the scheduler used."""
    info = data.machine_info.get(change.old_machine_id or "")
    if info is None:
        return "machine_gone", "the old machine is no longer in the plant model"
    if not info.is_active:
        return "machine_inactive", f"{info.code} is inactive"
    if info.is_down:
        return "machine_down", f"{info.code} is down"
    if _is_in_anomaly(info) and operation_force_kn > info.stress_limit_kn:
        return (
            "high_stress_anomaly",
            f"{info.code} is in anomaly ({_health_text(info)}) and the operation is high-stress "
            f"({operation_force_kn:g} kN > its {info.stress_limit_kn:g} kN limit): the hard "
            "rule keeps it off that machine",
        )
    for candidate in change.explanation.candidates:
        if candidate.machine_id != change.old_machine_id:
            continue
        if candidate.exclusion is not None and candidate.exclusion.value == "maintenance_horizon":
            block = info.block.reason if info.block else "its RUL p10"
            return (
                "maintenance_horizon",
                f"on {info.code} it would not finish before the maintenance block ({block}; "
                f"{_health_text(info)})",
            )
        if candidate.priority is not None and math.isfinite(candidate.priority):
            return (
                "highest_priority",
                f"priority on {info.code} is lower ({candidate.priority:.3f}; "
                f"θ·α·δ {candidate.health_penalty:.3g})",
            )
    if info.block is not None or (info.health and info.health.rul_p10_h is not None):
        return (
            "maintenance_horizon",
            f"{info.code} has a maintenance block or short RUL ({_health_text(info)}"
            + (f"; {info.block.reason}" if info.block else "")
            + ")",
        )
    return change.explanation.rule, f"a better place was found than {info.code}"


def change_record(
    data: SchedulingInput, change: PlanChange, operation_info, run: ScheduleRun
) -> dict[str, Any]:
    new_code = _machine_code(data, change.new_machine_id)
    old_code = _machine_code(data, change.old_machine_id)
    label = f"{operation_info.key} {operation_info.name} ({operation_info.force_kn:g} kN)"
    formula = _formula_text(change.explanation)
    rule = change.explanation.rule
    if change.kind is ChangeKind.MOVED_MACHINE:
        rule, why = _why_not_old_machine(data, change, operation_info.force_kn)
        sentence = f"Move {label} from {old_code} to {new_code}: {why}. On {new_code}: {formula}."
    elif change.kind is ChangeKind.RESEQUENCED:
        sentence = (
            f"Resequence {label} on {new_code}: {change.message.split('. ')[0].split(': ')[-1]}"
            f", start {utc_at(change.old_start_s or data.now_s):%H:%M} → "
            f"{utc_at(change.new_start_s or data.now_s):%H:%M} UTC ("
            + (
                "local search improved the plan"
                if change.explanation.sequencing == "local_search"
                else "critical-ratio order changed"
            )
            + f"; {formula})."
        )
    elif change.kind is ChangeKind.ADDED:
        sentence = f"Plan {label} on {new_code}: {formula}."
    elif change.kind is ChangeKind.RETIMED:
        sentence = (
            f"Retime {label} on {new_code}: start {utc_at(change.old_start_s or 0):%H:%M} → "
            f"{utc_at(change.new_start_s or 0):%H:%M} UTC."
        )
    else:
        sentence = f"{label} is no longer planned on {old_code}: {change.explanation.message}."
    return {
        "kind": change.kind.value,
        "operation_id": operation_info.operation_id,
        "operation": operation_info.key,
        "work_order": operation_info.work_order_number,
        "from_equipment_id": (
            data.machine_info[change.old_machine_id].equipment_id
            if change.old_machine_id in data.machine_info
            else None
        ),
        "from_equipment": old_code if change.old_machine_id else None,
        "to_equipment_id": (
            data.machine_info[change.new_machine_id].equipment_id
            if change.new_machine_id in data.machine_info
            else None
        ),
        "to_equipment": new_code if change.new_machine_id else None,
        "old_start_at": iso_text(utc_at(change.old_start_s))
        if change.old_start_s is not None
        else None,
        "new_start_at": iso_text(utc_at(change.new_start_s))
        if change.new_start_s is not None
        else None,
        "old_end_at": iso_text(utc_at(change.old_end_s)) if change.old_end_s is not None else None,
        "new_end_at": iso_text(utc_at(change.new_end_s)) if change.new_end_s is not None else None,
        "rule": rule,
        "explanation": sentence,
        "run": run.pk,
        "action_id": None,
        "action_status": None,
    }


def unschedulable_record(data: SchedulingInput, entry) -> dict[str, Any]:
    info = data.operation_info.get(entry.operation_id or "")
    message = entry.message
    if info is not None and entry.reason is UnschedulableReason.NO_ELIGIBLE_MACHINE:
        capable = [
            machine
            for machine in data.machine_info.values()
            if (info.line_id is None or machine.line_id == info.line_id)
            and info.capability_code in machine.capabilities
        ]
        where = f" on line {info.line_code}" if info.line_id else ""
        if info.pinned_by_action_id is not None:
            pinned_to = next(
                (
                    m
                    for m in data.machine_info.values()
                    if m.equipment_id == info.assigned_equipment_id
                ),
                None,
            )
            code = pinned_to.code if pinned_to else "its machine"
            state = (
                "is down or inactive"
                if pinned_to is not None and not pinned_to.is_schedulable
                else "is in anomaly and the operation is high-stress"
            )
            message = (
                f"{info.key}: a supervisor kept it on {code} (declined reroute, action "
                f"{info.pinned_by_action_id}), and {code} {state}"
            )
        elif not capable:
            message = f"{info.key}: no machine{where} has capability {info.capability_code!r}"
        elif not any(machine.is_schedulable for machine in capable):
            names = ", ".join(
                f"{m.code} ({'inactive' if not m.is_active else 'down'})" for m in capable
            )
            message = (
                f"{info.key}: every machine{where} with capability {info.capability_code!r} "
                f"is down or inactive: {names}"
            )
        else:
            usable = [m for m in capable if m.is_schedulable]
            names = ", ".join(m.code for m in usable)
            if any(info.force_kn > m.stress_limit_kn for m in usable):
                why = f"is in anomaly and the operation is high-stress ({info.force_kn:g} kN)"
            else:
                why = "is degrading or failing and takes no new work"
            message = (
                f"{info.key}: every machine{where} with capability {info.capability_code!r} "
                f"({names}) {why}"
            )
    elif info is not None:
        message = message.replace(f"operation {info.key}", info.key)
    return {
        "work_order": entry.job_id,
        "operation": entry.operation_id,
        "operation_id": info.operation_id if info else None,
        "reason": entry.reason.value,
        "message": message,
    }


def machines_record(data: SchedulingInput) -> list[dict[str, Any]]:
    records = []
    for info in data.machine_info.values():
        health = info.health
        block = info.block
        left_out = ""
        if not info.is_active:
            left_out = "inactive"
        elif info.is_down:
            left_out = "down"
        records.append(
            {
                "equipment_id": info.equipment_id,
                "machine_id": info.machine_id,
                "code": info.code,
                "stress_limit_kn": info.stress_limit_kn,
                "bottleneck_weight": info.bottleneck_weight,
                "left_out": left_out,
                "busy_until": iso_text(info.busy_until),
                "health": None
                if health is None
                else {
                    "snapshot_id": health.snapshot_id,
                    "ts": iso_text(health.ts),
                    "alpha": health.anomaly_score,
                    "degradation_per_h": health.degradation_per_h,
                    "is_anomaly": health.is_anomaly,
                    "is_in_anomaly": _is_in_anomaly(info),
                    "rul_p10_h": health.rul_p10_h,
                    "recommendation": health.recommendation,
                },
                "block": None
                if block is None
                else {
                    "start_at": iso_text(block.start_at),
                    "end_at": iso_text(block.end_at),
                    "maintenance_work_order": block.work_order_number,
                    "reason": block.reason,
                },
            }
        )
    return records


_BECAUSE = {
    "machine_down": "it is down",
    "machine_inactive": "it is inactive",
    "machine_gone": "it left the plant model",
    "high_stress_anomaly": "it is failing",
    "maintenance_horizon": "its maintenance is due",
    "highest_priority": "another machine finishes them sooner",
}


@dataclass(frozen=True)
class PlanChangeSummary:
    target: str
    sentence: str
    late_work_orders: list[str]


def _because(data: SchedulingInput, machine_code: str, rules: Counter) -> str:
    rule = rules.most_common(1)[0][0]
    info = next((item for item in data.machine_info.values() if item.code == machine_code), None)
    if info is not None and rule in ("high_stress_anomaly", "highest_priority"):
        if info.health_class == "failing":
            return f"it is failing ({_health_text(info)})"
        if info.health_class == "degrading":
            return f"it is degrading ({_health_text(info)})"
    return _BECAUSE.get(rule, "the new plan is better")


def plan_change_summary(
    data: SchedulingInput, guarded: list[tuple[PlanChange, dict[str, Any]]], plan: Plan
) -> PlanChangeSummary:
    """One sentence for a plan change: "3 operations moved off CNC_Spindle_7 because it is
    failing (α 0.90, …); all due dates still met", the resequenced machines, the late work."""
    by_source: dict[str, Counter] = {}
    resequenced_on: set[str] = set()
    for change, record in guarded:
        if change.kind is ChangeKind.MOVED_MACHINE:
            by_source.setdefault(record["from_equipment"] or "—", Counter())[record["rule"]] += 1
        else:
            resequenced_on.add(record["to_equipment"] or "—")
    parts = []
    for source, rules in sorted(by_source.items(), key=lambda item: -sum(item[1].values())):
        count = sum(rules.values())
        noun = "operation" if count == 1 else "operations"
        parts.append(f"{count} {noun} moved off {source} because {_because(data, source, rules)}")
    resequenced = sum(1 for change, _ in guarded if change.kind is ChangeKind.RESEQUENCED)
    if resequenced:
        machines = ", ".join(sorted(resequenced_on)[:3]) + (
            f" and {len(resequenced_on) - 3} more" if len(resequenced_on) > 3 else ""
        )
        parts.append(
            f"{resequenced} operation{'s' if resequenced != 1 else ''} in a new order on {machines}"
        )
    late = sorted({late.job_id for late in plan.late_jobs})
    if not late:
        due = "all due dates still met"
    else:
        names = ", ".join(late[:3]) + (f" and {len(late) - 3} more" if len(late) > 3 else "")
        due = f"{len(late)} work order{'s' if len(late) != 1 else ''} late ({names})"
    sentence = "; ".join([*parts, due])
    sentence = sentence[0].upper() + sentence[1:]
    moved = sum(sum(rules.values()) for rules in by_source.values())
    target = f"plan change: {moved} moved, {resequenced} resequenced"
    return PlanChangeSummary(target=target, sentence=sentence, late_work_orders=late)
