from django.db import models


class EventType(models.TextChoices):
    """What the MES tells an ERP through webhooks (docs/api.md "Webhooks")."""

    WORK_ORDER_RELEASED = "work_order.released", "Work order released"
    WORK_ORDER_COMPLETED = "work_order.completed", "Work order completed"
    LOT_ON_HOLD = "lot.on_hold", "Lot put on hold"
    QUALITY_DISPOSITION = "quality.disposition", "Quality disposition of a held lot"
    MAINTENANCE_WORK_ORDER_CREATED = (
        "maintenance_work_order.created",
        "Maintenance work order created",
    )
    MAINTENANCE_WORK_ORDER_CHANGED = (
        "maintenance_work_order.changed",
        "Maintenance work order changed state",
    )
    PROCUREMENT_REQUEST_CREATED = "procurement_request.created", "Procurement request created"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Failed, retrying"
    DELIVERED = "delivered", "Delivered"
    PARKED = "parked", "Parked (retries exhausted)"


# Deliveries the sender still has to bring to the receiver, in event order per subscription.
OPEN_DELIVERY_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)
