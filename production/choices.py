from django.db import models


class SignalDataType(models.TextChoices):
    NUMBER = "number", "Number"
    BOOLEAN = "boolean", "Boolean"
    STRING = "string", "String"


class IsoTimeElement(models.TextChoices):
    """ISO 22400-2 time elements a downtime reason is booked to."""

    ADET = "ADET", "ADET – actual unit delay time (breakdowns, minor stops)"
    ADOT = "ADOT", "ADOT – actual unit down time (no order, starved, blocked)"
    AUST = "AUST", "AUST – actual unit setup time"
    PDOT = "PDOT", "PDOT – planned down time"


class WorkOrderState(models.TextChoices):
    PLANNED = "planned", "Planned"
    RELEASED = "released", "Released"
    IN_PROGRESS = "in_progress", "In progress"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class OperationState(models.TextChoices):
    PENDING = "pending", "Pending"
    IN_PROGRESS = "in_progress", "In progress"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class WorkOrderSource(models.TextChoices):
    PLANNER = "planner", "Planner"
    ERP = "erp", "ERP"


class EquipmentState(models.TextChoices):
    PRODUCING = "producing", "Producing"
    SETUP = "setup", "Setup"
    DOWN = "down", "Down"
    IDLE = "idle", "Idle (no order)"
    STARVED = "starved", "Starved"
    BLOCKED = "blocked", "Blocked"
    PLANNED_STOP = "planned_stop", "Planned stop"
    UNKNOWN = "unknown", "Unknown"


class StateSource(models.TextChoices):
    EVENT = "event", "Equipment event"
    OPERATOR = "operator", "Operator entry"


class PlannedDowntimeKind(models.TextChoices):
    BREAK = "break", "Break"
    MAINTENANCE = "maintenance", "Planned maintenance"
    NO_PRODUCTION = "no_production", "No production planned"
    OTHER = "other", "Other"


class OeeScope(models.TextChoices):
    EQUIPMENT = "equipment", "Equipment"
    LINE = "line", "Line"
    AREA = "area", "Area"
    SITE = "site", "Site"


class OeePeriod(models.TextChoices):
    HOUR = "hour", "Hour"
    SHIFT = "shift", "Shift"
    DAY = "day", "Day"
    WORK_ORDER = "work_order", "Work order"


class AlertSeverity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class AlertState(models.TextChoices):
    ACTIVE = "active", "Active"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    CLEARED = "cleared", "Cleared"


class AlertMetric(models.TextChoices):
    OEE = "oee", "OEE"
    SIGNAL = "signal", "Signal value"


class Comparison(models.TextChoices):
    ABOVE = "above", "Above"
    BELOW = "below", "Below"
