"""Items, locations, stock by lot and the stock movement ledger."""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

from inventory.choices import ItemKind, MovementKind


class Item(models.Model):
    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    unit = models.CharField(max_length=16, default="pcs")
    kind = models.CharField(max_length=16, choices=ItemKind.choices, default=ItemKind.COMPONENT)

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
