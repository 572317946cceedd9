from rest_framework import serializers

from mes_site.api import model_serializer
from mes_site.fields import ModelSerializer
from quality.models import Characteristic, InspectionResult, Measurement

CharacteristicSerializer = model_serializer(Characteristic)


class MeasurementSerializer(ModelSerializer):
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


class InspectionResultSerializer(ModelSerializer):
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
