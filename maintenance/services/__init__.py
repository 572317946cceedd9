"""Writes of the maintenance app, one module per area.

``work_orders`` (work order lifecycle, preventive plans, failure events) and ``health``
(baseline, snapshots, anomaly episodes) are re-exported here; ``closed_loop`` (the actions on
an anomaly), ``actions`` (their guardrail handlers), ``diagnostics`` (UNS, live screens,
scheduler), ``raw_windows`` and ``rul_models`` (fleet RUL models: machine classes, training,
the registry, their use in the refresh) are imported by their module path.
"""

from maintenance.services.health import (
    RefreshOutcome,
    health_baseline_relearn,
    health_refresh,
    health_refresh_all,
)
from maintenance.services.raw_windows import raw_window_ingest
from maintenance.services.work_orders import (
    failure_event_record,
    failure_event_repair,
    maintenance_work_order_cancel,
    maintenance_work_order_complete,
    maintenance_work_order_create,
    maintenance_work_order_schedule,
    maintenance_work_order_start,
    plan_usage,
    preventive_plan_check,
    preventive_plan_create,
    preventive_plans_check,
)

__all__ = [
    "RefreshOutcome",
    "failure_event_record",
    "failure_event_repair",
    "health_baseline_relearn",
    "health_refresh",
    "health_refresh_all",
    "maintenance_work_order_cancel",
    "maintenance_work_order_complete",
    "maintenance_work_order_create",
    "maintenance_work_order_schedule",
    "maintenance_work_order_start",
    "plan_usage",
    "preventive_plan_check",
    "preventive_plan_create",
    "preventive_plans_check",
    "raw_window_ingest",
]
