"""Work orders and their operations (job steps)."""

from django.core.validators import MinValueValidator
from django.db import models

from production.choices import OperationState, WorkOrderSource, WorkOrderState
from production.models.plant import Capability, Equipment, Line, Site
from production.models.products import OperationTemplate, Product, Routing


class WorkOrder(models.Model):
    number = models.CharField(max_length=64, unique=True)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="work_orders")
    routing = models.ForeignKey(Routing, on_delete=models.PROTECT, related_name="work_orders")
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    quantity_good = models.PositiveIntegerField(default=0)
    quantity_scrap = models.PositiveIntegerField(default=0)
    due_at = models.DateTimeField()
    priority = models.PositiveSmallIntegerField(default=5, help_text="1 is most urgent.")
    state = models.CharField(
        max_length=16, choices=WorkOrderState.choices, default=WorkOrderState.PLANNED
    )
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="work_orders")
    line = models.ForeignKey(
        Line, null=True, blank=True, on_delete=models.PROTECT, related_name="work_orders"
    )
    source = models.CharField(
        max_length=16, choices=WorkOrderSource.choices, default=WorkOrderSource.PLANNER
    )
    created_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "priority", "number"]
        permissions = [
            ("release_workorder", "Can release and cancel work orders"),
            ("operate_workorder", "Can start, pause, resume and complete work orders"),
        ]
        indexes = [
            models.Index(fields=["state", "due_at"]),
            # the list's order: a page is read off the index instead of sorting every order
            models.Index(fields=["due_at", "priority", "number"], name="workorder_list_order"),
        ]

    def __str__(self) -> str:
        return self.number


class Operation(models.Model):
    work_order = models.ForeignKey(WorkOrder, on_delete=models.CASCADE, related_name="operations")
    template = models.ForeignKey(
        OperationTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sequence = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    capability = models.ForeignKey(Capability, on_delete=models.PROTECT, related_name="+")
    planned_run_time_per_unit_s = models.FloatField(validators=[MinValueValidator(0.0)])
    setup_time_s = models.FloatField(default=0.0, validators=[MinValueValidator(0.0)])
    force_kn = models.FloatField(default=0.0, validators=[MinValueValidator(0.0)])
    assigned_equipment = models.ForeignKey(
        Equipment, null=True, blank=True, on_delete=models.SET_NULL, related_name="operations"
    )
    state = models.CharField(
        max_length=16, choices=OperationState.choices, default=OperationState.PENDING
    )
    quantity_good = models.PositiveIntegerField(default=0)
    quantity_scrap = models.PositiveIntegerField(default=0)
    planned_start_at = models.DateTimeField(null=True, blank=True)
    planned_end_at = models.DateTimeField(null=True, blank=True)
    actual_start_at = models.DateTimeField(null=True, blank=True)
    actual_end_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["work_order", "sequence"]
        permissions = [("operate_operation", "Can start, pause and complete operations")]
        constraints = [
            models.UniqueConstraint(
                fields=["work_order", "sequence"], name="operation_sequence_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(planned_end_at__isnull=True)
                | models.Q(planned_start_at__isnull=True)
                | models.Q(planned_end_at__gte=models.F("planned_start_at")),
                name="operation_planned_window_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.work_order.number}/{self.sequence} {self.name}"
