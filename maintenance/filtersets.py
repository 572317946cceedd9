"""Query filters of the maintenance API: one FilterSet per model the API lists."""

import django_filters

from maintenance.models import (
    AnomalyEpisode,
    ComponentPart,
    FailureEvent,
    HealthBaseline,
    HealthSnapshot,
    MaintenanceWorkOrder,
    PreventivePlan,
    SensorSuspicion,
)
from mes_site.filters import UtcIsoDateTimeFilter


class ComponentPartFilterSet(django_filters.FilterSet):
    class Meta:
        model = ComponentPart
        fields = ["equipment", "spare_item"]


class MaintenanceWorkOrderFilterSet(django_filters.FilterSet):
    class Meta:
        model = MaintenanceWorkOrder
        fields = ["state", "kind", "equipment", "priority", "preventive_plan"]


class HealthSnapshotFilterSet(django_filters.FilterSet):
    since = UtcIsoDateTimeFilter(field_name="ts", lookup_expr="gte")
    until = UtcIsoDateTimeFilter(field_name="ts", lookup_expr="lte")

    class Meta:
        model = HealthSnapshot
        fields = ["equipment", "state", "is_anomaly", "recommendation", "episode"]


class HealthBaselineFilterSet(django_filters.FilterSet):
    class Meta:
        model = HealthBaseline
        fields = ["equipment", "status"]


class AnomalyEpisodeFilterSet(django_filters.FilterSet):
    class Meta:
        model = AnomalyEpisode
        fields = ["equipment", "state"]


class PreventivePlanFilterSet(django_filters.FilterSet):
    class Meta:
        model = PreventivePlan
        fields = ["equipment", "trigger", "is_active"]


class FailureEventFilterSet(django_filters.FilterSet):
    class Meta:
        model = FailureEvent
        fields = ["equipment", "component", "work_order"]


class SensorSuspicionFilterSet(django_filters.FilterSet):
    class Meta:
        model = SensorSuspicion
        fields = ["equipment", "signal", "status", "verdict"]
