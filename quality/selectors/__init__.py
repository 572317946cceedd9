"""Reads of the quality app, one module per area, re-exported here."""

from quality.selectors.core import characteristic_list, inspection_result_list, measurement_list

__all__ = ["characteristic_list", "inspection_result_list", "measurement_list"]
