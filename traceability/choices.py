from django.db import models


class LotStatus(models.TextChoices):
    AVAILABLE = "available", "Available"
    ON_HOLD = "on_hold", "On hold"
    CONSUMED = "consumed", "Consumed"
    SCRAPPED = "scrapped", "Scrapped"
    SHIPPED = "shipped", "Shipped"


class LotOrigin(models.TextChoices):
    RECEIVED = "received", "Received"
    PRODUCED = "produced", "Produced"


class SerialStatus(models.TextChoices):
    IN_PROCESS = "in_process", "In process"
    COMPLETED = "completed", "Completed"
    CONSUMED = "consumed", "Consumed (built into another unit)"
    SCRAPPED = "scrapped", "Scrapped"
    SHIPPED = "shipped", "Shipped"


class ConsumptionMethod(models.TextChoices):
    """How a genealogy link was recorded."""

    SCAN = "scan", "Scan (GS1 barcode)"
    BACKFLUSH = "backflush", "Backflush from the BOM"
    STATION = "station", "Station event"
    MANUAL = "manual", "Manual / API"


class IdempotencyKeyState(models.TextChoices):
    IN_FLIGHT = "in_flight", "In flight"
    COMPLETED = "completed", "Completed"


class SignatureMeaning(models.TextChoices):
    """What an electronic signature means (21 CFR Part 11 §11.50(a)(3))."""

    APPROVAL = "approval", "Approval"
    REVIEW = "review", "Review"
    RESPONSIBILITY = "responsibility", "Responsibility"
    AUTHORSHIP = "authorship", "Authorship"
