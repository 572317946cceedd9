"""Reads of the quality app, one module per area, re-exported here."""

from quality.selectors.core import characteristic_list, inspection_result_list, measurement_list

__all__ = ["characteristic_list", "inspection_result_list", "measurement_list"]

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
