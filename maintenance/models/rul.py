"""Fleet RUL models: which machines learn from each other, and the registry of trained models."""

from django.conf import settings
from django.db import models

from production.models.plant import code_validator


class MachineClass(models.Model):
    """Machines similar enough to learn each other's remaining life (e.g. one spindle type).

    The fleet RUL model is trained per class from its members' run-to-failure histories.
    """

    code = models.CharField(max_length=64, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "machine classes"

    def __str__(self) -> str:
        return self.code


class MachineClassMember(models.Model):
    """An equipment's machine class (at most one per equipment)."""

    machine_class = models.ForeignKey(
        MachineClass, on_delete=models.CASCADE, related_name="members"
    )
    equipment = models.OneToOneField(
        "production.Equipment", on_delete=models.CASCADE, related_name="machine_class_member"
    )

    class Meta:
        ordering = ["machine_class", "equipment"]

    def __str__(self) -> str:
        return f"{self.equipment_id} in {self.machine_class_id}"


class RulModelVersion(models.Model):
    """One trained fleet RUL model of a machine class (``maintenance.algorithms.fleet_rul``).

    ``payload`` is what ``model_dump`` wrote; ``format_version``, ``feature_schema_hash`` and
    ``library_version`` repeat its header so a model of another code version is recognised
    without loading it. At most one version per class is in use.
    """

    machine_class = models.ForeignKey(
        MachineClass, on_delete=models.PROTECT, related_name="rul_models"
    )
    version = models.PositiveIntegerField()
    is_in_use = models.BooleanField(default=False)
    trained_at = models.DateTimeField()
    trained_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    history_until_at = models.DateTimeField(help_text="Runs that ended up to this time.")
    run_count = models.PositiveIntegerField()
    cut_point_count = models.PositiveIntegerField()
    training_runs = models.JSONField(
        default=list, help_text="Each run: equipment, start, end, what ended it, samples."
    )
    settings = models.JSONField(default=dict, help_text="FleetRulSettings.as_dict()")
    metrics = models.JSONField(default=dict, help_text="Cross-validated on the training runs.")
    rmse_h = models.FloatField(null=True, blank=True)
    coverage = models.FloatField(
        null=True, blank=True, help_text="Share of true RULs inside p10–p90 (nominal 0.8)."
    )
    cap_h = models.FloatField()
    format_version = models.CharField(max_length=32)
    feature_schema_hash = models.CharField(max_length=32)
    library_version = models.CharField(max_length=32)
    payload = models.BinaryField()
    payload_size = models.PositiveIntegerField()

    class Meta:
        ordering = ["machine_class", "-version"]
        get_latest_by = "version"
        constraints = [
            models.UniqueConstraint(
                fields=["machine_class", "version"], name="rul_model_version_unique"
            ),
            models.UniqueConstraint(
                fields=["machine_class"],
                condition=models.Q(is_in_use=True),
                name="one_rul_model_in_use",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.machine_class_id} fleet RUL v{self.version}"
