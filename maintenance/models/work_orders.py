"""Maintenance work orders, preventive plans, failure events and the component → spare map."""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

from maintenance.choices import (
    MaintenanceKind,
    MaintenancePriority,
    MaintenanceState,
    PlanTrigger,
)


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


class PreventivePlan(models.Model):
    """A recurring preventive job on one equipment, due by calendar or by a usage counter.

    The current cycle started at ``cycle_started_at`` (plan start or the last completion);
    the job is due once the usage since then reaches ``(1 − tolerance_fraction) · interval``
    and should be done before ``(1 + tolerance_fraction) · interval``. Usage is days
    (calendar), producing hours from the equipment state timeline (runtime hours) or counted
    cycles (a counter signal, or the units reported by the equipment when no signal is named).
    """

    equipment = models.ForeignKey(
        "production.Equipment", on_delete=models.CASCADE, related_name="preventive_plans"
    )
    name = models.CharField(max_length=200)
    component = models.CharField(max_length=100, blank=True)
    trigger = models.CharField(max_length=16, choices=PlanTrigger.choices)
    interval = models.FloatField(
        validators=[MinValueValidator(0.0)],
        help_text="Days (calendar), producing hours (runtime hours) or cycles.",
    )
    tolerance_fraction = models.FloatField(
        default=0.1,
        validators=[MinValueValidator(0.0)],
        help_text="Due from (1 − t)·interval, to be done by (1 + t)·interval.",
    )
    counter_signal_name = models.CharField(
        max_length=100,
        blank=True,
        help_text="Cycles: a monotonic counter signal of the equipment; empty = reported units.",
    )
    priority = models.CharField(
        max_length=16, choices=MaintenancePriority.choices, default=MaintenancePriority.MEDIUM
    )
    estimated_duration_h = models.FloatField(default=2.0, validators=[MinValueValidator(0.0)])
    is_active = models.BooleanField(default=True)
    cycle_number = models.PositiveIntegerField(
        default=1, help_text="Number of the current cycle (one preventive order per cycle)."
    )
    cycle_started_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["equipment", "name"]
        constraints = [
            models.UniqueConstraint(fields=["equipment", "name"], name="preventive_plan_unique"),
            models.CheckConstraint(
                condition=models.Q(interval__gt=0), name="preventive_interval_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(tolerance_fraction__gte=0, tolerance_fraction__lt=1),
                name="preventive_tolerance_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.equipment.code}: {self.name}"


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
    preventive_plan = models.ForeignKey(
        PreventivePlan,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="work_orders",
    )
    plan_cycle_number = models.PositiveIntegerField(null=True, blank=True)
    anomaly_episode = models.ForeignKey(
        "maintenance.AnomalyEpisode",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="work_orders",
    )
    stop_started_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Start of the equipment stop this corrective order was opened for.",
    )
    stop_interval = models.ForeignKey(
        "production.EquipmentStateInterval",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The down interval (re-derived intervals keep the link by its start).",
    )
    findings = models.TextField(blank=True, help_text="What the technician found (on completion).")

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
            ),
            models.UniqueConstraint(
                fields=["preventive_plan", "plan_cycle_number"],
                name="one_order_per_plan_cycle",
            ),
            models.UniqueConstraint(
                fields=["equipment", "stop_started_at"],
                condition=models.Q(stop_started_at__isnull=False),
                name="one_corrective_order_per_stop",
            ),
        ]
        indexes = [models.Index(fields=["equipment", "state"])]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"


class FailureEvent(models.Model):
    """A functional failure of an equipment and its repair (ISO 22400 FE and TTR)."""

    equipment = models.ForeignKey(
        "production.Equipment", on_delete=models.PROTECT, related_name="failure_events"
    )
    component = models.CharField(max_length=100, blank=True)
    failed_at = models.DateTimeField()
    repaired_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty while the repair is in progress."
    )
    description = models.TextField(blank=True)
    work_order = models.ForeignKey(
        MaintenanceWorkOrder,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="failure_events",
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-failed_at"]
        constraints = [
            models.UniqueConstraint(fields=["equipment", "failed_at"], name="failure_event_unique"),
            models.CheckConstraint(
                condition=models.Q(repaired_at__isnull=True)
                | models.Q(repaired_at__gte=models.F("failed_at")),
                name="failure_repair_after_failure",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.equipment.code} failure at {self.failed_at:%Y-%m-%d %H:%M}"

    @property
    def repair_duration_s(self) -> float | None:
        if self.repaired_at is None:
            return None
        return (self.repaired_at - self.failed_at).total_seconds()
