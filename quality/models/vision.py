"""Results of edge vision stations: per part the defect classes found, each with its
confidence and bounding box, and the image (a reference and/or a small stored copy)."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from quality.choices import VisionReviewStatus

IMAGE_MAX_BYTES = 256 * 1024
IMAGE_CONTENT_TYPES = ("image/png", "image/jpeg")


class VisionResult(models.Model):
    equipment = models.ForeignKey(
        "production.Equipment", on_delete=models.PROTECT, related_name="vision_results"
    )
    inspected_at = models.DateTimeField(db_index=True)
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
    image_url = models.URLField(max_length=500, blank=True)
    image_content_type = models.CharField(max_length=16, blank=True)
    image_bytes = models.BinaryField(null=True, blank=True, editable=False)
    is_pass = models.BooleanField(help_text="No defect, or every defect rejected on review.")
    review_status = models.CharField(
        max_length=16, choices=VisionReviewStatus.choices, default=VisionReviewStatus.NOT_NEEDED
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_reason = models.TextField(blank=True)
    hold_confidence = models.FloatField(help_text="The threshold in force when it arrived.")

    class Meta:
        ordering = ["-inspected_at"]
        indexes = [models.Index(fields=["review_status", "inspected_at"])]

    def __str__(self) -> str:
        return f"vision {self.pk} of {self.serial_unit or self.lot or self.equipment}"


class VisionDefect(models.Model):
    result = models.ForeignKey(VisionResult, on_delete=models.CASCADE, related_name="defects")
    defect_class = models.CharField(max_length=64)
    confidence = models.FloatField(validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    box_x_px = models.FloatField(validators=[MinValueValidator(0.0)])
    box_y_px = models.FloatField(validators=[MinValueValidator(0.0)])
    box_width_px = models.FloatField(validators=[MinValueValidator(0.0)])
    box_height_px = models.FloatField(validators=[MinValueValidator(0.0)])

    class Meta:
        ordering = ["-confidence"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(confidence__gte=0) & models.Q(confidence__lte=1),
                name="vision_confidence_in_unit_range",
            )
        ]

    def __str__(self) -> str:
        return f"{self.defect_class} ({self.confidence:.2f})"
