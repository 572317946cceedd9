"""Alerts and alert rules in the user's scope."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from production.models import Alert, AlertRule
from production.selectors.plant import scope_get


def alert_list(*, user) -> QuerySet[Alert]:
    """Alerts on the equipment or lines the user may see (newest first)."""
    scope = scope_get(user)
    queryset = Alert.objects.select_related(
        "rule", "equipment", "line", "signal", "acknowledged_by"
    ).order_by("-raised_at", "-id")
    if scope.is_unrestricted:
        return queryset
    return queryset.filter(
        Q(line_id__in=scope.line_ids)
        | Q(line__area__site_id__in=scope.site_ids)
        | Q(equipment__cell__line_id__in=scope.line_ids)
        | Q(equipment__cell__line__area__site_id__in=scope.site_ids)
    )


def alert_rule_list() -> QuerySet[AlertRule]:
    return AlertRule.objects.select_related("equipment", "line")
