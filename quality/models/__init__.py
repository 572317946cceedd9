"""Models of the quality app, one module per area, re-exported here."""

from quality.models.core import Characteristic, InspectionResult, Measurement
from quality.models.spc import ControlChart, ControlLimitSet, RuleViolation, Subgroup

__all__ = ["Characteristic", "InspectionResult", "Measurement"]
__all__ += ["ControlChart", "ControlLimitSet", "RuleViolation", "Subgroup"]
