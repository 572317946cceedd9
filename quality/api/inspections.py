"""API of inspection plans, ISO 2859-1 lot inspections and quality holds."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from mes_site.api import ERROR_RESPONSES, ScopedReadOnlyViewSet
from mes_site.fields import FloatField, IntegerField, ModelSerializer
from production.selectors.plant import equipment_list
from quality import selectors, services
from quality.models import InspectionPlan, LotInspection, QualityHold
from traceability.selectors import lot_list_scoped


class InspectionPlanSerializer(ModelSerializer):
    class Meta:
        model = InspectionPlan
        fields = [
            "id",
            "code",
            "name",
            "product",
            "operation_template",
            "characteristics",
            "sampling_method",
            "every_n",
            "inspection_level",
            "aql",
            "is_active",
        ]
        read_only_fields = ["id"]

    def validate(self, attrs):
        """The model's invariants (AQL of the table, n of every n-th, step of the product's
        route) as field errors."""
        values = {**attrs}
        values.pop("characteristics", None)
        instance = InspectionPlan(**{**self._current(), **values})
        try:
            instance.clean()
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict) from error
        return attrs

    def _current(self) -> dict:
        if self.instance is None:
            return {}
        return {
            field.name: getattr(self.instance, field.name)
            for field in InspectionPlan._meta.concrete_fields
            if field.name != "id"
        }


class SamplingQuerySerializer(serializers.Serializer):
    lot_size = IntegerField(min_value=2, max_value=10**9)


class SamplingPlanSerializer(serializers.Serializer):
    lot_size = IntegerField()
    inspection_level = serializers.CharField()
    aql = FloatField()
    code_letter = serializers.CharField()
    plan_letter = serializers.CharField(help_text="The row used after following the arrows.")
    sample_size = IntegerField()
    acceptance_number = IntegerField()
    rejection_number = IntegerField()


class InspectionPlanViewSet(viewsets.ModelViewSet):
    queryset = selectors.inspection_plan_list()
    serializer_class = InspectionPlanSerializer
    filterset_fields = ["product", "operation_template", "sampling_method", "is_active"]
    search_fields = ["code", "name"]
    command_permissions = {"sampling": "quality.view_inspectionplan"}

    @extend_schema(
        parameters=[SamplingQuerySerializer],
        responses={200: SamplingPlanSerializer, **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["get"])
    def sampling(self, request, pk=None):
        """The ISO 2859-1 single sampling plan (normal inspection) for a lot size."""
        plan = self.get_object()
        query = SamplingQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        sampling = services.sampling_plan_get(plan=plan, lot_size=query.validated_data["lot_size"])
        return Response(SamplingPlanSerializer(sampling).data)


class LotInspectionSerializer(ModelSerializer):
    lot_size = IntegerField(min_value=2, required=False, help_text="Default: the lot quantity.")
    nonconforming_count = IntegerField(min_value=0)

    class Meta:
        model = LotInspection
        fields = [
            "id",
            "plan",
            "lot",
            "equipment",
            "lot_size",
            "code_letter",
            "sample_size",
            "acceptance_number",
            "rejection_number",
            "nonconforming_count",
            "is_accepted",
            "defect_class",
            "inspected_at",
        ]
        read_only_fields = [
            "id",
            "code_letter",
            "sample_size",
            "acceptance_number",
            "rejection_number",
            "is_accepted",
        ]
        extra_kwargs = {"inspected_at": {"required": False}}

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        if request is not None:
            fields["lot"].queryset = lot_list_scoped(user=request.user)
            fields["equipment"].queryset = equipment_list(user=request.user)
        return fields


class LotInspectionViewSet(mixins.CreateModelMixin, ScopedReadOnlyViewSet):
    queryset = LotInspection.objects.none()  # for the permission class; see the selector
    selector = selectors.lot_inspection_list
    serializer_class = LotInspectionSerializer
    filterset_fields = ["plan", "lot", "is_accepted"]

    @extend_schema(responses={201: LotInspectionSerializer, **ERROR_RESPONSES})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        inspection = services.lot_inspection_record(actor=request.user, **serializer.validated_data)
        return Response(LotInspectionSerializer(inspection).data, status=status.HTTP_201_CREATED)


class QualityHoldSerializer(ModelSerializer):
    lot_code = serializers.CharField(source="lot.code", read_only=True)
    action_status = serializers.CharField(
        source="proposed_action.status", read_only=True, default=None
    )

    class Meta:
        model = QualityHold
        fields = [
            "id",
            "lot",
            "lot_code",
            "site",
            "equipment",
            "source",
            "status",
            "reason",
            "proposed_action",
            "action_status",
            "inspection_result",
            "lot_inspection",
            "created_at",
            "closed_at",
        ]
        read_only_fields = fields


class QualityHoldViewSet(ScopedReadOnlyViewSet):
    queryset = QualityHold.objects.none()  # for the permission class; see the selector
    selector = selectors.quality_hold_list
    serializer_class = QualityHoldSerializer
    filterset_fields = ["lot", "status", "source"]
