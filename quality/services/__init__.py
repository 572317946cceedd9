"""Writes of the quality app, one module per area, re-exported here."""

from quality.services.core import measurement_record
from quality.services.holds import hold_propose
from quality.services.inspections import (
    inspection_result_record,
    lot_inspection_record,
    sampling_plan_get,
)
from quality.services.vision import vision_result_record, vision_result_review

__all__ = [
    "hold_propose",
    "inspection_result_record",
    "lot_inspection_record",
    "measurement_record",
    "sampling_plan_get",
    "vision_result_record",
    "vision_result_review",
]

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
