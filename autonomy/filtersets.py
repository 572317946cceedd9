"""Filters of the guardrails' list endpoint (django-filter)."""

from __future__ import annotations

import django_filters

from autonomy.models import ProposedAction

__all__ = ["ProposedActionFilterSet"]


class ProposedActionFilterSet(django_filters.FilterSet):
    class Meta:
        model = ProposedAction
        fields = ["site", "status", "kind", "risk"]
