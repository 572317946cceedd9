"""Non-conformance reports (NCR): what, where, how many, which lots and serials, evidence →
containment (holds) → a signed disposition → CAPA (root cause, actions, effectiveness)."""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

from quality.choices import (
    CapaActionKind,
    CapaStatus,
    DispositionDecision,
    NonConformanceStatus,
    RootCauseMethod,
)


class NonConformance(models.Model):
    number = models.CharField(max_length=32, unique=True)
    title = models.CharField(max_length=200, help_text="What is wrong.")
    description = models.TextField(blank=True)
    status = models.CharField(
        max_length=16, choices=NonConformanceStatus.choices, default=NonConformanceStatus.OPEN
    )
    site = models.ForeignKey("production.Site", on_delete=models.PROTECT, related_name="+")
    line = models.ForeignKey(
        "production.Line", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    equipment = models.ForeignKey(
        "production.Equipment", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    product = models.ForeignKey(
        "production.Product", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    quantity = models.DecimalField(
        max_digits=14, decimal_places=3, validators=[MinValueValidator(0)]
    )
    lots = models.ManyToManyField("traceability.Lot", blank=True, related_name="+")
    serial_units = models.ManyToManyField("traceability.SerialUnit", blank=True, related_name="+")
    evidence = models.JSONField(
        default=list,
        blank=True,
        help_text="References: inspection results, vision results, images, documents.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "non-conformance"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gte=0), name="ncr_quantity_positive"
            )
        ]

    def __str__(self) -> str:
        return self.number


class Disposition(models.Model):
    """The signed decision on what happens to the non-conforming material."""

    non_conformance = models.OneToOneField(
        NonConformance, on_delete=models.PROTECT, related_name="disposition"
    )
    decision = models.CharField(max_length=24, choices=DispositionDecision.choices)
    reason = models.TextField()
    signature = models.OneToOneField(
        "traceability.ElectronicSignature", on_delete=models.PROTECT, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField()
    released_lots = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return f"{self.non_conformance}: {self.decision}"


class Capa(models.Model):
    """Corrective and preventive action of a non-conformance."""

    non_conformance = models.ForeignKey(
        NonConformance, on_delete=models.PROTECT, related_name="capas"
    )
    status = models.CharField(max_length=16, choices=CapaStatus.choices, default=CapaStatus.OPEN)
    method = models.CharField(max_length=16, choices=RootCauseMethod.choices)
    whys = models.JSONField(default=list, blank=True, help_text="5 whys: the chain of answers.")
    eight_d = models.JSONField(default=dict, blank=True, help_text="8D: D1…D8, each step's text.")
    root_cause = models.TextField(blank=True)
    effectiveness_due_at = models.DateTimeField(null=True, blank=True)
    is_effective = models.BooleanField(null=True, blank=True)
    effectiveness_note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "CAPA"

    def __str__(self) -> str:
        return f"CAPA {self.pk} of {self.non_conformance}"


class CapaAction(models.Model):
    capa = models.ForeignKey(Capa, on_delete=models.CASCADE, related_name="actions")
    kind = models.CharField(max_length=16, choices=CapaActionKind.choices)
    description = models.TextField()
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    due_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at"]

    def __str__(self) -> str:
        return self.description[:60]
