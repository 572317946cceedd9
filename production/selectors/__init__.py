"""Reads of the production app, one module per area.

``plant`` (scope, plant tree, work orders) is re-exported here; the other areas are imported
by their module path: ``calendars`` (equipment and shift calendars as OEE sees them),
``oee_elements`` (OEE elements from the database), ``oee_reports`` (KPIs, flags, six big
losses), ``oee_live`` (live OEE of the open shift), ``oee`` (current, window, work-order OEE,
snapshots), ``state_intervals``, ``losses``, ``alerts``; ``planning.selectors.scheduling``.
"""

from mes_site.scope import Scope, scope_filter, scope_get
from production.selectors.plant import (
    area_list,
    cell_list,
    downtime_reason_tree,
    equipment_list,
    line_list,
    operation_list,
    plant_tree,
    signal_list,
    site_list,
    site_whole_list,
    work_order_list,
)

__all__ = [
    "Scope",
    "area_list",
    "cell_list",
    "downtime_reason_tree",
    "equipment_list",
    "line_list",
    "operation_list",
    "plant_tree",
    "scope_filter",
    "scope_get",
    "signal_list",
    "site_list",
    "site_whole_list",
    "work_order_list",
]
