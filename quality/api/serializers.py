from rest_framework import serializers

from mes_site.api import model_serializer
from mes_site.fields import ModelSerializer
from production.selectors.plant import equipment_list, operation_list
from quality.models import Characteristic, InspectionResult, Measurement

CharacteristicSerializer = model_serializer(Characteristic)


class ScopedReferencesMixin:
    """The machine and the operation a record is booked on must be in the user's scope: one
    outside it is unknown, as in every read (the one scoping rule)."""

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        user = request.user if request is not None else None
        if user is not None:
            fields["equipment"].queryset = equipment_list(user=user)
            fields["operation"].queryset = operation_list(user=user)
        return fields


class MeasurementSerializer(ScopedReferencesMixin, ModelSerializer):
    is_in_spec = serializers.SerializerMethodField()

    class Meta:
        model = Measurement
        fields = [
            "id",
            "characteristic",
            "value",
            "measured_at",
            "equipment",
            "operation",
            "lot",
            "is_in_spec",
        ]
        read_only_fields = ["id", "is_in_spec"]

    def get_is_in_spec(self, measurement) -> bool:
        return measurement.characteristic.is_in_spec(measurement.value)


class InspectionResultSerializer(ScopedReferencesMixin, ModelSerializer):
    class Meta:
        model = InspectionResult
        fields = [
            "id",
            "inspected_at",
            "source",
            "is_pass",
            "defect_class",
            "confidence",
            "equipment",
            "operation",
            "lot",
            "serial_unit",
        ]
        read_only_fields = ["id"]
        extra_kwargs = {"inspected_at": {"required": False}}
