"""Maintenance work orders and the component → spare part map."""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

from maintenance.choices import MaintenanceKind, MaintenancePriority, MaintenanceState


class ComponentPart(models.Model):
    """Which spare item replaces a component of an equipment (e.g. spindle bearing)."""

    equipment = models.ForeignKey(
        "production.Equipment", on_delete=models.CASCADE, related_name="component_parts"
    )
    component = models.CharField(max_length=100, help_text="e.g. spindle_bearing")
    spare_item = models.ForeignKey("inventory.Item", on_delete=models.PROTECT, related_name="+")
    quantity_per_replacement = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["equipment", "component"]
        constraints = [
            models.UniqueConstraint(fields=["equipment", "component"], name="component_unique")
        ]

    def __str__(self) -> str:
        return f"{self.equipment.code}/{self.component} → {self.spare_item.code}"


class MaintenanceWorkOrder(models.Model):
    number = models.CharField(max_length=64, unique=True)
    equipment = models.ForeignKey(
        "production.Equipment", on_delete=models.PROTECT, related_name="maintenance_work_orders"
    )
    kind = models.CharField(max_length=16, choices=MaintenanceKind.choices)
    state = models.CharField(
        max_length=16, choices=MaintenanceState.choices, default=MaintenanceState.REQUESTED
    )
    priority = models.CharField(
        max_length=16, choices=MaintenancePriority.choices, default=MaintenancePriority.MEDIUM
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    component = models.CharField(max_length=100, blank=True)
    requested_at = models.DateTimeField()
    window_start_at = models.DateTimeField(null=True, blank=True)
    window_end_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    estimated_duration_h = models.FloatField(default=2.0, validators=[MinValueValidator(0.0)])

    class Meta:
        ordering = ["-requested_at"]
        permissions = [
            ("schedule_maintenanceworkorder", "Can schedule maintenance work orders"),
            ("perform_maintenanceworkorder", "Can start and finish maintenance work orders"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(window_end_at__isnull=True)
                | models.Q(window_start_at__isnull=True)
                | models.Q(window_end_at__gt=models.F("window_start_at")),
                name="maintenance_window_ordered",
            )
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"
