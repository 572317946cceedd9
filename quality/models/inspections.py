"""Inspection plans (what is inspected, how often) and lot inspections by ISO 2859-1 sampling."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from quality.algorithms.sampling import AQL_VALUES
from quality.choices import InspectionLevel, SamplingMethod


class InspectionPlan(models.Model):
    """What is inspected on a product (optionally at one operation of its routing), and how
    often: every part, every n-th, a sample per lot (ISO 2859-1) or the first article."""

    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    product = models.ForeignKey(
        "production.Product", on_delete=models.CASCADE, related_name="inspection_plans"
    )
    operation_template = models.ForeignKey(
        "production.OperationTemplate",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="inspection_plans",
        help_text="The routing step inspected; empty for the finished product.",
    )
    characteristics = models.ManyToManyField(
        "quality.Characteristic", blank=True, related_name="inspection_plans"
    )
    sampling_method = models.CharField(max_length=16, choices=SamplingMethod.choices)
    every_n = models.PositiveIntegerField(null=True, blank=True, help_text="For every n-th.")
    inspection_level = models.CharField(
        max_length=4, choices=InspectionLevel.choices, default=InspectionLevel.II
    )
    aql = models.FloatField(
        null=True, blank=True, help_text="Acceptance quality limit (a column of Table 2-A)."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(sampling_method=SamplingMethod.EVERY_NTH)
                | models.Q(every_n__gte=1),
                name="every_nth_plan_has_n",
            ),
            models.CheckConstraint(
                condition=~models.Q(sampling_method=SamplingMethod.ISO_2859)
                | models.Q(aql__isnull=False),
                name="iso_2859_plan_has_aql",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    def clean(self) -> None:
        if self.sampling_method == SamplingMethod.EVERY_NTH and not self.every_n:
            raise ValidationError({"every_n": "Every n-th inspection needs n ≥ 1."})
        if self.sampling_method == SamplingMethod.ISO_2859:
            if self.aql is None:
                raise ValidationError({"aql": "ISO 2859-1 sampling needs an AQL."})
            if not any(abs(self.aql - value) <= 1e-9 * max(1, value) for value in AQL_VALUES):
                raise ValidationError(
                    {"aql": f"Choose an AQL of ISO 2859-1 Table 2-A: {list(AQL_VALUES)}."}
                )
        if (
            self.operation_template_id is not None
            and self.operation_template.routing.product_id != self.product_id
        ):
            raise ValidationError(
                {"operation_template": "The step is not on this product's route."}
            )


class LotInspection(models.Model):
    """One lot inspected by its plan's sample: the plan of Table 2-A and the decision."""

    plan = models.ForeignKey(
        InspectionPlan, on_delete=models.PROTECT, related_name="lot_inspections"
    )
    lot = models.ForeignKey(
        "traceability.Lot", on_delete=models.PROTECT, related_name="lot_inspections"
    )
    equipment = models.ForeignKey(
        "production.Equipment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    lot_size = models.PositiveIntegerField()
    code_letter = models.CharField(max_length=1)
    sample_size = models.PositiveIntegerField()
    acceptance_number = models.PositiveIntegerField()
    rejection_number = models.PositiveIntegerField()
    nonconforming_count = models.PositiveIntegerField()
    is_accepted = models.BooleanField()
    defect_class = models.CharField(max_length=64, blank=True)
    inspected_at = models.DateTimeField(db_index=True)
    inspected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-inspected_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(is_accepted=True)
                | models.Q(nonconforming_count__gte=models.F("rejection_number")),
                name="lot_rejected_at_re_or_more",
            )
        ]

    def __str__(self) -> str:
        verdict = "accepted" if self.is_accepted else "rejected"
        return f"{self.lot} by {self.plan}: {verdict}"
