"""Schedule runs and plans, customer orders and their multi-line dispatch."""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

from planning.algorithms.line_order import LineOrderStage
from planning.choices import (
    CustomerOrderState,
    LineOrderStep,
    ScheduleRunStatus,
    ScheduleTrigger,
)
from production.models import Area, Equipment, Line, Operation, Product, Site


class DispatchPolicy(models.Model):
    """Cost weights of the multi-line dispatch for the lines of one area."""

    area = models.OneToOneField(Area, on_delete=models.CASCADE, related_name="dispatch_policy")
    time_weight = models.FloatField(default=1.0, validators=[MinValueValidator(0.0)], help_text="α")
    energy_weight = models.FloatField(
        default=1.0, validators=[MinValueValidator(0.0)], help_text="β"
    )
    imbalance_threshold = models.FloatField(
        default=1.3,
        validators=[MinValueValidator(1.0)],
        help_text="h: above this max/min cost ratio the cheapest line wins; else the least loaded.",
    )
    energy_price_per_kwh = models.FloatField(
        default=0.25,
        validators=[MinValueValidator(0.0)],
        help_text="Currency per kWh for the area's lines without their own cost rates.",
    )
    machine_hour_rate = models.FloatField(
        default=60.0,
        validators=[MinValueValidator(0.0)],
        help_text="Currency per working hour for the area's lines without their own cost rates.",
    )

    class Meta:
        db_table = "production_dispatchpolicy"
        verbose_name_plural = "dispatch policies"

    def __str__(self) -> str:
        return f"dispatch policy of {self.area}"


class LineCostRates(models.Model):
    """What an hour of one line's work and a kWh it draws cost, so that both terms of the
    dispatch cost are money: time term = rate × time, energy term = price × kWh."""

    line = models.OneToOneField(Line, on_delete=models.CASCADE, related_name="cost_rates")
    machine_hour_rate = models.FloatField(
        validators=[MinValueValidator(0.0)], help_text="Currency per hour the line works."
    )
    energy_price_per_kwh = models.FloatField(
        validators=[MinValueValidator(0.0)], help_text="Currency per kWh the line draws."
    )

    class Meta:
        ordering = ["line"]
        verbose_name_plural = "line cost rates"

    def __str__(self) -> str:
        return f"{self.line.code}: {self.machine_hour_rate:g}/h, {self.energy_price_per_kwh:g}/kWh"


class LinePartParameters(models.Model):
    """Time and power of one part type on one line (the dispatcher's cost inputs)."""

    line = models.ForeignKey(Line, on_delete=models.CASCADE, related_name="part_parameters")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    time_per_part_s = models.FloatField(validators=[MinValueValidator(0.0)])
    power_w = models.FloatField(validators=[MinValueValidator(0.0)])

    class Meta:
        db_table = "production_linepartparameters"
        ordering = ["line", "product"]
        verbose_name_plural = "line part parameters"
        constraints = [models.UniqueConstraint(fields=["line", "product"], name="line_part_unique")]

    def __str__(self) -> str:
        return f"{self.line.code} {self.product.code}"


LINE_STAGE_CHOICES = [
    (stage.value, stage.value.replace("_", " ").capitalize()) for stage in LineOrderStage
]


class CustomerOrder(models.Model):
    """An order of part counts per type, dispatched to one line of its area.

    ``line_step`` is the last station whose work stands (the simulator resumes after it; a
    failed quality control sets it back to ``distribute_pallet`` because the parts are
    machined again); ``line_stage`` is the stage of the line order state machine
    (``planning.algorithms.line_order``) and ``line_updated_at`` the time of the last station
    event applied, so older (redelivered or reordered) events cannot move the order back.
    """

    number = models.CharField(max_length=64, unique=True)
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="customer_orders")
    area = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="customer_orders")
    state = models.CharField(
        max_length=16, choices=CustomerOrderState.choices, default=CustomerOrderState.PENDING
    )
    line = models.ForeignKey(
        Line, null=True, blank=True, on_delete=models.PROTECT, related_name="customer_orders"
    )
    line_step = models.CharField(max_length=32, choices=LineOrderStep.choices, blank=True)
    priority = models.PositiveSmallIntegerField(default=5)
    received_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    dispatch_explanation = models.JSONField(default=dict, blank=True)
    rework_count = models.PositiveIntegerField(default=0)
    line_stage = models.CharField(max_length=24, choices=LINE_STAGE_CHOICES, blank=True)
    line_updated_at = models.DateTimeField(null=True, blank=True)
    line_last_event = models.CharField(
        max_length=64, blank=True, help_text="station[:result] of the last event applied."
    )

    class Meta:
        db_table = "production_customerorder"
        ordering = ["received_at"]
        permissions = [("dispatch_customerorder", "Can dispatch customer orders")]
        indexes = [models.Index(fields=["state", "received_at"])]

    def __str__(self) -> str:
        return self.number


class CustomerOrderLine(models.Model):
    order = models.ForeignKey(CustomerOrder, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])

    class Meta:
        db_table = "production_customerorderline"
        constraints = [
            models.UniqueConstraint(fields=["order", "product"], name="order_line_unique")
        ]


class ScheduleRun(models.Model):
    """One run of the scheduler: a job row with progress the UI shows.

    Requests arriving while a run of the site is queued are absorbed by it (``triggers``
    lists them); at most one run per site is queued. ``inputs`` records what the scheduler
    saw (machines with health, maintenance blocks, machines left out), ``timings`` the phases
    in milliseconds, ``warnings`` the late work orders, ``input_fingerprints`` the digests the
    periodic check compares to notice changed work orders, machines, health or maintenance.
    """

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="schedule_runs")
    trigger = models.CharField(max_length=32, choices=ScheduleTrigger.choices)
    trigger_detail = models.CharField(max_length=300, blank=True)
    status = models.CharField(
        max_length=16, choices=ScheduleRunStatus.choices, default=ScheduleRunStatus.QUEUED
    )
    progress_percent = models.PositiveSmallIntegerField(default=0)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    operation_count = models.PositiveIntegerField(default=0)
    makespan_s = models.FloatField(null=True, blank=True)
    changes = models.JSONField(default=list, blank=True)
    unschedulable = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    is_current = models.BooleanField(default=False)
    triggers = models.JSONField(default=list, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    inputs = models.JSONField(default=dict, blank=True)
    input_fingerprints = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "production_schedulerun"
        ordering = ["-requested_at"]
        permissions = [("run_schedule", "Can start schedule runs")]
        constraints = [
            models.UniqueConstraint(
                fields=["site"], condition=models.Q(is_current=True), name="one_current_plan"
            ),
            models.UniqueConstraint(
                fields=["site"], condition=models.Q(status="queued"), name="one_queued_run"
            ),
        ]
        indexes = [models.Index(fields=["site", "status"])]

    def __str__(self) -> str:
        return f"schedule run {self.pk} of site {self.site_id} ({self.status})"


class ScheduledOperation(models.Model):
    run = models.ForeignKey(ScheduleRun, on_delete=models.CASCADE, related_name="entries")
    operation = models.ForeignKey(Operation, on_delete=models.CASCADE, related_name="+")
    equipment = models.ForeignKey(Equipment, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField(help_text="Order on the machine, from 0.")
    planned_start_at = models.DateTimeField()
    planned_end_at = models.DateTimeField()
    priority = models.FloatField(null=True, blank=True)
    explanation = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "production_scheduledoperation"
        ordering = ["run", "equipment", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "operation"], name="scheduled_operation_unique")
        ]


class Shipment(models.Model):
    """A lot (``quantity`` of it) or one serial unit shipped for a customer order: where a
    recall finds what left the plant."""

    customer_order = models.ForeignKey(
        CustomerOrder, on_delete=models.PROTECT, related_name="shipments"
    )
    lot = models.ForeignKey("traceability.Lot", on_delete=models.PROTECT, related_name="+")
    serial_unit = models.ForeignKey(
        "traceability.SerialUnit",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    quantity = models.DecimalField(max_digits=14, decimal_places=3)
    shipped_at = models.DateTimeField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-shipped_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gt=0), name="shipment_quantity_positive"
            ),
            models.UniqueConstraint(
                fields=["serial_unit"],
                condition=models.Q(serial_unit__isnull=False),
                name="shipment_serial_once",
            ),
        ]
        indexes = [models.Index(fields=["lot"])]

    def __str__(self) -> str:
        return f"{self.quantity} of {self.lot_id} → {self.customer_order_id}"
