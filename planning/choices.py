from django.db import models


class CustomerOrderState(models.TextChoices):
    PENDING = "pending", "Pending dispatch"
    BACKLOG = "backlog", "Backlog (no capacity)"
    DISPATCHED = "dispatched", "Dispatched to a line"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class LineOrderStep(models.TextChoices):
    ORDER_START = "order_start", "Order start"
    WAREHOUSE_LOCATE = "warehouse_locate", "Warehouse locates parts"
    CLASSIFICATION = "classification", "Parts classification"
    DISTRIBUTE_PALLET = "distribute_pallet", "Distribute pallet"
    MACHINING = "machining", "Machining"
    QUALITY_CONTROL = "quality_control", "Quality control"
    STORAGE = "storage", "Storage"
    UPDATE_STOCK = "update_stock", "Update stock"
    COMPLETE = "complete", "Complete"


class ScheduleRunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class ScheduleTrigger(models.TextChoices):
    ON_DEMAND = "on_demand", "On demand"
    HEALTH_CHANGE = "health_change", "Machine health changed"
    WORK_ORDER_CHANGE = "work_order_change", "Work order new or changed"
    EQUIPMENT_STATE = "equipment_state", "Machine went down or came back"
    PERIODIC = "periodic", "Periodic"
