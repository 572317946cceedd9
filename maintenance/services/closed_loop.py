"""The closed loop on an anomaly: maintenance order, spare part, procurement — as proposals.

Run once per anomaly episode (from :func:`maintenance.services.health.health_refresh`):

1. choose the failing component from the symptoms among the equipment's mapped components
   (an impulsive or high-energy vibration points at a bearing; otherwise the first mapped
   component — the explanation says which rule chose it);
2. propose a **predictive maintenance work order** with a window that ends before RUL p10
   (and no later than the recommendation's horizon: 1 day critical, 7 days high);
3. if the component's spare item is available at the site (on hand − reserved), propose a
   **part reservation** of ``quantity_per_replacement`` for that order, otherwise a
   **procurement request** for the ERP. Equipment with no spare mapped gets the order only,
   and its explanation says so;
4. each step goes through ``action_propose`` (autonomy policy: applied at once or waiting
   for a supervisor), with a dedupe key of the episode so that a repeat creates nothing.

Publishing the diagnostics and triggering the scheduler happen after commit
(:mod:`maintenance.services.diagnostics`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from autonomy.choices import ActionKind, ActionStatus
from autonomy.models import ProposedAction
from autonomy.services.guardrails import action_propose
from inventory.choices import ProcurementStatus, ReservationStatus
from inventory.models import ProcurementRequest, Reservation
from inventory.selectors import item_available
from inventory.services import procurement_request_cancel, reservation_release
from maintenance import selectors
from maintenance.choices import MaintenanceKind, MaintenancePriority, RulState
from maintenance.conf import setting
from maintenance.models import AnomalyEpisode, ComponentPart, HealthSnapshot
from production.models import Equipment

logger = logging.getLogger(__name__)

# How soon the work should be done when the RUL gives no earlier limit, by recommendation.
HORIZON_H = {
    MaintenancePriority.CRITICAL: 24.0,
    MaintenancePriority.HIGH: 7 * 24.0,
    MaintenancePriority.MEDIUM: 30 * 24.0,
    MaintenancePriority.LOW: 90 * 24.0,
}
# Components a vibration anomaly points at, most specific first.
VIBRATION_COMPONENT_KEYWORDS = ("bearing", "spindle", "gear", "shaft", "coupling", "fan")
KURTOSIS_IMPULSIVE = 3.5
NO_SPARE_MAPPED = "no spare part mapped"


@dataclass(frozen=True)
class ComponentChoice:
    part: ComponentPart | None
    reason: str


def component_choose(parts: list[ComponentPart], snapshot: HealthSnapshot) -> ComponentChoice:
    """The component the symptoms point at, with the rule that chose it."""
    if not parts:
        return ComponentChoice(None, NO_SPARE_MAPPED)
    kurtosis = snapshot.kurtosis or 0.0
    rms_ratio = snapshot.rms_ratio or 1.0
    symptom = (
        f"impulsive vibration (kurtosis {kurtosis:.1f} > {KURTOSIS_IMPULSIVE})"
        if kurtosis > KURTOSIS_IMPULSIVE
        else f"vibration anomaly (α {snapshot.alpha or 0.0:.2f}, RMS × {rms_ratio:.2f})"
    )
    for keyword in VIBRATION_COMPONENT_KEYWORDS:
        for part in parts:
            if keyword in part.component.lower():
                return ComponentChoice(
                    part, f"{symptom} points at a rotating part: {part.component!r}"
                )
    first = parts[0]
    return ComponentChoice(
        first,
        f"{symptom}; no mapped component matches a vibration symptom, so the first mapped "
        f"component {first.component!r} was chosen",
    )


def maintenance_window(
    snapshot: HealthSnapshot, *, now: datetime, duration_h: float
) -> tuple[datetime, datetime, str]:
    """(start, end, why): from now to before RUL p10, within the recommendation's horizon."""
    priority = snapshot.recommendation or MaintenancePriority.HIGH
    horizon_end = now + timedelta(hours=HORIZON_H[MaintenancePriority(priority)])
    end = horizon_end
    why = f"{priority} recommendation: within {HORIZON_H[MaintenancePriority(priority)]:g} h"
    rul_p10_h = 0.0 if snapshot.rul_state == RulState.PAST_THRESHOLD else snapshot.rul_p10_h
    if rul_p10_h is not None and snapshot.rul_state in {
        RulState.ESTIMATED,
        RulState.PAST_THRESHOLD,
    }:
        rul_end = snapshot.ts + timedelta(hours=rul_p10_h)
        if rul_end < end:
            end = rul_end
            why = f"before RUL p10 ({rul_p10_h:.0f} h after {snapshot.ts:%Y-%m-%d %H:%M} UTC)"
    shortest_end = now + timedelta(hours=max(duration_h, 0.25))
    if end < shortest_end:
        end = shortest_end
        why += "; at once (less time left than the job takes)"
    return now, end, why


def _health_summary(equipment: Equipment, snapshot: HealthSnapshot) -> str:
    rul = {
        RulState.ESTIMATED: (
            f"RUL p10 {snapshot.rul_p10_h:.0f} h / p50 {snapshot.rul_p50_h:.0f} h / "
            f"p90 {snapshot.rul_p90_h:.0f} h"
            if snapshot.rul_p10_h is not None
            and snapshot.rul_p50_h is not None
            and snapshot.rul_p90_h is not None
            else "RUL partly unbounded"
        ),
        RulState.PAST_THRESHOLD: "past the failure threshold (RUL 0)",
        RulState.NOT_DEGRADING: "no degradation trend yet (RUL not estimated)",
        RulState.NOT_ENOUGH_DATA: "too little history for a RUL",
    }.get(RulState(snapshot.rul_state), "RUL unknown")
    floor = (
        " (alarm rule: kurtosis > 3.5 or RMS > 2.5 × healthy)"
        if snapshot.is_floor_rule_fired
        else ""
    )
    return (
        f"{equipment.code}: anomaly α {snapshot.alpha:.2f}{floor}, recommendation "
        f"{snapshot.recommendation}, {rul}"
    )


def _snapshot_data(snapshot: HealthSnapshot) -> dict[str, Any]:
    return {
        "snapshot_id": snapshot.pk,
        "ts": snapshot.ts.isoformat(),
        "alpha": snapshot.alpha,
        "chi_square_alpha": snapshot.chi_square_alpha,
        "kurtosis": snapshot.kurtosis,
        "rms_ratio": snapshot.rms_ratio,
        "is_floor_rule_fired": snapshot.is_floor_rule_fired,
        "health_index": snapshot.health_index,
        "degradation_slope_per_h": snapshot.degradation_slope_per_h,
        "rul_state": snapshot.rul_state,
        "rul_p10_h": snapshot.rul_p10_h,
        "rul_p50_h": snapshot.rul_p50_h,
        "rul_p90_h": snapshot.rul_p90_h,
        "recommendation": snapshot.recommendation,
        "model_version": snapshot.model_version,
    }


def _quantity_text(quantity: Decimal) -> str:
    return format(quantity.normalize(), "f")


def predictive_order_number(episode: AnomalyEpisode) -> str:
    return f"PDM-{episode.pk:06d}"


def _dedupe_key(equipment: Equipment, episode: AnomalyEpisode, step: str) -> str:
    return f"anomaly:{equipment.pk}:{episode.pk}:{step}"


def anomaly_loop_run(
    *,
    equipment: Equipment,
    episode: AnomalyEpisode,
    snapshot: HealthSnapshot,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Propose the loop's actions for one episode (in the caller's transaction); idempotent."""
    now = now or timezone.now()
    site = equipment.cell.line.area.site
    number = predictive_order_number(episode)
    duration_h = float(setting("MAINTENANCE_PREDICTIVE_DURATION_H"))
    choice = component_choose(selectors.component_parts_of(equipment_id=equipment.pk), snapshot)
    window_start, window_end, window_why = maintenance_window(
        snapshot, now=now, duration_h=duration_h
    )
    summary = _health_summary(equipment, snapshot)
    component = choice.part.component if choice.part is not None else ""
    evidence = _snapshot_data(snapshot)

    if choice.part is None:
        spare_text = (
            f"No spare part mapped for {equipment.code}: no reservation or procurement request "
            "was made. Map its components to spare items (Maintenance › Component parts)."
        )
    else:
        spare_text = (
            f"Component {choice.part.component} ({choice.reason}); spare item "
            f"{choice.part.spare_item.code}."
        )
    order_explanation = (
        f"{summary}. Predictive maintenance {number} on {equipment.code}, window "
        f"{window_start:%Y-%m-%d %H:%M} – {window_end:%Y-%m-%d %H:%M} UTC ({window_why}). "
        f"{spare_text}"
    )
    order_action = action_propose(
        site=site,
        kind=ActionKind.MAINTENANCE_ORDER,
        target=f"{equipment.code}: predictive maintenance {number}",
        payload={
            "equipment_id": equipment.pk,
            "number": number,
            "kind": MaintenanceKind.PREDICTIVE,
            "priority": snapshot.recommendation or MaintenancePriority.HIGH,
            "component": component,
            "title": f"Predictive: {component or 'inspect'} of {equipment.code}",
            "description": order_explanation,
            "window_start_at": window_start.isoformat(),
            "window_end_at": window_end.isoformat(),
            "estimated_duration_h": duration_h,
            "episode_id": episode.pk,
        },
        inverse={"action": "cancel the maintenance work order", "number": number},
        explanation=order_explanation,
        explanation_data={
            **evidence,
            "window_reason": window_why,
            "component": component,
            "component_reason": choice.reason,
            "spare": None if choice.part is None else choice.part.spare_item.code,
        },
        dedupe_key=_dedupe_key(equipment, episode, "maintenance_order"),
    )
    result: dict[str, Any] = {
        "work_order_number": number,
        "maintenance_order": {"action_id": order_action.pk, "status": str(order_action.status)},
        "component": component,
        "component_reason": choice.reason,
    }

    if choice.part is None:
        result["spare"] = NO_SPARE_MAPPED
    else:
        result["spare"] = _spare_step(
            equipment=equipment,
            episode=episode,
            part=choice.part,
            site=site,
            number=number,
            needed_by=window_start,
            summary=summary,
            evidence=evidence,
            component_reason=choice.reason,
        )
    episode.component = component
    episode.loop_result = result
    episode.save(update_fields=["component", "loop_result"])
    logger.info("closed loop for %s episode %s: %s", equipment.code, episode.pk, result)
    return result


def _spare_step(
    *,
    equipment: Equipment,
    episode: AnomalyEpisode,
    part: ComponentPart,
    site,
    number: str,
    needed_by: datetime,
    summary: str,
    evidence: dict[str, Any],
    component_reason: str,
) -> dict[str, Any]:
    item = part.spare_item
    quantity = Decimal(part.quantity_per_replacement)
    available = item_available(item_id=item.pk, site_id=site.pk)
    data = {
        **evidence,
        "item": item.code,
        "quantity": str(quantity),
        "available": str(available),
        "component": part.component,
        "component_reason": component_reason,
    }
    dedupe_key = _dedupe_key(equipment, episode, "spare")
    if available >= quantity:
        explanation = (
            f"{summary}. Component {part.component} ({component_reason}). Reserve "
            f"{_quantity_text(quantity)} × {item.code} for {number}: "
            f"{_quantity_text(available)} available at {site.code}."
        )
        action = action_propose(
            site=site,
            kind=ActionKind.PART_RESERVATION,
            target=f"{item.code} × {_quantity_text(quantity)} for {number}",
            payload={
                "item_id": item.pk,
                "item_code": item.code,
                "site_id": site.pk,
                "quantity": str(quantity),
                "reference": number,
                "equipment_id": equipment.pk,
                "component": part.component,
            },
            inverse={"action": "release the reservation"},
            explanation=explanation,
            explanation_data=data,
            dedupe_key=dedupe_key,
        )
        return {"kind": "part_reservation", "action_id": action.pk, "status": str(action.status)}
    explanation = (
        f"{summary}. Component {part.component} ({component_reason}). {item.code} is not in "
        f"stock at {site.code} ({_quantity_text(available)} available, "
        f"{_quantity_text(quantity)} needed): request {_quantity_text(quantity)} from the ERP, "
        f"needed by {needed_by:%Y-%m-%d %H:%M} UTC for {number}."
    )
    action = action_propose(
        site=site,
        kind=ActionKind.PROCUREMENT_REQUEST,
        target=f"buy {item.code} × {_quantity_text(quantity)} for {number}",
        payload={
            "item_id": item.pk,
            "item_code": item.code,
            "site_id": site.pk,
            "quantity": str(quantity),
            "needed_by": needed_by.isoformat(),
            "reference": number,
            "reason": explanation,
        },
        inverse={"action": "cancel the procurement request"},
        explanation=explanation,
        explanation_data=data,
        dedupe_key=dedupe_key,
    )
    return {"kind": "procurement_request", "action_id": action.pk, "status": str(action.status)}


def loop_orphans_release() -> int:
    """Release the reservations and cancel the pending procurement requests made for a
    predictive order whose proposal a supervisor rejected (the order will never exist).

    Returns how many were released or cancelled.
    """
    numbers = [
        payload.get("number")
        for payload in ProposedAction.objects.filter(
            kind=ActionKind.MAINTENANCE_ORDER, status=ActionStatus.REJECTED
        ).values_list("payload", flat=True)
        if isinstance(payload, dict) and payload.get("number")
    ]
    if not numbers:
        return 0
    count = 0
    for reservation_id in Reservation.objects.filter(
        reference__in=numbers,
        maintenance_work_order__isnull=True,
        status=ReservationStatus.ACTIVE,
    ).values_list("id", flat=True):
        reservation_release(
            reservation_id=reservation_id, reason="its maintenance order was rejected"
        )
        count += 1
    for request_id in ProcurementRequest.objects.filter(
        reference__in=numbers,
        maintenance_work_order__isnull=True,
        status=ProcurementStatus.PENDING,
    ).values_list("id", flat=True):
        procurement_request_cancel(
            request_id=request_id, reason="its maintenance order was rejected"
        )
        count += 1
    return count
