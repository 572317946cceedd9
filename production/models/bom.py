"""Bills of materials: what one unit of a product is made of, version by version."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from production.models.products import OperationTemplate, Product, Routing


class BillOfMaterials(models.Model):
    """One version of a product's bill of materials, in force from ``effective_from`` until
    ``effective_to`` (open-ended when empty). Its lines name the operation of ``routing``
    that consumes each component."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="boms")
    version = models.CharField(max_length=32)
    routing = models.ForeignKey(
        Routing, null=True, blank=True, on_delete=models.PROTECT, related_name="boms"
    )
    effective_from = models.DateTimeField()
    effective_to = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["product__code", "-effective_from"]
        verbose_name = "bill of materials"
        verbose_name_plural = "bills of materials"
        constraints = [
            models.UniqueConstraint(fields=["product", "version"], name="bom_version_unique"),
            models.CheckConstraint(
                condition=models.Q(effective_to__isnull=True)
                | models.Q(effective_to__gt=models.F("effective_from")),
                name="bom_effective_window_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"BOM {self.product.code} v{self.version}"


class BomLine(models.Model):
    """``quantity_per_unit`` of ``item`` per unit of the product, plus ``scrap_factor``
    (0.05 = 5 % more is issued), consumed at ``operation`` of the BOM's routing."""

    bom = models.ForeignKey(BillOfMaterials, on_delete=models.CASCADE, related_name="lines")
    item = models.ForeignKey("inventory.Item", on_delete=models.PROTECT, related_name="bom_lines")
    quantity_per_unit = models.DecimalField(max_digits=14, decimal_places=4)
    scrap_factor = models.DecimalField(
        max_digits=6,
        decimal_places=4,
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(10)],
    )
    operation = models.ForeignKey(
        OperationTemplate,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="bom_lines",
        help_text="The routing step that consumes this component (backflushed at its end).",
    )
    is_serialized = models.BooleanField(
        default=False, help_text="Each unit is tracked by its own serial number."
    )

    class Meta:
        ordering = ["bom", "id"]
        constraints = [
            models.UniqueConstraint(fields=["bom", "item"], name="bom_line_item_unique"),
            models.CheckConstraint(
                condition=models.Q(quantity_per_unit__gt=0), name="bom_line_quantity_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(scrap_factor__gte=0), name="bom_line_scrap_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bom}: {self.quantity_per_unit} × {self.item_id}"
