"""FilterSets of the production API: one per model a viewset lists, named after the model."""

from __future__ import annotations

import django_filters
from django.db.models import Q

from mes_site.filters import UtcIsoDateTimeFilter
from production.models import (
    Alert,
    AlertRule,
    Area,
    Cell,
    DowntimeReason,
    Equipment,
    EquipmentStateInterval,
    Line,
    OeeSnapshot,
    Operation,
    OperationTemplate,
    PlannedDowntime,
    Routing,
    Shift,
    ShiftBreak,
    ShiftCalendar,
    Signal,
    Site,
    WorkOrder,
)

# --- plant model ----------


class SiteFilterSet(django_filters.FilterSet):
    class Meta:
        model = Site
        fields = ["enterprise", "code"]


class AreaFilterSet(django_filters.FilterSet):
    class Meta:
        model = Area
        fields = ["site", "code"]


class LineFilterSet(django_filters.FilterSet):
    class Meta:
        model = Line
        fields = ["area", "code"]


class CellFilterSet(django_filters.FilterSet):
    class Meta:
        model = Cell
        fields = ["line", "code"]


class EquipmentFilterSet(django_filters.FilterSet):
    class Meta:
        model = Equipment
        fields = ["cell", "cell__line", "is_active", "code"]


class SignalFilterSet(django_filters.FilterSet):
    class Meta:
        model = Signal
        fields = ["equipment", "name", "data_type"]


# --- products and routings ----------


class RoutingFilterSet(django_filters.FilterSet):
    class Meta:
        model = Routing
        fields = ["product", "is_active"]


class OperationTemplateFilterSet(django_filters.FilterSet):
    class Meta:
        model = OperationTemplate
        fields = ["routing", "capability"]


# --- calendars and downtime reasons ----------


class ShiftCalendarFilterSet(django_filters.FilterSet):
    class Meta:
        model = ShiftCalendar
        fields = ["site", "line"]


class ShiftFilterSet(django_filters.FilterSet):
    class Meta:
        model = Shift
        fields = ["calendar"]


class ShiftBreakFilterSet(django_filters.FilterSet):
    class Meta:
        model = ShiftBreak
        fields = ["shift"]


class PlannedDowntimeFilterSet(django_filters.FilterSet):
    class Meta:
        model = PlannedDowntime
        fields = ["calendar", "kind"]


class DowntimeReasonFilterSet(django_filters.FilterSet):
    class Meta:
        model = DowntimeReason
        fields = ["parent", "iso_element", "is_active"]


# --- work orders ----------


class WorkOrderFilterSet(django_filters.FilterSet):
    class Meta:
        model = WorkOrder
        fields = ["state", "site", "line", "product", "source"]


class OperationFilterSet(django_filters.FilterSet):
    class Meta:
        model = Operation
        fields = ["state", "work_order", "assigned_equipment", "capability"]


# --- monitoring: OEE, states, alerts ----------


class OeeSnapshotFilterSet(django_filters.FilterSet):
    start = UtcIsoDateTimeFilter(field_name="period_start_at", lookup_expr="gte")
    end = UtcIsoDateTimeFilter(field_name="period_start_at", lookup_expr="lt")

    class Meta:
        model = OeeSnapshot
        fields = ["scope", "scope_id", "period", "is_closed", "work_order"]


class EquipmentStateIntervalFilterSet(django_filters.FilterSet):
    start = UtcIsoDateTimeFilter(method="filter_start", help_text="Ends after this.")
    end = UtcIsoDateTimeFilter(field_name="start_at", lookup_expr="lt")
    line = django_filters.NumberFilter(field_name="equipment__cell__line")

    class Meta:
        model = EquipmentStateInterval
        fields = ["equipment", "state", "needs_reason", "is_minor_stop", "source"]

    def filter_start(self, queryset, name, value):
        return queryset.filter(Q(end_at__isnull=True) | Q(end_at__gt=value))


class AlertFilterSet(django_filters.FilterSet):
    since = UtcIsoDateTimeFilter(field_name="raised_at", lookup_expr="gte")
    until = UtcIsoDateTimeFilter(field_name="raised_at", lookup_expr="lt")

    class Meta:
        model = Alert
        fields = ["state", "severity", "rule", "equipment", "line"]


class AlertRuleFilterSet(django_filters.FilterSet):
    class Meta:
        model = AlertRule
        fields = ["metric", "severity", "is_active", "equipment", "line"]
