"""Quality holds: a lot held because of a failed inspection, a vision defect or an NCR.

The hold is proposed through the autonomy guardrails (kind ``lot_hold``, low risk); while a
hold is active the lot can leave "on hold" only through a disposition (or the guardrails'
revert of the proposal): traceability's lot status service asks quality through its
``lot_release_check`` hook.
"""

from django.conf import settings
from django.db import models

from quality.choices import HoldSource, HoldStatus

OPEN_HOLD_STATES = (HoldStatus.PROPOSED, HoldStatus.ACTIVE)


class QualityHold(models.Model):
    lot = models.ForeignKey("traceability.Lot", on_delete=models.PROTECT, related_name="holds")
    site = models.ForeignKey(
        "production.Site", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    equipment = models.ForeignKey(
        "production.Equipment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=16, choices=HoldSource.choices)
    status = models.CharField(
        max_length=16, choices=HoldStatus.choices, default=HoldStatus.PROPOSED
    )
    reason = models.TextField()
    proposed_action = models.ForeignKey(
        "autonomy.ProposedAction",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    inspection_result = models.ForeignKey(
        "quality.InspectionResult",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="holds",
    )
    lot_inspection = models.ForeignKey(
        "quality.LotInspection",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="holds",
    )
    non_conformance = models.ForeignKey(
        "quality.NonConformance",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="holds",
    )
    vision_result = models.ForeignKey(
        "quality.VisionResult",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="holds",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["lot", "status"])]

    def __str__(self) -> str:
        return f"hold {self.pk} of {self.lot} ({self.status})"
