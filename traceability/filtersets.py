"""Query filters of the traceability API: one FilterSet per model the API lists."""

import django_filters

from traceability.models import AuditEvent, Lot, SerialUnit


class LotFilterSet(django_filters.FilterSet):
    class Meta:
        model = Lot
        fields = ["item", "status", "origin", "supplier_lot_code"]


class SerialUnitFilterSet(django_filters.FilterSet):
    class Meta:
        model = SerialUnit
        fields = ["lot", "status"]


class AuditEventFilterSet(django_filters.FilterSet):
    class Meta:
        model = AuditEvent
        fields = ["action", "object_id", "content_type__model", "actor_name"]
