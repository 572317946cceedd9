"""Models of the quality app, one module per area, re-exported here."""

from quality.models.core import Characteristic, InspectionResult, Measurement
from quality.models.holds import QualityHold
from quality.models.inspections import InspectionPlan, LotInspection
from quality.models.ncr import Capa, CapaAction, Disposition, NonConformance
from quality.models.vision import VisionDefect, VisionResult

__all__ = [
    "Capa",
    "CapaAction",
    "Characteristic",
    "Disposition",
    "InspectionPlan",
    "InspectionResult",
    "LotInspection",
    "Measurement",
    "NonConformance",
    "QualityHold",
    "VisionDefect",
    "VisionResult",
]
from quality.models.spc import ControlChart, ControlLimitSet, RuleViolation, Subgroup

__all__ += ["ControlChart", "ControlLimitSet", "RuleViolation", "Subgroup"]
