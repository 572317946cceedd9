"""Sensor drift: redundant measurements of one quantity and the sensors found suspect."""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

from maintenance.choices import PairModel, SensorVerdict, SuspicionStatus


class RedundantPair(models.Model):
    """Witnesses of one quantity of an equipment: probe A, and probe B and/or a physical model.

    The spindle thermal model (``maintenance.algorithms.drift.ThermalModel``) needs the
    equipment's power and speed signals and its four parameters; its accuracy is
    ``model_sigma_c``. With two probes and the model the drifting probe is named; with two
    probes alone a disagreement is reported on both (``ambiguous``).
    """

    equipment = models.ForeignKey(
        "production.Equipment", on_delete=models.CASCADE, related_name="redundant_pairs"
    )
    name = models.CharField(max_length=100, help_text="e.g. spindle temperature")
    signal_a = models.ForeignKey("production.Signal", on_delete=models.CASCADE, related_name="+")
    signal_b = models.ForeignKey(
        "production.Signal", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    model = models.CharField(max_length=32, choices=PairModel.choices, blank=True, default="")
    power_signal = models.ForeignKey(
        "production.Signal", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    speed_signal = models.ForeignKey(
        "production.Signal", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ambient_c = models.FloatField(default=23.0)
    thermal_resistance_c_per_kw = models.FloatField(default=2.78)
    speed_heat_c_per_krpm = models.FloatField(default=0.0)
    time_constant_s = models.FloatField(default=240.0, validators=[MinValueValidator(1.0)])
    model_sigma_c = models.FloatField(
        default=1.5, validators=[MinValueValidator(0.01)], help_text="Accuracy of the model."
    )
    is_active = models.BooleanField(default=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_result = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["equipment", "name"]
        constraints = [
            models.UniqueConstraint(fields=["equipment", "name"], name="redundant_pair_unique"),
            models.CheckConstraint(
                condition=models.Q(signal_b__isnull=False) | ~models.Q(model=""),
                name="redundant_pair_has_second_witness",
            ),
            models.CheckConstraint(
                condition=~models.Q(signal_a=models.F("signal_b")),
                name="redundant_pair_two_signals",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.equipment.code}: {self.name}"


class SensorSuspicion(models.Model):
    """A signal found suspect by its redundant pair; one open suspicion per signal.

    While open, the signal's readings from ``marked_from_at`` on are stored with the quality
    ``QUALITY_UNCERTAIN_SENSOR`` (kept, marked), the signal is flagged ``is_suspect`` (no
    alerts, no health features) and one calibration order is proposed through the guardrails.
    It is cleared when that order is done, or by a person after a recalibration.
    """

    signal = models.ForeignKey(
        "production.Signal", on_delete=models.CASCADE, related_name="suspicions"
    )
    equipment = models.ForeignKey(
        "production.Equipment", on_delete=models.CASCADE, related_name="sensor_suspicions"
    )
    pair = models.ForeignKey(
        RedundantPair, null=True, on_delete=models.SET_NULL, related_name="suspicions"
    )
    verdict = models.CharField(max_length=16, choices=SensorVerdict.choices)
    status = models.CharField(
        max_length=16, choices=SuspicionStatus.choices, default=SuspicionStatus.OPEN
    )
    detected_at = models.DateTimeField(help_text="Time of the reading at which it was flagged.")
    marked_from_at = models.DateTimeField(help_text="Readings from here on are marked.")
    residual_sigma = models.FloatField(null=True, blank=True)
    detail = models.CharField(max_length=300, blank=True)
    calibration_order_number = models.CharField(max_length=64, blank=True)
    cleared_at = models.DateTimeField(null=True, blank=True)
    cleared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    clear_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-detected_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["signal"],
                condition=models.Q(status="open"),
                name="one_open_suspicion_per_signal",
            )
        ]

    def __str__(self) -> str:
        return f"{self.signal} {self.verdict} since {self.detected_at:%Y-%m-%d %H:%M}"
