"""Shift calendars, planned downtime and the downtime reason tree."""

from django.core.exceptions import ValidationError
from django.db import models

from production.choices import IsoTimeElement, PlannedDowntimeKind
from production.models.plant import Line, Site, code_validator


class ShiftCalendar(models.Model):
    """Shifts of a site, or of one line where the line differs from its site."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="shift_calendars")
    line = models.ForeignKey(
        Line, null=True, blank=True, on_delete=models.CASCADE, related_name="shift_calendars"
    )
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["site", "line", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["site", "line"], name="calendar_per_line_unique", nulls_distinct=False
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.line_id and self.site_id and self.line.area.site_id != self.site_id:
            raise ValidationError({"line": "The line must belong to the calendar's site."})


WEEKDAYS_ALL = "0123456"


class Shift(models.Model):
    """A recurring shift in plant-local time; end before start means it runs overnight."""

    calendar = models.ForeignKey(ShiftCalendar, on_delete=models.CASCADE, related_name="shifts")
    name = models.CharField(max_length=64)
    start_time = models.TimeField(help_text="Local time of the plant.")
    end_time = models.TimeField(help_text="Local time; earlier than the start = overnight shift.")
    weekdays = models.CharField(
        max_length=7,
        default=WEEKDAYS_ALL,
        help_text="Days the shift starts on: 0 = Monday … 6 = Sunday, e.g. 01234.",
    )

    class Meta:
        ordering = ["calendar", "start_time"]
        constraints = [
            models.UniqueConstraint(fields=["calendar", "name"], name="shift_name_unique")
        ]

    def __str__(self) -> str:
        return f"{self.calendar}: {self.name}"

    def clean(self) -> None:
        if not self.weekdays or any(ch not in WEEKDAYS_ALL for ch in self.weekdays):
            raise ValidationError({"weekdays": "Use digits 0 (Monday) to 6 (Sunday)."})
        if self.start_time == self.end_time:
            raise ValidationError({"end_time": "A shift must not start and end at the same time."})


class ShiftBreak(models.Model):
    shift = models.ForeignKey(Shift, on_delete=models.CASCADE, related_name="breaks")
    name = models.CharField(max_length=64, default="Break")
    start_time = models.TimeField()
    end_time = models.TimeField()

    class Meta:
        ordering = ["shift", "start_time"]

    def __str__(self) -> str:
        return f"{self.shift.name} {self.name} {self.start_time:%H:%M}–{self.end_time:%H:%M}"


class PlannedDowntime(models.Model):
    """A one-off planned stop (PM window, no production planned) in UTC."""

    calendar = models.ForeignKey(
        ShiftCalendar, on_delete=models.CASCADE, related_name="planned_downtimes"
    )
    name = models.CharField(max_length=200)
    kind = models.CharField(
        max_length=16, choices=PlannedDowntimeKind.choices, default=PlannedDowntimeKind.MAINTENANCE
    )
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()

    class Meta:
        ordering = ["start_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_at__gt=models.F("start_at")),
                name="planned_downtime_ordered",
            )
        ]

    def __str__(self) -> str:
        return self.name


class DowntimeReason(models.Model):
    """Category → reason → sub-reason; each node is booked to one ISO 22400 element."""

    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    code = models.CharField(max_length=64, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    iso_element = models.CharField(max_length=4, choices=IsoTimeElement.choices)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} – {self.name}"

    @property
    def depth(self) -> int:
        depth, node = 1, self.parent
        while node is not None:
            depth, node = depth + 1, node.parent
        return depth

    def clean(self) -> None:
        if self.parent_id is not None:
            node, seen = self.parent, {self.pk}
            while node is not None:
                if node.pk in seen:
                    raise ValidationError({"parent": "A reason cannot be its own ancestor."})
                seen.add(node.pk)
                node = node.parent
            if self.depth > 3:
                raise ValidationError(
                    {"parent": "The tree has three levels: category, reason, sub-reason."}
                )
