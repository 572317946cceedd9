"""Reads of the quality app, one module per area, re-exported here."""

from quality.selectors.core import characteristic_list, inspection_result_list, measurement_list
from quality.selectors.inspections import (
    inspection_plan_list,
    lot_inspection_list,
    quality_hold_list,
    quality_hold_open_list,
)
from quality.selectors.ncr import capa_list, non_conformance_list, non_conformance_open_list
from quality.selectors.vision import defect_pareto, vision_result_list, vision_review_queue

__all__ = [
    "capa_list",
    "characteristic_list",
    "defect_pareto",
    "inspection_plan_list",
    "inspection_result_list",
    "lot_inspection_list",
    "measurement_list",
    "non_conformance_list",
    "non_conformance_open_list",
    "quality_hold_list",
    "quality_hold_open_list",
    "vision_result_list",
    "vision_review_queue",
]

from quality.selectors.spc import (
    chart_capability,
    chart_points_list,
    chart_status_list,
    control_chart_list,
    limit_set_list,
    rule_violation_list,
    subgroup_list,
)

__all__ += [
    "chart_capability",
    "chart_points_list",
    "chart_status_list",
    "control_chart_list",
    "limit_set_list",
    "rule_violation_list",
    "subgroup_list",
]
