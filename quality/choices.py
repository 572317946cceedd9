from django.db import models


class InspectionSource(models.TextChoices):
    MANUAL = "manual", "Manual"
    VISION = "vision", "Vision system"
    GAUGE = "gauge", "Gauge"


class ControlChartType(models.TextChoices):
    """The chart types of quality.spc.ChartType."""

    XBAR_R = "xbar_r", "X̄–R (mean and range)"
    XBAR_S = "xbar_s", "X̄–S (mean and standard deviation)"
    I_MR = "i_mr", "I–MR (individuals and moving range)"
    P = "p", "p (fraction defective)"
    NP = "np", "np (number defective)"
    C = "c", "c (defects)"
    U = "u", "u (defects per unit)"


class SpcReaction(models.TextChoices):
    """What a run-rule violation proposes through the autonomy guardrails."""

    NONE = "none", "Record only"
    ALERT = "alert", "Alert"
    HOLD = "hold", "Hold the lots since the last good point"
    STOP = "stop", "Stop the operation"


class SubgroupSource(models.TextChoices):
    API = "api", "REST API"
    HMI = "hmi", "Operator HMI"
    UNS = "uns", "Unified Namespace"
