"""Characteristics, measurements and inspection results."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from quality.choices import InspectionSource


class Characteristic(models.Model):
    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    product = models.ForeignKey(
        "production.Product",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="characteristics",
    )
    unit = models.CharField(max_length=16, blank=True)
    lower_spec_limit = models.FloatField(null=True, blank=True, help_text="LSL")
    upper_spec_limit = models.FloatField(null=True, blank=True, help_text="USL")
    target = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(lower_spec_limit__isnull=True)
                | models.Q(upper_spec_limit__isnull=True)
                | models.Q(lower_spec_limit__lt=models.F("upper_spec_limit")),
                name="spec_limits_ordered",
            )
        ]

    def __str__(self) -> str:
        return self.code

    def clean(self) -> None:
        lower, upper = self.lower_spec_limit, self.upper_spec_limit
        if lower is not None and upper is not None and lower >= upper:
            raise ValidationError({"upper_spec_limit": "USL must be above LSL."})
        target = self.target
        if target is not None and (
            (lower is not None and target < lower) or (upper is not None and target > upper)
        ):
            raise ValidationError({"target": "The target must lie within LSL and USL."})

    def is_in_spec(self, value: float) -> bool:
        if self.lower_spec_limit is not None and value < self.lower_spec_limit:
            return False
        return not (self.upper_spec_limit is not None and value > self.upper_spec_limit)


class Measurement(models.Model):
    characteristic = models.ForeignKey(
        Characteristic, on_delete=models.PROTECT, related_name="measurements"
    )
    value = models.FloatField()
    measured_at = models.DateTimeField(db_index=True)
    equipment = models.ForeignKey(
        "production.Equipment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    operation = models.ForeignKey(
        "production.Operation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    lot = models.ForeignKey(
        "traceability.Lot", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    measured_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-measured_at"]


class InspectionResult(models.Model):
    inspected_at = models.DateTimeField(db_index=True)
    source = models.CharField(
        max_length=16, choices=InspectionSource.choices, default=InspectionSource.MANUAL
    )
    is_pass = models.BooleanField()
    defect_class = models.CharField(max_length=64, blank=True)
    confidence = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    equipment = models.ForeignKey(
        "production.Equipment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    operation = models.ForeignKey(
        "production.Operation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    lot = models.ForeignKey(
        "traceability.Lot", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    serial_unit = models.ForeignKey(
        "traceability.SerialUnit",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    plan = models.ForeignKey(
        "quality.InspectionPlan",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="results",
    )
    characteristic = models.ForeignKey(
        Characteristic, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    measured_value = models.FloatField(
        null=True, blank=True, help_text="A variable result: the value against the spec."
    )

    class Meta:
        ordering = ["-inspected_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(is_pass=True) | ~models.Q(defect_class=""),
                name="failed_inspection_has_defect_class",
            ),
            models.CheckConstraint(
                condition=models.Q(confidence__isnull=True)
                | (models.Q(confidence__gte=0) & models.Q(confidence__lte=1)),
                name="confidence_in_unit_range",
            ),
        ]
