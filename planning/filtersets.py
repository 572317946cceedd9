"""Filters of planning's list endpoints (django-filter), one FilterSet per listed model."""

from __future__ import annotations

import django_filters

from planning.models import CustomerOrder, ScheduleRun

__all__ = ["CustomerOrderFilterSet", "ScheduleRunFilterSet"]


class ScheduleRunFilterSet(django_filters.FilterSet):
    class Meta:
        model = ScheduleRun
        fields = ["site", "status", "trigger", "is_current"]


class CustomerOrderFilterSet(django_filters.FilterSet):
    class Meta:
        model = CustomerOrder
        fields = ["state", "site", "area", "line", "line_stage"]
