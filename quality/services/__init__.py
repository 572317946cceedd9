"""Writes of the quality app, one module per area, re-exported here."""

from quality.services.core import inspection_result_record, measurement_record

__all__ = ["inspection_result_record", "measurement_record"]
