"""Items, locations, stock by lot, reservations, the stock ledger and the procurement outbox."""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

from inventory.choices import ItemKind, MovementKind, ProcurementStatus, ReservationStatus


class Item(models.Model):
    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    unit = models.CharField(max_length=16, default="pcs")
    kind = models.CharField(max_length=16, choices=ItemKind.choices, default=ItemKind.COMPONENT)
    gtin = models.CharField(
        max_length=14,
        blank=True,
        db_index=True,
        help_text="GS1 GTIN (14 digits, AI 01) printed on the item's labels.",
    )

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} – {self.name}"


class Location(models.Model):
    site = models.ForeignKey("production.Site", on_delete=models.PROTECT, related_name="locations")
    code = models.CharField(max_length=64)
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["site", "code"]
        constraints = [
            models.UniqueConstraint(fields=["site", "code"], name="location_code_unique")
        ]

    def __str__(self) -> str:
        return self.code


class Stock(models.Model):
    lot = models.ForeignKey("traceability.Lot", on_delete=models.PROTECT, related_name="stock")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="stock")
    quantity = models.DecimalField(max_digits=14, decimal_places=3, default=0)

    class Meta:
        ordering = ["location", "lot"]
        verbose_name_plural = "stock"
        constraints = [
            models.UniqueConstraint(fields=["lot", "location"], name="stock_lot_location_unique"),
            models.CheckConstraint(
                condition=models.Q(quantity__gte=0), name="stock_quantity_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lot} @ {self.location}: {self.quantity}"


class StockMovement(models.Model):
    """The ledger: every change of stock is one row; stock is its running sum."""

    at = models.DateTimeField(db_index=True)
    kind = models.CharField(max_length=16, choices=MovementKind.choices)
    lot = models.ForeignKey("traceability.Lot", on_delete=models.PROTECT, related_name="movements")
    from_location = models.ForeignKey(
        Location, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_location = models.ForeignKey(
        Location, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    quantity = models.DecimalField(
        max_digits=14, decimal_places=3, validators=[MinValueValidator(0)]
    )
    reference = models.CharField(max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(from_location__isnull=False)
                | models.Q(to_location__isnull=False),
                name="movement_has_a_location",
            ),
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="movement_positive"),
        ]


class Reservation(models.Model):
    """Quantity of one stock row set aside for a job: it lowers the available quantity
    (on hand − active reservations), not the on-hand quantity, until it is issued
    (consumed) or released."""

    stock = models.ForeignKey(Stock, on_delete=models.PROTECT, related_name="reservations")
    quantity = models.DecimalField(max_digits=14, decimal_places=3)
    status = models.CharField(
        max_length=16, choices=ReservationStatus.choices, default=ReservationStatus.ACTIVE
    )
    maintenance_work_order = models.ForeignKey(
        "maintenance.MaintenanceWorkOrder",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reservations",
    )
    reference = models.CharField(
        max_length=200, blank=True, help_text="What it is for, e.g. a work order number."
    )
    reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gt=0), name="reservation_quantity_positive"
            )
        ]
        indexes = [models.Index(fields=["stock", "status"])]

    def __str__(self) -> str:
        return f"{self.quantity} of {self.stock_id} for {self.reference or '-'} ({self.status})"


class ProcurementRequest(models.Model):
    """Outbox row for the ERP: buy ``quantity`` of ``item`` for ``site`` by ``needed_by``.

    The ERP polls the pending ones (they become ``sent``) and acknowledges each with its own
    reference. Rows not acknowledged within ``MAINTENANCE_PROCUREMENT_STALE_H`` are marked
    stale (and are handed out again by the next poll).
    """

    number = models.CharField(max_length=64, unique=True)
    site = models.ForeignKey(
        "production.Site", on_delete=models.PROTECT, related_name="procurement_requests"
    )
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="procurement_requests")
    quantity = models.DecimalField(max_digits=14, decimal_places=3)
    needed_by = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=ProcurementStatus.choices, default=ProcurementStatus.PENDING
    )
    reason = models.TextField(blank=True)
    reference = models.CharField(max_length=200, blank=True)
    maintenance_work_order = models.ForeignKey(
        "maintenance.MaintenanceWorkOrder",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="procurement_requests",
    )
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    send_count = models.PositiveIntegerField(default=0)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    erp_reference = models.CharField(max_length=200, blank=True)
    is_stale = models.BooleanField(default=False)
    stale_since = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        permissions = [
            ("exchange_procurementrequest", "Can fetch and acknowledge procurement requests (ERP)")
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gt=0), name="procurement_quantity_positive"
            )
        ]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.number}: {self.quantity} {self.item.code} ({self.status})"
