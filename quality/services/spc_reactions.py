"""The reaction plan of a run-rule violation, through the autonomy guardrails.

A chart's configured reaction becomes one ProposedAction per violating point (dedupe key
``spc:<chart>:<index>``), applied at once or left for a supervisor by the site's autonomy mode
and the kind's risk (the ActionPolicy rows of quality/migrations/0004: an alert and a hold
are low risk, stopping an operation is high):

- ``quality_alert``: the violations are marked alerted and broadcast to the station's
  equipment, line and site groups (``spc_alert``);
- ``spc_lot_hold``: the lots of the subgroups since the last good point (the last point without
  a violation), up to and including this one, are put on hold; revert releases the lots this
  action held that are still on hold;
- ``operation_stop``: the operation of the point (or the one running on the station) is
  paused; revert resumes it.

Where a hold finds no lot, or a stop no running operation, the proposal is an alert and its
explanation says why. The handlers are registered in QualityConfig.ready().
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from autonomy.choices import ActionKind
from autonomy.models import ProposedAction
from autonomy.services.guardrails import action_handler_register, action_propose
from mes_site.errors import ValidationFailed
from mes_site.publish import broadcast, group_name
from production.choices import OperationState
from production.models import Operation
from production.services.work_orders import operation_pause, operation_resume
from quality import spc
from quality.choices import SpcReaction
from quality.models import ControlChart, RuleViolation, Subgroup
from traceability.choices import LotStatus
from traceability.models import Lot
from traceability.services.lots import lot_set_status


def _explanation(chart: ControlChart, subgroup: Subgroup, violations: list[RuleViolation]) -> str:
    rules = "; ".join(
        f"{spc.RunRule(violation.rule).description} ({violation.rule}, "
        f"{_points_text(violation.point_indices)}, zone {violation.zone})"
        for violation in violations
    )
    return (
        f"{chart.characteristic.code} on {chart.equipment.code}: point {subgroup.index} "
        f"(value {subgroup.statistic:.4g}, limits {subgroup.lower_limit:.4g} … "
        f"{subgroup.upper_limit:.4g}) breaks {rules}."
    )


def _points_text(indices: list[int]) -> str:
    if len(indices) == 1:
        return f"point {indices[0]}"
    return f"points {', '.join(str(index) for index in indices)}"


def _lots_since_last_good(chart: ControlChart, subgroup: Subgroup) -> list[int]:
    """The lots of the subgroups after the last point without a violation, up to this one."""
    last_good = (
        chart.subgroups.filter(index__lt=subgroup.index, limit_set__isnull=False)
        .exclude(violations__isnull=False)
        .order_by("-index")
        .values_list("index", flat=True)
        .first()
    )
    suspects = chart.subgroups.filter(
        index__gt=-1 if last_good is None else last_good, index__lte=subgroup.index
    )
    lot_ids = set(suspects.exclude(lot=None).values_list("lot_id", flat=True))
    lot_ids |= set(suspects.exclude(serial_unit=None).values_list("serial_unit__lot_id", flat=True))
    return sorted(lot_ids)


def _operation_to_stop(chart: ControlChart, subgroup: Subgroup) -> Operation | None:
    if subgroup.operation is not None and subgroup.operation.state == OperationState.IN_PROGRESS:
        return subgroup.operation
    return (
        Operation.objects.filter(
            assigned_equipment=chart.equipment, state=OperationState.IN_PROGRESS
        )
        .order_by("-actual_start_at")
        .first()
    )


def reaction_dedupe_key(chart_id: int, subgroup_index: int) -> str:
    """The one proposal of a point: the key of its ProposedAction."""
    return f"spc:{chart_id}:{subgroup_index}"


def spc_reaction_propose(
    *, chart: ControlChart, subgroup: Subgroup, violations: list[RuleViolation]
) -> ProposedAction | None:
    """Propose the chart's reaction to the violations of one point (once per point)."""
    if chart.reaction == SpcReaction.NONE or not violations:
        return None
    explanation = _explanation(chart, subgroup, violations)
    violation_ids = [violation.pk for violation in violations]
    base: dict[str, Any] = {
        "chart_id": chart.pk,
        "subgroup_index": subgroup.index,
        "violation_ids": violation_ids,
    }
    kind, target, payload = ActionKind.QUALITY_ALERT, chart.characteristic.code, base
    if chart.reaction == SpcReaction.HOLD:
        lot_ids = _lots_since_last_good(chart, subgroup)
        if lot_ids:
            codes = list(
                Lot.objects.filter(pk__in=lot_ids).order_by("code").values_list("code", flat=True)
            )
            kind, target = ActionKind.SPC_LOT_HOLD, f"hold {', '.join(codes)}"[:300]
            payload = {**base, "lot_ids": lot_ids}
            explanation += f" Hold the lots since the last good point: {', '.join(codes)}."
        else:
            explanation += " No lot was recorded since the last good point: alert only."
    elif chart.reaction == SpcReaction.STOP:
        operation = _operation_to_stop(chart, subgroup)
        if operation is not None:
            kind = ActionKind.OPERATION_STOP
            target = f"stop {operation.work_order.number}/{operation.sequence}"
            payload = {**base, "operation_id": operation.pk}
            explanation += f" Stop operation {target[5:]} on {chart.equipment.code}."
        else:
            explanation += f" No operation is running on {chart.equipment.code}: alert only."
    action = action_propose(
        site=chart.equipment.cell.line.area.site,
        kind=kind,
        target=target,
        payload=payload,
        inverse={"kind": kind, **payload},
        explanation=explanation,
        explanation_data={
            "violations": [
                {"rule": v.rule, "zone": v.zone, "points": v.point_indices} for v in violations
            ]
        },
        dedupe_key=reaction_dedupe_key(chart.pk, subgroup.index),
    )
    return action


# --- handlers -----------------------------------------------------------------------------------


def quality_alert_apply(action) -> dict[str, Any]:
    violations = RuleViolation.objects.filter(pk__in=action.payload.get("violation_ids", []))
    violations.update(alerted_at=timezone.now())
    chart = ControlChart.objects.select_related("equipment__cell__line__area").get(
        pk=action.payload["chart_id"]
    )
    equipment = chart.equipment
    broadcast(
        [
            group_name("equipment", equipment.pk),
            group_name("line", equipment.cell.line_id),
            group_name("site", equipment.cell.line.area.site_id),
        ],
        "spc_alert",
        {
            "chart": chart.pk,
            "characteristic": chart.characteristic.code,
            "equipment": equipment.pk,
            "subgroup_index": action.payload.get("subgroup_index"),
            "rules": sorted(set(violations.values_list("rule", flat=True))),
            "explanation": action.explanation,
        },
    )
    return {"violation_ids": action.payload.get("violation_ids", [])}


def quality_alert_revert(action) -> None:
    RuleViolation.objects.filter(pk__in=action.payload.get("violation_ids", [])).update(
        alerted_at=None
    )


def lot_hold_apply(action) -> dict[str, Any]:
    held = []
    reason = f"SPC: proposed action {action.pk}"
    for lot in Lot.objects.filter(pk__in=action.payload.get("lot_ids", [])).order_by("pk"):
        if lot.status == LotStatus.AVAILABLE:
            lot_set_status(
                lot_id=lot.pk, status=LotStatus.ON_HOLD, actor=action.decided_by, reason=reason
            )
            held.append(lot.pk)
    return {"held_lot_ids": held}


def lot_hold_revert(action) -> None:
    for lot in Lot.objects.filter(pk__in=(action.result or {}).get("held_lot_ids", [])):
        if lot.status == LotStatus.ON_HOLD:
            lot_set_status(
                lot_id=lot.pk,
                status=LotStatus.AVAILABLE,
                actor=action.reverted_by,
                reason=f"action {action.pk} reverted",
            )


def operation_stop_apply(action) -> dict[str, Any]:
    operation_id = action.payload.get("operation_id")
    if not isinstance(operation_id, int):
        raise ValidationFailed(f"Action {action.pk} names no operation.")
    operation_pause(
        operation_id=operation_id, actor=action.decided_by, reason=f"SPC: action {action.pk}"
    )
    return {"operation_id": operation_id}


def operation_stop_revert(action) -> None:
    operation = Operation.objects.filter(pk=action.payload.get("operation_id")).first()
    if operation is not None and operation.state == OperationState.PAUSED:
        operation_resume(operation_id=operation.pk, actor=action.reverted_by)


def handlers_register() -> None:
    action_handler_register(
        ActionKind.QUALITY_ALERT, apply=quality_alert_apply, revert=quality_alert_revert
    )
    action_handler_register(ActionKind.SPC_LOT_HOLD, apply=lot_hold_apply, revert=lot_hold_revert)
    action_handler_register(
        ActionKind.OPERATION_STOP, apply=operation_stop_apply, revert=operation_stop_revert
    )
