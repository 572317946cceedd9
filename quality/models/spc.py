"""Statistical process control: a characteristic's control chart (type, subgroup size, run
rules, reaction, station), its versioned control limits, the subgroups as they arrive (each
one a plotted point once complete) and the run-rule violations found on them.

The statistics themselves live in the pure package ``quality.spc``."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from quality.choices import ControlChartType, SpcReaction, SubgroupSource
from quality.models.core import Characteristic


class ControlChart(models.Model):
    """How one characteristic is charted: one chart per characteristic."""

    characteristic = models.OneToOneField(
        Characteristic, on_delete=models.CASCADE, related_name="control_chart"
    )
    chart_type = models.CharField(max_length=8, choices=ControlChartType.choices)
    subgroup_size = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(25)],
        help_text="Values per subgroup (1 for I–MR); units inspected for an np chart.",
    )
    rules = models.JSONField(default=list, help_text="Run rules checked: nelson_1 … we_4.")
    reaction = models.CharField(max_length=8, choices=SpcReaction.choices, default=SpcReaction.NONE)
    equipment = models.ForeignKey(
        "production.Equipment",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The measuring station: its line scopes the chart; its UNS path receives "
        "the _measurement messages.",
    )
    signal = models.ForeignKey(
        "production.Signal",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Optional: a telemetry signal whose readings are this characteristic.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["characteristic__code"]

    def __str__(self) -> str:
        return f"{self.characteristic.code} ({self.chart_type})"


class ControlLimitSet(models.Model):
    """One version of a chart's limits, computed from a baseline on request (who and why)."""

    chart = models.ForeignKey(ControlChart, on_delete=models.CASCADE, related_name="limit_sets")
    version = models.PositiveIntegerField()
    center_line = models.FloatField()
    lower_limit = models.FloatField(null=True, blank=True, help_text="Empty: per point (p, u).")
    upper_limit = models.FloatField(null=True, blank=True, help_text="Empty: per point (p, u).")
    sigma_within = models.FloatField(null=True, blank=True)
    dispersion_center = models.FloatField(null=True, blank=True)
    dispersion_lower = models.FloatField(null=True, blank=True)
    dispersion_upper = models.FloatField(null=True, blank=True)
    limits = models.JSONField(help_text="quality.spc.ControlLimits.as_dict()")
    baseline_first_index = models.PositiveIntegerField()
    baseline_last_index = models.PositiveIntegerField()
    computed_at = models.DateTimeField()
    computed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField()

    class Meta:
        ordering = ["chart", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["chart", "version"], name="limit_set_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.chart.characteristic.code} limits v{self.version}"


class Subgroup(models.Model):
    """A subgroup of a chart: its values (variables) or counts (attributes) and, once
    complete and under limits, its plotted point."""

    chart = models.ForeignKey(ControlChart, on_delete=models.CASCADE, related_name="subgroups")
    index = models.PositiveIntegerField(help_text="Position on the chart, from 0.")
    values = models.JSONField(default=list, blank=True)
    defect_count = models.FloatField(null=True, blank=True, help_text="Attributes: d or c.")
    inspected_count = models.FloatField(null=True, blank=True, help_text="Attributes: n.")
    is_complete = models.BooleanField(default=False)
    measured_at = models.DateTimeField(db_index=True)
    source = models.CharField(max_length=8, choices=SubgroupSource.choices)
    lot = models.ForeignKey(
        "traceability.Lot", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    serial_unit = models.ForeignKey(
        "traceability.SerialUnit",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    operation = models.ForeignKey(
        "production.Operation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The plotted point, under the limit set current when the subgroup completed.
    limit_set = models.ForeignKey(
        ControlLimitSet, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    statistic = models.FloatField(null=True, blank=True)
    dispersion = models.FloatField(null=True, blank=True)
    lower_limit = models.FloatField(null=True, blank=True)
    upper_limit = models.FloatField(null=True, blank=True)
    sigma = models.FloatField(null=True, blank=True)
    zone = models.CharField(max_length=16, blank=True)

    class Meta:
        ordering = ["chart", "index"]
        constraints = [
            models.UniqueConstraint(fields=["chart", "index"], name="subgroup_index_unique")
        ]

    def __str__(self) -> str:
        return f"{self.chart.characteristic.code} #{self.index}"


class RuleViolation(models.Model):
    """A run rule broken at a point: the rule, every point of its pattern and the zone. The
    reaction proposed for the point is the ProposedAction with the dedupe key
    ``spc:<chart id>:<subgroup index>`` (quality.services.spc_reactions)."""

    chart = models.ForeignKey(ControlChart, on_delete=models.CASCADE, related_name="violations")
    subgroup = models.ForeignKey(Subgroup, on_delete=models.CASCADE, related_name="violations")
    limit_set = models.ForeignKey(ControlLimitSet, on_delete=models.CASCADE, related_name="+")
    rule = models.CharField(max_length=16)
    zone = models.CharField(max_length=16)
    point_indices = models.JSONField(help_text="Subgroup indices of the pattern.")
    detected_at = models.DateTimeField()
    alerted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-detected_at", "rule"]
        constraints = [
            models.UniqueConstraint(fields=["subgroup", "rule"], name="violation_once_per_rule")
        ]

    def __str__(self) -> str:
        return f"{self.rule} at {self.subgroup}"
