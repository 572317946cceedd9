"""API of vision results: a station posts per part its defects (class, confidence, box) and
an image; the review queue's verdicts; the defect Pareto."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from mes_site.api import ERROR_RESPONSES, ScopedReadOnlyViewSet, command_schema, validated_input
from mes_site.fields import FloatField, IntegerField, ModelSerializer
from production.selectors.plant import equipment_list
from quality import selectors
from quality.models import VisionDefect, VisionResult
from quality.models.vision import IMAGE_CONTENT_TYPES
from quality.services import vision as vision_services
from traceability.selectors import lot_list_scoped, serial_unit_list_scoped


class VisionDefectSerializer(ModelSerializer):
    confidence = FloatField(min_value=0.0, max_value=1.0)
    box = serializers.ListField(
        child=FloatField(min_value=0.0),
        min_length=4,
        max_length=4,
        help_text="Bounding box [x, y, width, height] in pixels of the image.",
    )

    class Meta:
        model = VisionDefect
        fields = ["defect_class", "confidence", "box"]

    def to_representation(self, defect):
        return {
            "defect_class": defect.defect_class,
            "confidence": defect.confidence,
            "box": [defect.box_x_px, defect.box_y_px, defect.box_width_px, defect.box_height_px],
        }


class VisionResultSerializer(ModelSerializer):
    defects = VisionDefectSerializer(many=True, max_length=100)
    image_base64 = serializers.CharField(
        write_only=True,
        required=False,
        max_length=400_000,
        help_text="A small PNG or JPEG (≤ 256 KiB), base64.",
    )
    image_content_type = serializers.ChoiceField(
        choices=IMAGE_CONTENT_TYPES, required=False, allow_blank=True
    )
    has_image = serializers.SerializerMethodField()
    hold = serializers.SerializerMethodField()

    class Meta:
        model = VisionResult
        fields = [
            "id",
            "equipment",
            "inspected_at",
            "lot",
            "serial_unit",
            "image_url",
            "image_base64",
            "image_content_type",
            "has_image",
            "defects",
            "is_pass",
            "review_status",
            "reviewed_at",
            "review_reason",
            "hold_confidence",
            "hold",
        ]
        read_only_fields = [
            "id",
            "is_pass",
            "review_status",
            "reviewed_at",
            "review_reason",
            "hold_confidence",
        ]
        extra_kwargs = {"inspected_at": {"required": False}}

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        if request is not None:
            fields["equipment"].queryset = equipment_list(user=request.user)
            fields["lot"].queryset = lot_list_scoped(user=request.user)
            fields["serial_unit"].queryset = serial_unit_list_scoped(user=request.user)
        return fields

    def get_has_image(self, result) -> bool:
        return bool(result.image_content_type)

    def get_hold(self, result) -> int | None:
        holds = sorted(result.holds.all(), key=lambda hold: hold.pk)
        return holds[0].pk if holds else None

    def validate_image_url(self, value: str) -> str:
        if value and not value.lower().startswith(("http://", "https://")):
            raise serializers.ValidationError("An image reference is an http(s) URL.")
        return value

    def validate(self, attrs):
        encoded = attrs.pop("image_base64", None)
        content_type = attrs.pop("image_content_type", "")
        if encoded:
            attrs["image_bytes"] = vision_services.image_decode(
                image_base64=encoded, content_type=content_type
            )
            attrs["image_content_type"] = content_type
        return attrs


class VisionReviewSerializer(serializers.Serializer):
    is_defect = serializers.BooleanField(help_text="true: the defect is real; false: false call")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class ParetoQuerySerializer(serializers.Serializer):
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)


class DefectParetoRowSerializer(serializers.Serializer):
    defect_class = serializers.CharField()
    count = IntegerField()
    cumulative_share = FloatField()


class VisionResultViewSet(mixins.CreateModelMixin, ScopedReadOnlyViewSet):
    queryset = VisionResult.objects.none()  # for the permission class; see the selector
    selector = selectors.vision_result_list
    serializer_class = VisionResultSerializer
    filterset_fields = ["equipment", "lot", "serial_unit", "review_status", "is_pass"]
    command_permissions = {
        "review": "quality.change_visionresult",
        "pareto": "quality.view_visionresult",
    }

    def get_queryset(self):
        return super().get_queryset().prefetch_related("holds")

    @extend_schema(responses={201: VisionResultSerializer, **ERROR_RESPONSES})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        defects = [
            vision_services.DefectIn(
                defect_class=defect["defect_class"],
                confidence=defect["confidence"],
                box=tuple(defect["box"]),
            )
            for defect in data.pop("defects")
        ]
        result = vision_services.vision_result_record(actor=request.user, defects=defects, **data)
        answer = self.get_queryset().get(pk=result.pk)
        return Response(VisionResultSerializer(answer).data, status=status.HTTP_201_CREATED)

    @command_schema(request=VisionReviewSerializer, response=VisionResultSerializer)
    @action(detail=True, methods=["post"])
    def review(self, request, pk=None):
        """A reviewer's verdict on an uncertain result (the review queue)."""
        result = self.get_object()
        data = validated_input(VisionReviewSerializer, request)
        vision_services.vision_result_review(
            result_id=result.pk, is_defect=data["is_defect"], actor=request.user,
            reason=data["reason"],
        )  # fmt: skip
        return Response(VisionResultSerializer(self.get_queryset().get(pk=result.pk)).data)

    @extend_schema(
        parameters=[ParetoQuerySerializer],
        responses={200: DefectParetoRowSerializer(many=True), **ERROR_RESPONSES},
    )
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def pareto(self, request):
        """Confirmed defects by class, most frequent first, with the cumulative share."""
        query = ParetoQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = selectors.defect_pareto(user=request.user, **query.validated_data)
        return Response(DefectParetoRowSerializer(rows, many=True).data)
