"""Inspection results (per serial or lot, attribute or variable) and lot inspections by
ISO 2859-1 sampling. A failed result or a rejected lot proposes a hold of the lot."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from mes_site.errors import Conflict, ValidationFailed
from quality.algorithms.sampling import SamplingPlan, single_sampling_plan
from quality.choices import HoldSource, InspectionSource, SamplingMethod
from quality.models import Characteristic, InspectionPlan, InspectionResult, LotInspection
from quality.services.holds import hold_propose


def _finite(value: float | None, field: str) -> None:
    if value is not None and (value != value or value in (float("inf"), float("-inf"))):
        raise ValidationFailed(f"{field} must be a finite number.", detail={field: value})


@transaction.atomic
def inspection_result_record(
    *,
    is_pass: bool | None = None,
    source: str = InspectionSource.MANUAL,
    defect_class: str = "",
    confidence: float | None = None,
    inspected_at: datetime | None = None,
    equipment=None,
    operation=None,
    lot=None,
    serial_unit=None,
    plan: InspectionPlan | None = None,
    characteristic: Characteristic | None = None,
    measured_value: float | None = None,
    actor=None,
) -> InspectionResult:
    """Record one inspected part or lot. A variable result (``measured_value`` of a
    ``characteristic``) passes when it lies within the spec; an attribute result says
    ``is_pass`` itself. A failed result of a lot (or of a serial of a lot) proposes a hold."""
    _finite(measured_value, "measured_value")
    _finite(confidence, "confidence")
    if measured_value is not None:
        if characteristic is None:
            raise ValidationFailed(
                "A measured value needs its characteristic.", detail={"characteristic": None}
            )
        in_spec = characteristic.is_in_spec(measured_value)
        if is_pass is not None and is_pass != in_spec:
            raise ValidationFailed(
                f"{measured_value} is {'within' if in_spec else 'outside'} the spec of "
                f"{characteristic.code}; is_pass says otherwise.",
                detail={"is_pass": is_pass},
            )
        is_pass = in_spec
        if not is_pass and not defect_class:
            defect_class = f"out_of_spec:{characteristic.code}"[:64]
    if is_pass is None:
        raise ValidationFailed("Say is_pass, or give a measured value.", detail={"is_pass": None})
    if not is_pass and not defect_class:
        raise ValidationFailed(
            "A failed inspection needs a defect class.", detail={"defect_class": ""}
        )
    if confidence is not None and not 0.0 <= confidence <= 1.0:
        raise ValidationFailed(
            "Confidence lies between 0 and 1.", detail={"confidence": confidence}
        )
    if (
        plan is not None
        and characteristic is not None
        and not plan.characteristics.filter(pk=characteristic.pk).exists()
    ):
        raise ValidationFailed(
            f"{characteristic.code} is not a characteristic of plan {plan.code}.",
            detail={"characteristic": characteristic.pk},
        )
    if serial_unit is not None:
        if lot is not None and serial_unit.lot_id != lot.pk:
            raise ValidationFailed(
                f"Serial {serial_unit.serial} is not of lot {lot.code}.", detail={"lot": lot.pk}
            )
        lot = serial_unit.lot
    result = InspectionResult.objects.create(
        is_pass=is_pass,
        source=source,
        defect_class=defect_class,
        confidence=confidence,
        inspected_at=inspected_at or timezone.now(),
        equipment=equipment,
        operation=operation,
        lot=lot,
        serial_unit=serial_unit,
        plan=plan,
        characteristic=characteristic,
        measured_value=measured_value,
    )
    if not is_pass and lot is not None:
        part = f"serial {serial_unit.serial}" if serial_unit is not None else f"lot {lot.code}"
        hold_propose(
            lot=lot,
            source=HoldSource.INSPECTION,
            reason=f"{part} failed inspection: {defect_class}",
            equipment=equipment,
            explanation_data={"inspection_result_id": result.pk, "defect_class": defect_class},
            actor=actor,
            inspection_result=result,
        )
    return result


def sampling_plan_get(*, plan: InspectionPlan, lot_size: int) -> SamplingPlan:
    """The ISO 2859-1 single sampling plan of ``plan`` for a lot of ``lot_size`` items."""
    if plan.sampling_method != SamplingMethod.ISO_2859:
        raise Conflict(
            f"Plan {plan.code} samples {plan.get_sampling_method_display().lower()}, not by lot.",
            detail={"plan": plan.pk},
        )
    try:
        return single_sampling_plan(
            lot_size=lot_size, inspection_level=plan.inspection_level, aql=plan.aql
        )
    except ValueError as error:
        raise ValidationFailed(str(error), detail={"lot_size": lot_size}) from error


@transaction.atomic
def lot_inspection_record(
    *,
    plan: InspectionPlan,
    lot,
    nonconforming_count: int,
    lot_size: int | None = None,
    defect_class: str = "",
    equipment=None,
    inspected_at: datetime | None = None,
    actor=None,
) -> LotInspection:
    """A lot inspected by its plan's sample: accepted with at most Ac nonconforming items,
    rejected (and a hold proposed) with Re or more."""
    size = lot_size if lot_size is not None else int(lot.quantity)
    sampling = sampling_plan_get(plan=plan, lot_size=size)
    if nonconforming_count < 0 or nonconforming_count > sampling.sample_size:
        raise ValidationFailed(
            f"Between 0 and the sample of {sampling.sample_size} items can be nonconforming.",
            detail={"nonconforming_count": nonconforming_count},
        )
    is_accepted = sampling.accepts(nonconforming_count)
    if not is_accepted and not defect_class:
        raise ValidationFailed(
            "A rejected lot needs a defect class.", detail={"defect_class": defect_class}
        )
    inspection = LotInspection.objects.create(
        plan=plan,
        lot=lot,
        equipment=equipment,
        lot_size=size,
        code_letter=sampling.code_letter,
        sample_size=sampling.sample_size,
        acceptance_number=sampling.acceptance_number,
        rejection_number=sampling.rejection_number,
        nonconforming_count=nonconforming_count,
        is_accepted=is_accepted,
        defect_class=defect_class,
        inspected_at=inspected_at or timezone.now(),
        inspected_by=actor if actor is not None and actor.is_authenticated else None,
    )
    if not is_accepted:
        hold_propose(
            lot=lot,
            source=HoldSource.LOT_INSPECTION,
            reason=(
                f"lot {lot.code} rejected by plan {plan.code}: {nonconforming_count} "
                f"nonconforming in {sampling.sample_size} (Re {sampling.rejection_number})"
            ),
            equipment=equipment,
            explanation_data={
                "lot_inspection_id": inspection.pk,
                "code_letter": sampling.code_letter,
                "sample_size": sampling.sample_size,
                "acceptance_number": sampling.acceptance_number,
                "rejection_number": sampling.rejection_number,
                "nonconforming_count": nonconforming_count,
            },
            actor=actor,
            lot_inspection=inspection,
        )
    return inspection
