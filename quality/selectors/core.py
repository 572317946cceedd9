"""Reads of the quality app. Measurements and inspection results belong to the line of their
machine: they go through the one scoping rule (a record without a machine is seen by the
unscoped roles only)."""

from django.db.models import QuerySet

from mes_site.scope import scope_filter
from quality.models import Characteristic, InspectionResult, Measurement

EQUIPMENT_LINE = "equipment__cell__line_id"
EQUIPMENT_SITE = "equipment__cell__line__area__site_id"


def characteristic_list() -> QuerySet[Characteristic]:
    return Characteristic.objects.select_related("product")


def measurement_list(*, user) -> QuerySet[Measurement]:
    return scope_filter(
        Measurement.objects.select_related("characteristic", "equipment", "measured_by"),
        user,
        line=EQUIPMENT_LINE,
        site=EQUIPMENT_SITE,
    )


def inspection_result_list(*, user) -> QuerySet[InspectionResult]:
    return scope_filter(
        InspectionResult.objects.select_related("equipment", "lot", "serial_unit").prefetch_related(
            "holds__proposed_action"
        ),
        user,
        line=EQUIPMENT_LINE,
        site=EQUIPMENT_SITE,
    )
