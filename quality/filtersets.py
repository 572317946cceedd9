"""Query filters of the quality API: one FilterSet per model the API lists."""

import django_filters

from quality.models import Characteristic, InspectionResult, Measurement


class CharacteristicFilterSet(django_filters.FilterSet):
    class Meta:
        model = Characteristic
        fields = ["product"]


class MeasurementFilterSet(django_filters.FilterSet):
    class Meta:
        model = Measurement
        fields = ["characteristic", "equipment", "operation", "lot"]


class InspectionResultFilterSet(django_filters.FilterSet):
    class Meta:
        model = InspectionResult
        fields = ["is_pass", "defect_class", "source", "equipment", "lot"]
