from django.db import models


class AutonomyMode(models.TextChoices):
    OFF = "off", "Off (propose only)"
    SUPERVISED = "supervised", "Supervised (low risk applied, rest queued)"
    FULL = "full", "Full"


class ActionRisk(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class ActionKind(models.TextChoices):
    REROUTE = "reroute", "Reroute operation"
    RESEQUENCE = "resequence", "Resequence"
    MAINTENANCE_ORDER = "maintenance_order", "Maintenance work order"
    PART_RESERVATION = "part_reservation", "Spare part reservation"
    PROCUREMENT_REQUEST = "procurement_request", "Procurement request"
    REPRIORITISE = "reprioritise", "Order re-prioritisation"
    DISPATCH_OVERRIDE = "dispatch_override", "Dispatch override"
    LOT_HOLD = "lot_hold", "Lot hold (quality)"
    QUALITY_ALERT = "quality_alert", "Quality alert (SPC)"
    SPC_LOT_HOLD = "spc_lot_hold", "Hold the lots since the last good point (SPC)"
    OPERATION_STOP = "operation_stop", "Stop an operation"
    RECALL_HOLD = "recall_hold", "Recall hold (lots in our hands)"


class ActionStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed (autonomy off)"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    APPLIED = "applied", "Applied"
    REJECTED = "rejected", "Rejected"
    REVERTED = "reverted", "Reverted"
    FAILED = "failed", "Failed"
