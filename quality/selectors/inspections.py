"""Reads of inspection plans, lot inspections and quality holds. Lot inspections and holds are
seen through their lot (traceability's scoping of lots: its line, or its store's site)."""

from django.db.models import QuerySet

from quality.models import InspectionPlan, LotInspection, QualityHold
from quality.models.holds import OPEN_HOLD_STATES
from traceability.selectors import lot_list_scoped


def inspection_plan_list() -> QuerySet[InspectionPlan]:
    return InspectionPlan.objects.select_related("product", "operation_template").prefetch_related(
        "characteristics"
    )


def lot_inspection_list(*, user) -> QuerySet[LotInspection]:
    return LotInspection.objects.select_related("plan", "lot", "equipment").filter(
        lot__in=lot_list_scoped(user=user)
    )


def quality_hold_list(*, user) -> QuerySet[QualityHold]:
    return QualityHold.objects.select_related("lot", "proposed_action").filter(
        lot__in=lot_list_scoped(user=user)
    )


def quality_hold_open_list(*, user) -> QuerySet[QualityHold]:
    return quality_hold_list(user=user).filter(status__in=OPEN_HOLD_STATES)
