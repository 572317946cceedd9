"""Products, routings and their operation templates."""

from django.core.validators import MinValueValidator
from django.db import models

from production.models.plant import Capability, code_validator


class Product(models.Model):
    code = models.CharField(max_length=64, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    item = models.ForeignKey(
        "inventory.Item",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="products",
        help_text="The inventory item a finished unit is booked to.",
    )

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class Routing(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="routings")
    version = models.CharField(max_length=32, default="1")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["product__code", "version"]
        constraints = [
            models.UniqueConstraint(fields=["product", "version"], name="routing_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.product.code} v{self.version}"


class OperationTemplate(models.Model):
    routing = models.ForeignKey(Routing, on_delete=models.CASCADE, related_name="operations")
    sequence = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    capability = models.ForeignKey(Capability, on_delete=models.PROTECT, related_name="+")
    planned_run_time_per_unit_s = models.FloatField(
        validators=[MinValueValidator(0.0)], help_text="PRU of ISO 22400: planned seconds per unit."
    )
    setup_time_s = models.FloatField(default=0.0, validators=[MinValueValidator(0.0)])
    force_kn = models.FloatField(default=0.0, validators=[MinValueValidator(0.0)])

    class Meta:
        ordering = ["routing", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["routing", "sequence"], name="operation_template_sequence_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.routing} #{self.sequence} {self.name}"
