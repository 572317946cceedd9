from django.db import models


class MaintenanceKind(models.TextChoices):
    CORRECTIVE = "corrective", "Corrective"
    PREVENTIVE = "preventive", "Preventive"
    PREDICTIVE = "predictive", "Predictive"
    CALIBRATION = "calibration", "Calibration"


class MaintenanceState(models.TextChoices):
    REQUESTED = "requested", "Requested"
    SCHEDULED = "scheduled", "Scheduled"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


class MaintenancePriority(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class BaselineStatus(models.TextChoices):
    LEARNING = "learning", "Learning (collecting healthy windows)"
    CURRENT = "current", "Current"
    RETIRED = "retired", "Retired"


class HealthState(models.TextChoices):
    """Whether a health snapshot holds an assessment or says why it cannot."""

    ASSESSED = "assessed", "Assessed"
    NOT_ENOUGH_DATA = "not_enough_data", "Not enough data"


class RulState(models.TextChoices):
    """Mirror of ``maintenance.algorithms.degradation.RulState``."""

    ESTIMATED = "estimated", "Estimated"
    NOT_ENOUGH_DATA = "not_enough_data", "Not enough data"
    NOT_DEGRADING = "not_degrading", "Not degrading"
    PAST_THRESHOLD = "past_threshold", "Past the failure threshold"


class EpisodeState(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class PlanTrigger(models.TextChoices):
    CALENDAR = "calendar", "Calendar (days)"
    RUNTIME_HOURS = "runtime_hours", "Runtime hours (producing time)"
    CYCLES = "cycles", "Cycles (counter)"


class RulModel(models.TextChoices):
    """Which model produced a snapshot's RUL."""

    TREND = "trend", "Trend extrapolation"
    FLEET = "fleet", "Fleet model"


class FleetRulStatus(models.TextChoices):
    """What the machine class's fleet RUL model answered (mirror of ``FleetRulState`` + load)."""

    ESTIMATED = "estimated", "Estimated"
    NOT_ENOUGH_HISTORY = "not_enough_history", "Not enough history"
    NO_SIMILAR_PEERS = "no_similar_peers", "No similar peers"
    MODEL_OUT_OF_DATE = "model_out_of_date", "Model out of date — retrain"


class SensorVerdict(models.TextChoices):
    """Mirror of the suspect states of ``maintenance.algorithms.drift.SensorState``."""

    DRIFTING = "drifting", "Drifting"
    AMBIGUOUS = "ambiguous", "Disagrees with its pair (which one is not known)"
    FLAT_LINED = "flat_lined", "Flat-lined"
    JUMPED = "jumped", "Jumped (10 σ step)"


class SuspicionStatus(models.TextChoices):
    OPEN = "open", "Open (sensor suspect)"
    CLEARED = "cleared", "Cleared"


class PairModel(models.TextChoices):
    """The physical model a redundant pair may use as a witness."""

    NONE = "", "None"
    SPINDLE_THERMAL = "spindle_thermal", "Spindle temperature from power and speed"
