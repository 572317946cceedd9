"""Writes of the quality app, one module per area, re-exported here."""

from quality.services.core import inspection_result_record, measurement_record

__all__ = ["inspection_result_record", "measurement_record"]

from quality.services.spc import (
    control_chart_configure,
    control_limits_compute,
    measurements_record,
    subgroup_record,
)

__all__ += [
    "control_chart_configure",
    "control_limits_compute",
    "measurements_record",
    "subgroup_record",
]
