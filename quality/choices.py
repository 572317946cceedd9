from django.db import models


class InspectionSource(models.TextChoices):
    MANUAL = "manual", "Manual"
    VISION = "vision", "Vision system"
    GAUGE = "gauge", "Gauge"


class SamplingMethod(models.TextChoices):
    EVERY_PART = "every_part", "Every part (100 %)"
    EVERY_NTH = "every_nth", "Every n-th part"
    ISO_2859 = "iso_2859", "Per lot, ISO 2859-1 normal inspection"
    FIRST_ARTICLE = "first_article", "First article"


class InspectionLevel(models.TextChoices):
    S1 = "S-1", "S-1"
    S2 = "S-2", "S-2"
    S3 = "S-3", "S-3"
    S4 = "S-4", "S-4"
    I = "I", "General I"  # noqa: E741 (the level's name in ISO 2859-1)
    II = "II", "General II"
    III = "III", "General III"


class HoldSource(models.TextChoices):
    INSPECTION = "inspection", "Failed inspection"
    LOT_INSPECTION = "lot_inspection", "Rejected lot (sampling)"
    VISION = "vision", "Vision defect"
    NON_CONFORMANCE = "non_conformance", "Non-conformance containment"
    VISION_REVIEW = "vision_review", "Vision defect confirmed by a reviewer"


class HoldStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed (waiting for the guardrails)"
    ACTIVE = "active", "Active (lot on hold)"
    DISPOSITIONED = "dispositioned", "Released by a disposition"
    REVERTED = "reverted", "Reverted (proposal undone)"


class VisionReviewStatus(models.TextChoices):
    NOT_NEEDED = "not_needed", "Not needed (pass or confident defect)"
    PENDING = "pending", "Waiting for a human review"
    ACCEPTED = "accepted", "Defect confirmed by a reviewer"
    REJECTED = "rejected", "False call, rejected by a reviewer"


class NonConformanceStatus(models.TextChoices):
    OPEN = "open", "Open"
    CONTAINED = "contained", "Contained (lots held)"
    DISPOSITIONED = "dispositioned", "Dispositioned (signed)"
    CLOSED = "closed", "Closed"


class DispositionDecision(models.TextChoices):
    USE_AS_IS = "use_as_is", "Use as is"
    REWORK = "rework", "Rework"
    SCRAP = "scrap", "Scrap"
    RETURN_TO_SUPPLIER = "return_to_supplier", "Return to supplier"


class RootCauseMethod(models.TextChoices):
    FIVE_WHYS = "five_whys", "5 whys"
    EIGHT_D = "eight_d", "8D"


class CapaStatus(models.TextChoices):
    OPEN = "open", "Open (root cause and actions)"
    VERIFYING = "verifying", "Actions done, effectiveness check due"
    CLOSED = "closed", "Closed (effective)"


class CapaActionKind(models.TextChoices):
    CORRECTIVE = "corrective", "Corrective"
    PREVENTIVE = "preventive", "Preventive"


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
