"""Equipment state timeline, production counts, OEE snapshots and alerts."""

from django.conf import settings
from django.db import models

from production.choices import (
    AlertMetric,
    AlertSeverity,
    AlertState,
    Comparison,
    EquipmentState,
    OeePeriod,
    OeeScope,
    StateSource,
)
from production.models.calendar import DowntimeReason
from production.models.plant import Equipment, Line, Signal
from production.models.work_orders import Operation, WorkOrder


class EquipmentStateEvent(models.Model):
    """A state reported by an equipment at one instant, as received (idempotent by ts).

    Event-sourced state intervals are derived from these: each event starts a stretch of its
    state that lasts until the next event with another state. Keeping repeats lets a late
    event be placed correctly between the events around it.
    """

    equipment = models.ForeignKey(Equipment, on_delete=models.CASCADE, related_name="+")
    ts = models.DateTimeField()
    state = models.CharField(max_length=16, choices=EquipmentState.choices)
    reason = models.ForeignKey(
        DowntimeReason, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["equipment", "ts"]
        constraints = [
            models.UniqueConstraint(fields=["equipment", "ts"], name="state_event_unique")
        ]

    def __str__(self) -> str:
        return f"{self.equipment_id} {self.state} at {self.ts:%Y-%m-%d %H:%M:%S}"


class EquipmentStateInterval(models.Model):
    """A stretch of one state; from equipment events (derived) or entered by an operator.

    Invariant kept by the services: the intervals of one equipment never overlap, at most one
    is open (``end_at`` empty) and it is the latest.
    """

    equipment = models.ForeignKey(
        Equipment, on_delete=models.CASCADE, related_name="state_intervals"
    )
    start_at = models.DateTimeField()
    end_at = models.DateTimeField(null=True, blank=True, help_text="Empty while the state lasts.")
    state = models.CharField(max_length=16, choices=EquipmentState.choices)
    reason = models.ForeignKey(
        DowntimeReason, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    needs_reason = models.BooleanField(default=False)
    is_minor_stop = models.BooleanField(default=False)
    source = models.CharField(max_length=16, choices=StateSource.choices, default=StateSource.EVENT)
    classified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    classified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["equipment", "start_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["equipment", "start_at"], name="state_interval_start_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(end_at__isnull=True) | models.Q(end_at__gt=models.F("start_at")),
                name="state_interval_ordered",
            ),
        ]
        indexes = [models.Index(fields=["needs_reason", "start_at"])]

    def __str__(self) -> str:
        return f"{self.equipment.code} {self.state} from {self.start_at:%Y-%m-%d %H:%M:%S}"


class ProductionCount(models.Model):
    """Good, scrap and rework units reported by an equipment at one instant (idempotent)."""

    equipment = models.ForeignKey(
        Equipment, on_delete=models.CASCADE, related_name="production_counts"
    )
    ts = models.DateTimeField()
    work_order = models.ForeignKey(
        WorkOrder, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    operation = models.ForeignKey(
        Operation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    good = models.PositiveIntegerField(default=0)
    scrap = models.PositiveIntegerField(default=0)
    rework = models.PositiveIntegerField(default=0)
    planned_run_time_per_unit_s = models.FloatField(
        null=True, blank=True, help_text="PRU in force when the units were made."
    )

    class Meta:
        ordering = ["equipment", "ts"]
        constraints = [
            models.UniqueConstraint(fields=["equipment", "ts"], name="production_count_unique")
        ]


class OeeSnapshot(models.Model):
    """ISO 22400 elements and KPIs of one scope over one closed (or the open) period."""

    scope = models.CharField(max_length=16, choices=OeeScope.choices)
    scope_id = models.PositiveBigIntegerField()
    period = models.CharField(max_length=16, choices=OeePeriod.choices)
    period_start_at = models.DateTimeField()
    period_end_at = models.DateTimeField()
    work_order = models.ForeignKey(
        WorkOrder,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="For work-order periods: the order.",
    )
    label = models.CharField(
        max_length=100, blank=True, help_text="Shift name, local date or work order number."
    )
    is_closed = models.BooleanField(default=False)
    planned_busy_time_s = models.FloatField(default=0.0)
    planned_operation_time_s = models.FloatField(default=0.0)
    planned_down_time_s = models.FloatField(default=0.0)
    actual_production_time_s = models.FloatField(default=0.0)
    actual_setup_time_s = models.FloatField(default=0.0)
    actual_delay_time_s = models.FloatField(default=0.0)
    actual_down_time_s = models.FloatField(default=0.0)
    no_data_time_s = models.FloatField(default=0.0)
    minor_stop_time_s = models.FloatField(default=0.0)
    needs_reason_time_s = models.FloatField(default=0.0)
    planned_time_of_produced_s = models.FloatField(default=0.0, help_text="Σ PRU·PQ")
    planned_time_of_scrap_s = models.FloatField(default=0.0, help_text="Σ PRU·SQ")
    planned_time_of_rework_s = models.FloatField(default=0.0, help_text="Σ PRU·RQ")
    produced_quantity = models.PositiveIntegerField(default=0)
    good_quantity = models.PositiveIntegerField(default=0)
    scrap_quantity = models.PositiveIntegerField(default=0)
    rework_quantity = models.PositiveIntegerField(default=0)
    availability = models.FloatField(null=True, blank=True)
    effectiveness = models.FloatField(null=True, blank=True)
    quality_ratio = models.FloatField(null=True, blank=True)
    oee = models.FloatField(null=True, blank=True)
    nee = models.FloatField(null=True, blank=True)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["-period_start_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "scope_id", "period", "period_start_at", "work_order"],
                name="oee_snapshot_unique",
                nulls_distinct=False,
            )
        ]
        indexes = [models.Index(fields=["period", "period_end_at"])]


class OeeRecomputeRequest(models.Model):
    """Closed OEE periods of an equipment (and its line, area, site) to compute again.

    Written in the transaction of a late event, a late count or a reclassified stop; the
    periodic snapshot task consumes them, so no change to the past is lost on a crash.
    """

    equipment = models.ForeignKey(Equipment, on_delete=models.CASCADE, related_name="+")
    range_start_at = models.DateTimeField()
    range_end_at = models.DateTimeField()
    requested_at = models.DateTimeField()

    class Meta:
        ordering = ["requested_at"]


class AlertRule(models.Model):
    name = models.CharField(max_length=200)
    metric = models.CharField(max_length=16, choices=AlertMetric.choices)
    equipment = models.ForeignKey(
        Equipment, null=True, blank=True, on_delete=models.CASCADE, related_name="alert_rules"
    )
    line = models.ForeignKey(
        Line, null=True, blank=True, on_delete=models.CASCADE, related_name="alert_rules"
    )
    signal_name = models.CharField(
        max_length=100, blank=True, help_text="For signal rules: the signal's name on each machine."
    )
    comparison = models.CharField(max_length=8, choices=Comparison.choices)
    threshold = models.FloatField()
    hysteresis = models.FloatField(default=0.0, help_text="Clears only past threshold ∓ this.")
    severity = models.CharField(max_length=16, choices=AlertSeverity.choices)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Alert(models.Model):
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    equipment = models.ForeignKey(
        Equipment, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    line = models.ForeignKey(
        Line, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    signal = models.ForeignKey(
        Signal, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    severity = models.CharField(max_length=16, choices=AlertSeverity.choices)
    state = models.CharField(max_length=16, choices=AlertState.choices, default=AlertState.ACTIVE)
    message = models.CharField(max_length=400)
    value = models.FloatField(null=True, blank=True)
    raised_at = models.DateTimeField()
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-raised_at"]
        permissions = [("acknowledge_alert", "Can acknowledge alerts")]
        constraints = [
            # De-duplication: one open alert per rule and target.
            models.UniqueConstraint(
                fields=["rule", "equipment", "line"],
                condition=~models.Q(state="cleared"),
                name="alert_open_unique",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        return self.message
