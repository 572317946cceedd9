"""FilterSets of the workers API (one per model listed by the API)."""

from __future__ import annotations

import django_filters

from mes_site.filters import UtcIsoDateTimeFilter
from workers.models import DeadLetter


class DeadLetterFilterSet(django_filters.FilterSet):
    last_seen_after = UtcIsoDateTimeFilter(field_name="last_seen_at", lookup_expr="gte")

    class Meta:
        model = DeadLetter
        fields = ["reason_code", "source", "is_resolved", "equipment"]
