"""Reads of the maintenance app, scoped like production's."""

from django.db.models import QuerySet

from maintenance.models import ComponentPart, MaintenanceWorkOrder
from production.selectors import scope_filter


def maintenance_work_order_list(*, user) -> QuerySet[MaintenanceWorkOrder]:
    return scope_filter(
        MaintenanceWorkOrder.objects.select_related("equipment", "requested_by"),
        user,
        line="equipment__cell__line_id",
        site="equipment__cell__line__area__site_id",
    )


def component_part_list() -> QuerySet[ComponentPart]:
    return ComponentPart.objects.select_related("equipment", "spare_item")
