"""ISA-95 plant model: Enterprise → Site → Area → Line → Cell → Equipment, with Signals."""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models

from autonomy.choices import AutonomyMode
from production.choices import SignalDataType

code_validator = RegexValidator(
    r"^[A-Za-z0-9_.-]+$", "Use letters, digits, '_', '-' or '.' only (it is part of a UNS topic)."
)


class Enterprise(models.Model):
    code = models.CharField(max_length=64, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Site(models.Model):
    enterprise = models.ForeignKey(Enterprise, on_delete=models.PROTECT, related_name="sites")
    code = models.CharField(max_length=64, validators=[code_validator])
    name = models.CharField(max_length=200)
    time_zone = models.CharField(
        max_length=64, default=settings.PLANT_TIME_ZONE, help_text="IANA zone, e.g. Europe/Berlin."
    )
    autonomy_mode = models.CharField(
        max_length=16, choices=AutonomyMode.choices, default=AutonomyMode.SUPERVISED
    )

    class Meta:
        ordering = ["enterprise__code", "code"]
        constraints = [
            models.UniqueConstraint(fields=["enterprise", "code"], name="site_code_unique")
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValidationError(
                {"time_zone": f"Unknown time zone {self.time_zone!r}."}
            ) from error


class Area(models.Model):
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="areas")
    code = models.CharField(max_length=64, validators=[code_validator])
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["site__code", "code"]
        constraints = [models.UniqueConstraint(fields=["site", "code"], name="area_code_unique")]

    def __str__(self) -> str:
        return f"{self.site.code}/{self.code}"


class Line(models.Model):
    area = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="lines")
    code = models.CharField(max_length=64, validators=[code_validator])
    name = models.CharField(max_length=200)
    capacity_units = models.PositiveIntegerField(
        default=40, help_text="Units of customer orders the line holds at once (dispatch)."
    )

    class Meta:
        ordering = ["area__site__code", "area__code", "code"]
        constraints = [models.UniqueConstraint(fields=["area", "code"], name="line_code_unique")]

    def __str__(self) -> str:
        return self.code

    @property
    def site_id(self) -> int:
        return self.area.site_id


class Cell(models.Model):
    line = models.ForeignKey(Line, on_delete=models.PROTECT, related_name="cells")
    code = models.CharField(max_length=64, validators=[code_validator])
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["line__code", "code"]
        constraints = [models.UniqueConstraint(fields=["line", "code"], name="cell_code_unique")]

    def __str__(self) -> str:
        return f"{self.line.code}/{self.code}"


class Capability(models.Model):
    """What an equipment can do (e.g. `milling`, `inspection`); routings ask for one."""

    code = models.CharField(max_length=64, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "capabilities"

    def __str__(self) -> str:
        return self.code


class Equipment(models.Model):
    cell = models.ForeignKey(Cell, on_delete=models.PROTECT, related_name="equipment")
    code = models.CharField(max_length=64, validators=[code_validator])
    name = models.CharField(max_length=200)
    uns_path = models.CharField(
        max_length=400,
        unique=True,
        editable=False,
        help_text="enterprise/site/area/line/cell/equipment — derived from the codes.",
    )
    capabilities = models.ManyToManyField(Capability, blank=True, related_name="equipment")
    stress_limit_kn = models.FloatField(
        default=10.0,
        validators=[MinValueValidator(0.0)],
        help_text="Operations with a higher force are high-stress for this machine.",
    )
    bottleneck_weight = models.FloatField(
        default=1.0,
        validators=[MinValueValidator(0.0)],
        help_text="θ in the scheduler's priority: how much this machine's health matters.",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["uns_path"]
        verbose_name_plural = "equipment"
        constraints = [
            models.UniqueConstraint(fields=["cell", "code"], name="equipment_code_unique")
        ]

    def __str__(self) -> str:
        return self.code

    def build_uns_path(self) -> str:
        cell = self.cell
        line = cell.line
        area = line.area
        site = area.site
        return "/".join(
            [site.enterprise.code, site.code, area.code, line.code, cell.code, self.code]
        )

    def save(self, *args, **kwargs):
        # The UNS path is derived data; keeping it in step with the codes is an invariant.
        self.uns_path = self.build_uns_path()
        super().save(*args, **kwargs)


class Signal(models.Model):
    """One measurable point of an equipment: the telemetry data contract."""

    equipment = models.ForeignKey(Equipment, on_delete=models.CASCADE, related_name="signals")
    name = models.CharField(max_length=100, validators=[code_validator])
    unit = models.CharField(max_length=32, blank=True)
    data_type = models.CharField(
        max_length=16, choices=SignalDataType.choices, default=SignalDataType.NUMBER
    )
    min_value = models.FloatField(null=True, blank=True, help_text="Plausible minimum.")
    max_value = models.FloatField(null=True, blank=True, help_text="Plausible maximum.")
    sample_period_s = models.FloatField(default=1.0, validators=[MinValueValidator(0.0)])
    description = models.CharField(max_length=300, blank=True)
    is_suspect = models.BooleanField(
        default=False,
        help_text="Set by maintenance sensor drift: readings kept but marked, no alerts.",
    )

    class Meta:
        ordering = ["equipment__uns_path", "name"]
        constraints = [
            models.UniqueConstraint(fields=["equipment", "name"], name="signal_name_unique"),
            models.CheckConstraint(
                condition=models.Q(min_value__isnull=True)
                | models.Q(max_value__isnull=True)
                | models.Q(min_value__lte=models.F("max_value")),
                name="signal_range_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.equipment.code}/{self.name}"

    @property
    def topic_path(self) -> str:
        return f"{self.equipment.uns_path}/{self.name}"

    def clean(self) -> None:
        if (
            self.min_value is not None
            and self.max_value is not None
            and self.min_value > self.max_value
        ):
            raise ValidationError({"max_value": "The maximum must not be below the minimum."})


class PlantScope(models.Model):
    """The sites and lines a supervisor or operator works on (object-level scoping)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="plant_scope"
    )
    sites = models.ManyToManyField(Site, blank=True, related_name="+")
    lines = models.ManyToManyField(Line, blank=True, related_name="+")

    def __str__(self) -> str:
        return f"scope of {self.user}"


class OperatorBadge(models.Model):
    """An operator's badge and the hash of their PIN, for the station login on an HMI tablet.

    Written only by ``production.services.operator_badges``; checked by
    ``production.auth_backends.StationPinBackend``.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="operator_badge"
    )
    badge_id = models.CharField(max_length=64, unique=True)
    pin_hash = models.CharField(max_length=128)
    pin_set_at = models.DateTimeField()
    pin_set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        # No view permission for the "view_*" of the roles: nobody but an admin reads them.
        default_permissions = ()

    def __str__(self) -> str:
        return f"badge {self.badge_id} ({self.user})"
