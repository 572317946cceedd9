"""API of alerts (read, acknowledge) and alert rules (read; edited in the admin).

Scoped to the user's plant; permissions ``view_alert`` / ``acknowledge_alert``,
``view_alertrule``.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from mes_site.api import command_schema
from mes_site.fields import ModelSerializer
from production.api.permissions import ActionPermissions
from production.filtersets import AlertFilterSet, AlertRuleFilterSet
from production.models import Alert, AlertRule
from production.selectors.alerts import alert_list, alert_rule_list
from production.services.alerts import alert_acknowledge

# --- serializers ----------


class AlertSerializer(ModelSerializer):
    rule_name = serializers.CharField(source="rule.name", read_only=True)
    equipment_code = serializers.CharField(
        source="equipment.code", read_only=True, default=None, allow_null=True
    )
    line_code = serializers.CharField(
        source="line.code", read_only=True, default=None, allow_null=True
    )
    signal_name = serializers.CharField(
        source="signal.name", read_only=True, default=None, allow_null=True
    )
    acknowledged_by = serializers.CharField(
        source="acknowledged_by.username", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Alert
        fields = [
            "id",
            "rule",
            "rule_name",
            "equipment",
            "equipment_code",
            "line",
            "line_code",
            "signal",
            "signal_name",
            "severity",
            "state",
            "message",
            "value",
            "raised_at",
            "acknowledged_by",
            "acknowledged_at",
            "cleared_at",
        ]


class AlertRuleSerializer(ModelSerializer):
    class Meta:
        model = AlertRule
        fields = [
            "id",
            "name",
            "metric",
            "equipment",
            "line",
            "signal_name",
            "comparison",
            "threshold",
            "hysteresis",
            "severity",
            "is_active",
        ]


class NoteSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


# --- views ----------


@extend_schema_view(
    list=extend_schema(summary="Alerts and their history (filter state, severity, target)"),
    retrieve=extend_schema(summary="One alert"),
)
class AlertViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = AlertSerializer
    permission_classes = [ActionPermissions]
    action_permissions = {
        "*": ["production.view_alert"],
        "acknowledge": ["production.acknowledge_alert"],
    }
    filterset_class = AlertFilterSet
    ordering_fields = ["raised_at", "severity"]

    def get_queryset(self):
        return alert_list(user=self.request.user)

    @command_schema(
        request=NoteSerializer,
        response=AlertSerializer,
        summary="Acknowledge an active alert (who and when are recorded)",
    )
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        alert = self.get_object()
        serializer = NoteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        alert_acknowledge(
            alert_id=alert.pk, actor=request.user, note=serializer.validated_data["note"]
        )
        return Response(AlertSerializer(self.get_queryset().get(pk=alert.pk)).data)


@extend_schema_view(
    list=extend_schema(summary="Alert rules (edited in the admin)"),
    retrieve=extend_schema(summary="One alert rule"),
)
class AlertRuleViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = AlertRuleSerializer
    permission_classes = [ActionPermissions]
    action_permissions = {"*": ["production.view_alertrule"]}
    filterset_class = AlertRuleFilterSet

    def get_queryset(self):
        return alert_rule_list().order_by("pk")
