from django.db import models


class InspectionSource(models.TextChoices):
    MANUAL = "manual", "Manual"
    VISION = "vision", "Vision system"
    GAUGE = "gauge", "Gauge"
