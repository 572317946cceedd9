"""Models of the quality app, one module per area, re-exported here."""

from quality.models.core import Characteristic, InspectionResult, Measurement

__all__ = ["Characteristic", "InspectionResult", "Measurement"]
