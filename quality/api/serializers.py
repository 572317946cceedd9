from rest_framework import serializers

from mes_site.api import model_serializer
from mes_site.fields import ModelSerializer
from production.selectors.plant import equipment_list, operation_list
from quality.models import Characteristic, InspectionResult, Measurement
from traceability.selectors import lot_list_scoped, serial_unit_list_scoped

CharacteristicSerializer = model_serializer(Characteristic)


class ScopedReferencesMixin:
    """The machine, the operation, the lot and the serial a record is booked on must be in the
    user's scope: one outside it is unknown, as in every read (the one scoping rule)."""

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        user = request.user if request is not None else None
        if user is not None:
            fields["equipment"].queryset = equipment_list(user=user)
            fields["operation"].queryset = operation_list(user=user)
            if "lot" in fields:
                fields["lot"].queryset = lot_list_scoped(user=user)
            if "serial_unit" in fields:
                fields["serial_unit"].queryset = serial_unit_list_scoped(user=user)
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
            "plan",
            "characteristic",
            "measured_value",
            "hold",
        ]
        read_only_fields = ["id", "hold"]
        extra_kwargs = {"inspected_at": {"required": False}, "is_pass": {"required": False}}

    hold = serializers.SerializerMethodField(
        help_text="The hold a failed result of a lot proposed (id, status), if any."
    )

    def get_hold(self, result) -> dict | None:
        holds = sorted(result.holds.all(), key=lambda hold: hold.pk)  # prefetched by the selector
        hold = holds[0] if holds else None
        if hold is None:
            return None
        action = hold.proposed_action
        return {
            "id": hold.pk,
            "status": hold.status,
            "proposed_action": action.pk if action is not None else None,
            "action_status": action.status if action is not None else None,
        }
