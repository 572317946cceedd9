"""Writes of the quality app."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from mes_site.errors import ValidationFailed
from quality.choices import InspectionSource
from quality.models import Characteristic, InspectionResult, Measurement


@transaction.atomic
def measurement_record(
    *,
    characteristic: Characteristic,
    value: float,
    measured_at: datetime | None = None,
    equipment=None,
    operation=None,
    lot=None,
    actor=None,
) -> Measurement:
    if value != value or value in (float("inf"), float("-inf")):
        raise ValidationFailed("A measurement must be a finite number.")
    return Measurement.objects.create(
        characteristic=characteristic,
        value=value,
        measured_at=measured_at or timezone.now(),
        equipment=equipment,
        operation=operation,
        lot=lot,
        measured_by=actor if actor is not None and actor.is_authenticated else None,
    )


@transaction.atomic
def inspection_result_record(
    *,
    is_pass: bool,
    source: str = InspectionSource.MANUAL,
    defect_class: str = "",
    confidence: float | None = None,
    inspected_at: datetime | None = None,
    equipment=None,
    operation=None,
    lot=None,
    serial_unit=None,
) -> InspectionResult:
    if not is_pass and not defect_class:
        raise ValidationFailed("A failed inspection needs a defect class.")
    if confidence is not None and not 0.0 <= confidence <= 1.0:
        raise ValidationFailed("Confidence lies between 0 and 1.")
    return InspectionResult.objects.create(
        is_pass=is_pass,
        source=source,
        defect_class=defect_class,
        confidence=confidence,
        inspected_at=inspected_at or timezone.now(),
        equipment=equipment,
        operation=operation,
        lot=lot,
        serial_unit=serial_unit,
    )
