"""Models of the quality app, one module per area, re-exported here."""

from quality.models.core import Characteristic, InspectionResult, Measurement
from quality.models.holds import QualityHold
from quality.models.inspections import InspectionPlan, LotInspection

__all__ = [
    "Characteristic",
    "InspectionPlan",
    "InspectionResult",
    "LotInspection",
    "Measurement",
    "QualityHold",
]
