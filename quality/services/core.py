"""Writes of the quality app."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from mes_site.errors import ValidationFailed
from quality.models import Characteristic, Measurement


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
