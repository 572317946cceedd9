"""Asset health: the healthy baseline per equipment, anomaly episodes and health snapshots."""

from django.conf import settings
from django.db import models

from maintenance.choices import (
    BaselineStatus,
    EpisodeState,
    FleetRulStatus,
    HealthState,
    MaintenancePriority,
    RulModel,
    RulState,
)


class HealthBaseline(models.Model):
    """What healthy vibration looks like for one equipment (``HealthyBaseline.as_dict``).

    A ``learning`` baseline collects the first healthy windows from ``learn_from_at`` on (all
    stored windows when empty) and becomes ``current`` once it has enough; the previous
    current one is then ``retired``. One current and one learning baseline per equipment.
    """

    equipment = models.ForeignKey(
        "production.Equipment", on_delete=models.CASCADE, related_name="health_baselines"
    )
    status = models.CharField(max_length=16, choices=BaselineStatus.choices)
    learn_from_at = models.DateTimeField(
        null=True, blank=True, help_text="Learn from windows at or after this time."
    )
    learned_at = models.DateTimeField(null=True, blank=True)
    windows_from_at = models.DateTimeField(null=True, blank=True)
    windows_to_at = models.DateTimeField(null=True, blank=True)
    window_count = models.PositiveIntegerField(default=0)
    feature_names = models.JSONField(default=list, blank=True)
    data = models.JSONField(default=dict, blank=True, help_text="HealthyBaseline.as_dict()")
    model_version = models.CharField(max_length=32, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["equipment", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["equipment"],
                condition=models.Q(status="current"),
                name="one_current_baseline",
            ),
            models.UniqueConstraint(
                fields=["equipment"],
                condition=models.Q(status="learning"),
                name="one_learning_baseline",
            ),
        ]

    def __str__(self) -> str:
        return f"baseline of {self.equipment_id} ({self.status})"


class AnomalyEpisode(models.Model):
    """One stretch of anomaly of one equipment: the closed loop acts once per episode.

    It opens when a snapshot is first anomalous and closes once the equipment has stayed
    normal for the cool-down (``MAINTENANCE_EPISODE_COOLDOWN_H``) or its predictive work
    order is done.
    """

    equipment = models.ForeignKey(
        "production.Equipment", on_delete=models.CASCADE, related_name="anomaly_episodes"
    )
    state = models.CharField(max_length=8, choices=EpisodeState.choices, default=EpisodeState.OPEN)
    started_at = models.DateTimeField()
    last_anomalous_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=200, blank=True)
    peak_alpha = models.FloatField(default=0.0)
    peak_recommendation = models.CharField(
        max_length=16, choices=MaintenancePriority.choices, blank=True
    )
    component = models.CharField(max_length=100, blank=True)
    loop_result = models.JSONField(
        default=dict, blank=True, help_text="The proposed actions of the closed loop."
    )

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["equipment"],
                condition=models.Q(state="open"),
                name="one_open_episode",
            )
        ]

    def __str__(self) -> str:
        return f"anomaly episode {self.pk} of {self.equipment_id} from {self.started_at:%Y-%m-%d}"


class HealthSnapshot(models.Model):
    """One health evaluation of one equipment at ``ts`` (the newest window it used).

    ``state`` says whether the numbers exist; "not enough data" snapshots carry no α and no
    RUL, only ``detail``. RULs are hours from ``ts``; ``None`` RUL with state ``estimated``
    never happens, with ``not_degrading`` it means unbounded.
    """

    equipment = models.ForeignKey(
        "production.Equipment", on_delete=models.CASCADE, related_name="health_snapshots"
    )
    ts = models.DateTimeField()
    state = models.CharField(max_length=16, choices=HealthState.choices)
    detail = models.CharField(max_length=300, blank=True)
    window_count = models.PositiveIntegerField(default=0)
    alpha = models.FloatField(null=True, blank=True)
    chi_square_alpha = models.FloatField(null=True, blank=True)
    mahalanobis_distance = models.FloatField(null=True, blank=True)
    kurtosis = models.FloatField(null=True, blank=True)
    is_floor_rule_fired = models.BooleanField(default=False)
    rms_ratio = models.FloatField(null=True, blank=True)
    health_index = models.FloatField(null=True, blank=True)
    degradation_slope_per_h = models.FloatField(
        null=True, blank=True, help_text="δ: share of the health index lost per hour."
    )
    rul_state = models.CharField(max_length=16, choices=RulState.choices, blank=True)
    rul_p10_h = models.FloatField(null=True, blank=True)
    rul_p50_h = models.FloatField(null=True, blank=True)
    rul_p90_h = models.FloatField(null=True, blank=True)
    recommendation = models.CharField(
        max_length=16, choices=MaintenancePriority.choices, blank=True
    )
    is_anomaly = models.BooleanField(default=False)
    baseline = models.ForeignKey(
        HealthBaseline, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    episode = models.ForeignKey(
        AnomalyEpisode,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="snapshots",
    )
    model_version = models.CharField(max_length=32, blank=True)
    rul_model = models.CharField(
        max_length=16, choices=RulModel.choices, blank=True, help_text="Which model gave the RUL."
    )
    rul_model_version = models.ForeignKey(
        "maintenance.RulModelVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    fleet_rul_state = models.CharField(
        max_length=24,
        choices=FleetRulStatus.choices,
        blank=True,
        help_text="The fleet model's answer; empty when the machine's class has none.",
    )
    rul_detail = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["equipment", "-ts"]
        get_latest_by = "ts"
        permissions = [
            ("send_raw_window", "Can send raw vibration windows for feature extraction"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["equipment", "ts"], name="health_snapshot_unique")
        ]
        indexes = [models.Index(fields=["equipment", "-ts"], name="health_snapshot_latest")]

    def __str__(self) -> str:
        return f"health of {self.equipment_id} at {self.ts:%Y-%m-%d %H:%M:%S} ({self.state})"
