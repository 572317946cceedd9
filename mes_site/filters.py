"""Filters shared by the apps' FilterSets."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time, in UTC: an offset PostgreSQL cannot store (beyond ±15:59, which
    Python allows up to ±23:59) is converted, and one that leaves the calendar is a 400."""

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None or parsed.tzinfo is None:
            return parsed
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError(
                "Enter a date-time within years 1 to 9999 in UTC."
            ) from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend, skipping the FilterSet when the query string names none of its
    filters: building one deep-copies every filter with its form field, about a millisecond
    per list request, to filter nothing (an absent or empty value never filters in
    django-filter, ``method`` filters included). A request naming a filter, valid or not, goes
    through the FilterSet as before."""

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None and not any(
            name in filterset_class.base_filters for name in request.query_params
        ):
            return queryset
        return super().filter_queryset(request, queryset, view)
