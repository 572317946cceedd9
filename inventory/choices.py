from django.db import models


class ItemKind(models.TextChoices):
    RAW = "raw", "Raw material"
    COMPONENT = "component", "Component"
    PRODUCT = "product", "Finished product"
    SPARE = "spare", "Spare part"


class MovementKind(models.TextChoices):
    RECEIPT = "receipt", "Receipt"
    ISSUE = "issue", "Issue"
    TRANSFER = "transfer", "Transfer"
    ADJUSTMENT = "adjustment", "Adjustment"
    CONSUMPTION = "consumption", "Consumption by production"
    PRODUCTION = "production", "Output of production"


class ReservationStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    RELEASED = "released", "Released"
    CONSUMED = "consumed", "Consumed (issued)"


class ProcurementStatus(models.TextChoices):
    PENDING = "pending", "Pending (in the outbox)"
    SENT = "sent", "Sent (fetched by the ERP)"
    ACKNOWLEDGED = "acknowledged", "Acknowledged by the ERP"
    CANCELLED = "cancelled", "Cancelled"
