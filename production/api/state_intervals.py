"""API of the equipment state timeline: state intervals, stops that need a reason, operators
entering states and classifying stops.

Scoped to the user's plant; permissions ``view_equipmentstateinterval`` /
``change_equipmentstateinterval``.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from mes_site.api import ERROR_RESPONSES, command_schema
from mes_site.errors import ValidationFailed
from mes_site.fields import IntegerField, ModelSerializer
from production.api.permissions import ActionPermissions
from production.choices import EquipmentState
from production.filtersets import EquipmentStateIntervalFilterSet
from production.models import EquipmentStateInterval
from production.selectors.plant import equipment_list
from production.selectors.state_intervals import needs_reason_list, state_interval_list
from production.services.operator_entries import (
    equipment_state_interval_enter,
    equipment_stop_classify,
)

# Equipment states are documented in the text: a second enum named "state" would collide
# with the work order and alert state enums in the schema.
STATE_HELP = "Equipment state: " + ", ".join(EquipmentState.values) + "."

# --- serializers ----------


class TimelineQuerySerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()

    def validate(self, attrs):
        if attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": "The end must be after the start."})
        if attrs["end"] - attrs["start"] > timedelta(days=31):
            raise serializers.ValidationError({"end": "At most 31 days at once."})
        return attrs


class TimelineIntervalSerializer(serializers.Serializer):
    id = IntegerField()
    start_at = serializers.DateTimeField()
    end_at = serializers.DateTimeField()
    is_open = serializers.BooleanField()
    state = serializers.CharField(help_text=STATE_HELP)
    reason_code = serializers.CharField(allow_null=True)
    iso_element = serializers.CharField(allow_null=True)
    needs_reason = serializers.BooleanField()
    is_minor_stop = serializers.BooleanField()
    source = serializers.CharField()


class WindowSerializer(serializers.Serializer):
    start_at = serializers.DateTimeField()
    end_at = serializers.DateTimeField()


class TimelineShiftSerializer(serializers.Serializer):
    name = serializers.CharField()
    start_at = serializers.DateTimeField()
    end_at = serializers.DateTimeField()
    planned_down_windows = WindowSerializer(many=True)


class TimelineSerializer(serializers.Serializer):
    equipment_id = IntegerField()
    start_at = serializers.DateTimeField()
    end_at = serializers.DateTimeField()
    intervals = TimelineIntervalSerializer(many=True)
    shifts = TimelineShiftSerializer(many=True)


class StateIntervalSerializer(ModelSerializer):
    state = serializers.CharField(read_only=True, help_text=STATE_HELP)
    equipment_code = serializers.CharField(source="equipment.code", read_only=True)
    reason_code = serializers.CharField(
        source="reason.code", read_only=True, default=None, allow_null=True
    )
    iso_element = serializers.CharField(
        source="reason.iso_element", read_only=True, default=None, allow_null=True
    )
    classified_by = serializers.CharField(
        source="classified_by.username", read_only=True, default=None, allow_null=True
    )
    duration_s = serializers.SerializerMethodField()

    class Meta:
        model = EquipmentStateInterval
        fields = [
            "id",
            "equipment",
            "equipment_code",
            "start_at",
            "end_at",
            "duration_s",
            "state",
            "reason",
            "reason_code",
            "iso_element",
            "needs_reason",
            "is_minor_stop",
            "source",
            "classified_by",
            "classified_at",
        ]

    def get_duration_s(self, interval: EquipmentStateInterval) -> float:
        end = interval.end_at or timezone.now()
        return max(0.0, (end - interval.start_at).total_seconds())


class StateIntervalEnterSerializer(serializers.Serializer):
    equipment = IntegerField(min_value=1)
    start_at = serializers.DateTimeField()
    end_at = serializers.DateTimeField()
    state = serializers.ChoiceField(choices=EquipmentState.choices)
    reason_code = serializers.CharField(required=False, allow_blank=True, max_length=64)
    note = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class ClassifySerializer(serializers.Serializer):
    reason_code = serializers.CharField(max_length=64, help_text="A DowntimeReason code.")
    note = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


# --- views ----------


@extend_schema_view(
    list=extend_schema(summary="State intervals (filter equipment, line, range, flags)"),
    retrieve=extend_schema(summary="One state interval"),
)
class StateIntervalViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The equipment state timeline; operators enter states and classify stops."""

    serializer_class = StateIntervalSerializer
    permission_classes = [ActionPermissions]
    action_permissions = {
        "*": ["production.view_equipmentstateinterval"],
        "create": ["production.change_equipmentstateinterval"],
        "classify": ["production.change_equipmentstateinterval"],
    }
    filterset_class = EquipmentStateIntervalFilterSet
    ordering_fields = ["start_at"]
    ordering = ["-start_at"]

    def get_queryset(self):
        return state_interval_list(user=self.request.user)

    @extend_schema(
        summary="Stops that need a reason (oldest first)",
        responses={200: StateIntervalSerializer(many=True), **ERROR_RESPONSES},
    )
    @action(detail=False, methods=["get"], url_path="needs-reason")
    def needs_reason(self, request):
        queryset = self.filter_queryset(needs_reason_list(user=request.user)).order_by("start_at")
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(StateIntervalSerializer(page, many=True).data)

    @extend_schema(
        summary="Enter a state an operator observed (closed, past, not overlapping)",
        request=StateIntervalEnterSerializer,
        responses={201: StateIntervalSerializer, **ERROR_RESPONSES},
    )
    def create(self, request):
        serializer = StateIntervalEnterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if not equipment_list(user=request.user).filter(pk=data["equipment"]).exists():
            raise ValidationFailed(
                f"No equipment {data['equipment']} in your plant scope.",
                detail={"equipment": data["equipment"]},
            )
        interval = equipment_state_interval_enter(
            equipment_id=data["equipment"],
            start_at=data["start_at"],
            end_at=data["end_at"],
            state=data["state"],
            reason_code=data.get("reason_code") or None,
            actor=request.user,
            note=data["note"],
        )
        return Response(
            StateIntervalSerializer(self.get_queryset().get(pk=interval.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    @command_schema(
        request=ClassifySerializer,
        response=StateIntervalSerializer,
        summary="Classify a stop with a reason from the downtime reason tree",
    )
    @action(detail=True, methods=["post"])
    def classify(self, request, pk=None):
        interval = self.get_object()  # 404 outside the user's scope
        serializer = ClassifySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        equipment_stop_classify(
            interval_id=interval.pk,
            reason_code=serializer.validated_data["reason_code"],
            actor=request.user,
            note=serializer.validated_data["note"],
        )
        return Response(StateIntervalSerializer(self.get_queryset().get(pk=interval.pk)).data)
