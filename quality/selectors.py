"""Reads of the quality app."""

from django.db.models import QuerySet

from quality.models import Characteristic, InspectionResult, Measurement


def characteristic_list() -> QuerySet[Characteristic]:
    return Characteristic.objects.select_related("product")


def measurement_list() -> QuerySet[Measurement]:
    return Measurement.objects.select_related("characteristic", "equipment", "measured_by")


def inspection_result_list() -> QuerySet[InspectionResult]:
    return InspectionResult.objects.select_related("equipment", "lot", "serial_unit")
