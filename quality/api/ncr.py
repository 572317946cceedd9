"""API of non-conformances (open, contain, signed disposition, close) and CAPAs (root cause,
actions with owners and due dates, effectiveness check)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from autonomy.api.serializers import ActionSignatureSerializer
from mes_site.api import (
    ERROR_RESPONSES,
    ReasonSerializer,
    ScopedReadOnlyViewSet,
    command_schema,
    validated_input,
)
from mes_site.fields import IntegerField, ModelSerializer
from production.selectors.plant import equipment_list, line_list, site_list
from quality import selectors
from quality.choices import CapaActionKind, DispositionDecision
from quality.models import Capa, CapaAction, Disposition, NonConformance
from quality.services import ncr as ncr_services
from traceability.selectors import lot_list_scoped, serial_unit_list_scoped


class DispositionSerializer(ModelSerializer):
    signed_by = serializers.CharField(source="signature.printed_name", read_only=True)
    meaning = serializers.CharField(source="signature.meaning", read_only=True)

    class Meta:
        model = Disposition
        fields = ["decision", "reason", "signed_by", "meaning", "decided_at", "released_lots"]
        read_only_fields = fields


class NonConformanceSerializer(ModelSerializer):
    disposition = DispositionSerializer(read_only=True, allow_null=True)
    capas = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    evidence = serializers.ListField(
        child=serializers.CharField(max_length=500), max_length=50, required=False
    )

    class Meta:
        model = NonConformance
        fields = [
            "id",
            "number",
            "title",
            "description",
            "status",
            "site",
            "line",
            "equipment",
            "product",
            "quantity",
            "lots",
            "serial_units",
            "evidence",
            "created_at",
            "closed_at",
            "disposition",
            "capas",
        ]
        read_only_fields = ["id", "number", "status", "created_at", "closed_at"]

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        if request is not None:
            user = request.user
            fields["site"].queryset = site_list(user=user)
            fields["line"].queryset = line_list(user=user)
            fields["equipment"].queryset = equipment_list(user=user)
            fields["lots"].child_relation.queryset = lot_list_scoped(user=user)
            fields["serial_units"].child_relation.queryset = serial_unit_list_scoped(user=user)
        return fields


class DispositionSignSerializer(ActionSignatureSerializer):
    decision = serializers.ChoiceField(choices=DispositionDecision.choices)
    reason = serializers.CharField(max_length=2000)


class NonConformanceViewSet(mixins.CreateModelMixin, ScopedReadOnlyViewSet):
    queryset = NonConformance.objects.none()  # for the permission class; see the selector
    selector = selectors.non_conformance_list
    serializer_class = NonConformanceSerializer
    filterset_fields = ["status", "site", "line", "equipment"]
    search_fields = ["number", "title"]
    command_permissions = {
        "contain": "quality.change_nonconformance",
        "disposition": ncr_services.DISPOSITION_PERMISSION,
        "close": "quality.change_nonconformance",
    }

    @extend_schema(responses={201: NonConformanceSerializer, **ERROR_RESPONSES})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        ncr = ncr_services.ncr_open(
            actor=request.user,
            lots=data.pop("lots", []),
            serial_units=data.pop("serial_units", []),
            **data,
        )
        return Response(self._answer(ncr.pk), status=status.HTTP_201_CREATED)

    def _answer(self, pk: int) -> dict:
        return NonConformanceSerializer(self.get_queryset().get(pk=pk)).data

    @command_schema(request=ReasonSerializer, response=NonConformanceSerializer)
    @action(detail=True, methods=["post"])
    def contain(self, request, pk=None):
        """Propose a hold of each of the NCR's lots (through the autonomy guardrails)."""
        ncr = self.get_object()
        reason = validated_input(ReasonSerializer, request)["reason"]
        ncr_services.ncr_contain(ncr_id=ncr.pk, actor=request.user, reason=reason)
        return Response(self._answer(ncr.pk))

    @command_schema(
        request=DispositionSignSerializer,
        response=NonConformanceSerializer,
        summary="Decide the disposition with your password (electronic signature)",
    )
    @action(detail=True, methods=["post"])
    def disposition(self, request, pk=None):
        ncr = self.get_object()
        data = validated_input(DispositionSignSerializer, request)
        ncr_services.ncr_disposition_sign(ncr_id=ncr.pk, user=request.user, request=request,
                                          **data)  # fmt: skip
        return Response(self._answer(ncr.pk))

    @command_schema(request=ReasonSerializer, response=NonConformanceSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        ncr = self.get_object()
        reason = validated_input(ReasonSerializer, request)["reason"]
        ncr_services.ncr_close(ncr_id=ncr.pk, actor=request.user, reason=reason)
        return Response(self._answer(ncr.pk))


class CapaActionSerializer(ModelSerializer):
    owner_name = serializers.CharField(source="owner.username", read_only=True)

    class Meta:
        model = CapaAction
        fields = ["id", "kind", "description", "owner", "owner_name", "due_at", "done_at"]
        read_only_fields = ["id", "done_at", "owner_name"]


class CapaSerializer(ModelSerializer):
    actions = CapaActionSerializer(many=True, read_only=True)

    class Meta:
        model = Capa
        fields = [
            "id",
            "non_conformance",
            "status",
            "method",
            "whys",
            "eight_d",
            "root_cause",
            "actions",
            "effectiveness_due_at",
            "is_effective",
            "effectiveness_note",
            "created_at",
            "closed_at",
        ]
        read_only_fields = [name for name in fields if name not in ("non_conformance", "method")]

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        if request is not None:
            fields["non_conformance"].queryset = selectors.non_conformance_list(user=request.user)
        return fields


class RootCauseSerializer(serializers.Serializer):
    root_cause = serializers.CharField(max_length=2000)
    whys = serializers.ListField(
        child=serializers.CharField(max_length=500), max_length=7, required=False
    )
    eight_d = serializers.DictField(
        child=serializers.CharField(max_length=2000), required=False, help_text="D1 … D8"
    )


class CapaActionAddSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=CapaActionKind.choices)
    description = serializers.CharField(max_length=2000)
    owner = serializers.PrimaryKeyRelatedField(queryset=get_user_model().objects.all())
    due_at = serializers.DateTimeField()


class CapaActionDoneSerializer(serializers.Serializer):
    action = IntegerField(min_value=1)
    effectiveness_due_at = serializers.DateTimeField(required=False)


class EffectivenessSerializer(serializers.Serializer):
    is_effective = serializers.BooleanField()
    note = serializers.CharField(max_length=2000)


class CapaViewSet(mixins.CreateModelMixin, ScopedReadOnlyViewSet):
    queryset = Capa.objects.none()  # for the permission class; see the selector
    selector = selectors.capa_list
    serializer_class = CapaSerializer
    filterset_fields = ["status", "non_conformance"]
    command_permissions = {
        "root_cause": "quality.change_capa",
        "add_action": "quality.change_capa",
        "complete_action": "quality.change_capa",
        "effectiveness": "quality.change_capa",
    }

    def _answer(self, pk: int) -> dict:
        return CapaSerializer(self.get_queryset().get(pk=pk)).data

    @extend_schema(responses={201: CapaSerializer, **ERROR_RESPONSES})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        capa = ncr_services.capa_open(actor=request.user, **serializer.validated_data)
        return Response(self._answer(capa.pk), status=status.HTTP_201_CREATED)

    @command_schema(request=RootCauseSerializer, response=CapaSerializer)
    @action(detail=True, methods=["post"], url_path="root-cause")
    def root_cause(self, request, pk=None):
        capa = self.get_object()
        data = validated_input(RootCauseSerializer, request)
        ncr_services.capa_root_cause_set(capa_id=capa.pk, actor=request.user, **data)
        return Response(self._answer(capa.pk))

    @command_schema(request=CapaActionAddSerializer, response=CapaSerializer)
    @action(detail=True, methods=["post"], url_path="actions")
    def add_action(self, request, pk=None):
        capa = self.get_object()
        data = validated_input(CapaActionAddSerializer, request)
        ncr_services.capa_action_add(capa_id=capa.pk, actor=request.user, **data)
        return Response(self._answer(capa.pk))

    @command_schema(request=CapaActionDoneSerializer, response=CapaSerializer)
    @action(detail=True, methods=["post"], url_path="complete-action")
    def complete_action(self, request, pk=None):
        capa = self.get_object()
        data = validated_input(CapaActionDoneSerializer, request)
        ncr_services.capa_action_complete(
            capa_id=capa.pk, action_id=data["action"], actor=request.user,
            effectiveness_due_at=data.get("effectiveness_due_at"),
        )  # fmt: skip
        return Response(self._answer(capa.pk))

    @command_schema(request=EffectivenessSerializer, response=CapaSerializer)
    @action(detail=True, methods=["post"])
    def effectiveness(self, request, pk=None):
        capa = self.get_object()
        data = validated_input(EffectivenessSerializer, request)
        ncr_services.capa_effectiveness_record(capa_id=capa.pk, actor=request.user, **data)
        return Response(self._answer(capa.pk))
