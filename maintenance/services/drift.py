"""Sensor drift of redundant pairs: assess, mark the suspect sensor, propose its calibration.

:func:`sensor_drift_check` (Celery ``maintenance.tasks.sensor_drift_check``, every minute
from beat for each active pair) reads the last ``MAINTENANCE_DRIFT_WINDOW_S`` of the pair's
readings on a 1 s grid (from the last clearing of a suspicion of the pair at the earliest, so
a recalibrated sensor is judged on its new readings only), builds the witnesses — probe A,
probe B, and the spindle thermal model from power and speed — and runs
:func:`maintenance.algorithms.drift.drift_assess`. For a suspect sensor (drifting, ambiguous,
flat-lined, jumped; ``ambiguous`` only for two probes without a model — with the model
the check waits until it names the drifting probe), once per suspicion (one open suspicion
per signal: a unique constraint):

- a ``SensorSuspicion`` is opened and the signal flagged ``is_suspect`` — the alert rules
  skip it and the health refresh refuses suspect feature signals ("sensor suspect");
- its readings from the detection on are marked ``QUALITY_UNCERTAIN_SENSOR`` (kept), at
  every check while the suspicion is open;
- a calibration work order (``CAL-<suspicion>``) is proposed through the guardrails
  (``maintenance_order`` action, dedupe key ``drift:<suspicion>:calibration``).

Completing the calibration order, or a person clearing it, ends the suspicion.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from autonomy.choices import ActionKind
from autonomy.services.guardrails import action_propose
from maintenance import selectors
from maintenance.algorithms.drift import (
    DriftAssessment,
    DriftSettings,
    SensorReport,
    SensorState,
    ThermalModel,
    Witness,
    drift_assess,
    thermal_model_predict,
)
from maintenance.choices import MaintenanceKind, MaintenancePriority, PairModel, SuspicionStatus
from maintenance.conf import setting
from maintenance.models import RedundantPair, SensorSuspicion
from mes_site.errors import Conflict, NotFound
from production.models import Signal
from production.services.signals import signal_suspect_set
from traceability.services import audit_event_record
from workers.choices import QUALITY_UNCERTAIN_SENSOR
from workers.store import readings_quality_mark

logger = logging.getLogger(__name__)

MODEL_WITNESS = "model"
STEP_S = 1.0
CALIBRATE_WITHIN_H = 24.0  # the calibration order's window: from now to a day (+ the job)


def drift_settings() -> DriftSettings:
    return DriftSettings(
        cusum_k=float(setting("MAINTENANCE_DRIFT_CUSUM_K")),
        cusum_h=float(setting("MAINTENANCE_DRIFT_CUSUM_H")),
    )


def calibration_order_number(suspicion: SensorSuspicion) -> str:
    return f"CAL-{suspicion.pk:06d}"


def _witnesses(pair: RedundantPair, values: np.ndarray) -> list[Witness]:
    """Probe A, probe B and the thermal model (columns: a, b?, power?, speed?)."""
    witnesses = [Witness(pair.signal_a.name, values[:, 0])]
    column = 1
    if pair.signal_b_id is not None:
        witnesses.append(Witness(pair.signal_b.name, values[:, column]))
        column += 1
    if pair.model == PairModel.SPINDLE_THERMAL and pair.power_signal_id is not None:
        power = values[:, column]
        speed = values[:, column + 1] if pair.speed_signal_id is not None else np.zeros(len(power))
        probes = np.column_stack([w.values for w in witnesses])
        measured = np.nanmedian(probes[np.isfinite(probes).any(axis=1)], axis=1)
        model = ThermalModel(
            ambient_c=pair.ambient_c,
            thermal_resistance_c_per_kw=pair.thermal_resistance_c_per_kw,
            speed_heat_c_per_krpm=pair.speed_heat_c_per_krpm,
            time_constant_s=pair.time_constant_s,
        )
        predicted = thermal_model_predict(
            model,
            power_w=power,
            speed_rpm=np.nan_to_num(speed),
            dt_s=STEP_S,
            initial_c=float(measured[0]) if len(measured) else None,
        )
        witnesses.append(Witness(MODEL_WITNESS, predicted, sigma=pair.model_sigma_c, is_model=True))
    return witnesses


@dataclass(frozen=True)
class PairWindow:
    """One assessment of a pair: the grid's times (epoch s) and the verdicts, or why none."""

    times_s: np.ndarray
    assessment: DriftAssessment | None
    why_not: str = ""


def pair_assess(pair: RedundantPair, *, now: datetime) -> PairWindow:
    """The assessment of a pair over its window (from the last clearing at the earliest)."""
    since = now - timedelta(seconds=float(setting("MAINTENANCE_DRIFT_WINDOW_S")))
    signal_ids = [i for i in (pair.signal_a_id, pair.signal_b_id) if i is not None]
    last_cleared = SensorSuspicion.objects.filter(
        signal_id__in=signal_ids, status=SuspicionStatus.CLEARED
    ).aggregate(last=Max("cleared_at"))["last"]
    if last_cleared is not None and last_cleared > since:
        since = last_cleared
    columns = list(signal_ids)
    if pair.model == PairModel.SPINDLE_THERMAL and pair.power_signal_id is not None:
        columns.append(pair.power_signal_id)
        if pair.speed_signal_id is not None:
            columns.append(pair.speed_signal_id)
    times, values = selectors.readings_aligned(
        signal_ids=columns, since=since, until=now, step_s=STEP_S
    )
    witnesses = _witnesses(pair, values)
    if len(witnesses) < 2:
        return PairWindow(times, None, "one witness only (no probe B, no model inputs)")
    return PairWindow(times, drift_assess(witnesses, dt_s=STEP_S, settings=drift_settings()))


def _suspicion_open(
    pair: RedundantPair, signal: Signal, report: SensorReport, detected_at: datetime
) -> SensorSuspicion | None:
    """Open the suspicion and propose the calibration; None when one is open already."""
    try:
        with transaction.atomic():
            suspicion = SensorSuspicion.objects.create(
                signal=signal,
                equipment=pair.equipment,
                pair=pair,
                verdict=report.state.value,
                detected_at=detected_at,
                marked_from_at=detected_at,
                residual_sigma=report.residual_mean,
                detail=report.detail[:300],
            )
    except IntegrityError:
        return None
    equipment = pair.equipment
    signal_suspect_set(
        signal_id=signal.pk, is_suspect=True, reason=f"{pair.name}: {report.detail}"[:300]
    )
    audit_event_record(
        actor=None,
        obj=suspicion,
        action="sensor suspect",
        new_value=suspicion.verdict,
        reason=suspicion.detail,
        data={"pair": pair.pk, "signal": signal.name, "detected_at": detected_at.isoformat()},
    )
    number = calibration_order_number(suspicion)
    duration_h = float(setting("MAINTENANCE_DRIFT_CALIBRATION_DURATION_H"))
    now = timezone.now()
    explanation = (
        f"{equipment.code}/{signal.name} is suspect ({suspicion.get_verdict_display()}): "
        f"{report.detail}, found by the redundant pair {pair.name!r} at "
        f"{detected_at:%Y-%m-%d %H:%M:%S} UTC. Its readings are kept but marked uncertain and "
        f"it raises no alerts until it is calibrated. Calibrate it ({number})."
    )
    action_propose(
        site=equipment.cell.line.area.site,
        kind=ActionKind.MAINTENANCE_ORDER,
        target=f"{equipment.code}: calibrate {signal.name} ({number})",
        payload={
            "equipment_id": equipment.pk,
            "number": number,
            "kind": MaintenanceKind.CALIBRATION,
            "priority": MaintenancePriority.MEDIUM,
            "component": signal.name,
            "title": f"Calibrate {signal.name} of {equipment.code}",
            "description": explanation,
            "window_start_at": now.isoformat(),
            "window_end_at": (
                now + timedelta(hours=max(duration_h, 0.25) + CALIBRATE_WITHIN_H)
            ).isoformat(),
            "estimated_duration_h": duration_h,
        },
        inverse={"action": "cancel the maintenance work order", "number": number},
        explanation=explanation,
        explanation_data={
            "pair": pair.name,
            "signal": signal.name,
            "verdict": suspicion.verdict,
            "residual_sigma": report.residual_mean,
            "noise_sigma": report.sigma,
            "detected_at": detected_at.isoformat(),
            "cusum_k": drift_settings().cusum_k,
            "cusum_h": drift_settings().cusum_h,
        },
        dedupe_key=f"drift:{suspicion.pk}:calibration",
    )
    suspicion.calibration_order_number = number
    suspicion.save(update_fields=["calibration_order_number"])
    return suspicion


def sensor_drift_check(*, pair_id: int, now: datetime | None = None) -> list[str]:
    """Assess one pair; returns the names of the signals that became suspect now."""
    now = now or timezone.now()
    pair = selectors.redundant_pair_active_get(pair_id=pair_id)
    if pair is None:
        raise NotFound(f"No active redundant pair {pair_id}.")
    window = pair_assess(pair, now=now)
    signals = {pair.signal_a.name: pair.signal_a}
    if pair.signal_b_id is not None:
        signals[pair.signal_b.name] = pair.signal_b
    opened: list[str] = []
    result: dict[str, Any] = {"detail": window.why_not} if window.why_not else {}
    with transaction.atomic():
        assessment = window.assessment
        for name, report in (assessment.sensors if assessment else {}).items():
            result[name] = {
                "state": report.state.value,
                "detail": report.detail,
                "sigma": report.sigma,
                "residual_sigma": report.residual_mean,
            }
        has_reference = pair.model != PairModel.NONE
        for report in assessment.suspects if assessment else []:
            if report.state == SensorState.AMBIGUOUS and has_reference:
                continue  # the model will name the drifting probe as the drift grows
            index = report.detected_at_index
            detected_at = (
                datetime.fromtimestamp(float(window.times_s[index]), tz=UTC)
                if index is not None
                else now
            )
            if _suspicion_open(pair, signals[report.name], report, detected_at) is not None:
                opened.append(report.name)
        RedundantPair.objects.filter(pk=pair.pk).update(last_checked_at=now, last_result=result)
        for suspicion in SensorSuspicion.objects.filter(
            signal_id__in=[s.pk for s in signals.values()], status=SuspicionStatus.OPEN
        ):
            readings_quality_mark(
                signal_id=suspicion.signal_id,
                since=suspicion.marked_from_at,
                quality=QUALITY_UNCERTAIN_SENSOR,
            )
    if opened:
        logger.warning("sensor drift on %s: %s suspect", pair, ", ".join(opened))
    return opened


def sensor_suspicion_clear(
    *, suspicion_id: int, actor=None, reason: str = "", at: datetime | None = None
) -> SensorSuspicion:
    """End a suspicion (sensor recalibrated or replaced): the signal is trusted again."""
    with transaction.atomic():
        suspicion = SensorSuspicion.objects.select_for_update().filter(pk=suspicion_id).first()
        if suspicion is None:
            raise NotFound(f"No sensor suspicion {suspicion_id}.")
        if suspicion.status != SuspicionStatus.OPEN:
            raise Conflict(f"The suspicion was cleared already at {suspicion.cleared_at}.")
        suspicion.status = SuspicionStatus.CLEARED
        suspicion.cleared_at = at or timezone.now()
        suspicion.cleared_by = actor if actor is not None and actor.is_authenticated else None
        suspicion.clear_reason = reason[:300]
        suspicion.save(update_fields=["status", "cleared_at", "cleared_by", "clear_reason"])
        signal_suspect_set(
            signal_id=suspicion.signal_id, is_suspect=False, reason=reason, actor=actor
        )
        audit_event_record(
            actor=actor,
            obj=suspicion,
            action="sensor suspicion cleared",
            old_value=SuspicionStatus.OPEN,
            new_value=SuspicionStatus.CLEARED,
            reason=reason,
        )
    return suspicion
