"""Writes of the production app, one module per area.

``work_orders`` (lifecycle of work orders and operations) is re-exported here; the other
areas are imported by their module path. Monitoring, from the bottom up: ``ingest_contract``
(the events the bridge hands over), ``live_payloads``, ``alerts``, ``oee_publish`` (live OEE
broadcast), ``state_intervals`` (state events → intervals), ``operator_entries`` (classify a
stop, enter a state), ``equipment_events`` (the ingest service), ``oee_snapshots``. Elsewhere:
``planning.services.scheduling`` (schedule runs, dispatch, customer orders) and
``autonomy.services.guardrails`` (proposed actions, autonomy).
"""

from production.services.work_orders import (
    operation_complete,
    operation_pause,
    operation_report_quantity,
    operation_resume,
    operation_start,
    work_order_cancel,
    work_order_complete,
    work_order_create,
    work_order_pause,
    work_order_release,
    work_order_resume,
    work_order_start,
)

__all__ = [
    "operation_complete",
    "operation_pause",
    "operation_report_quantity",
    "operation_resume",
    "operation_start",
    "work_order_cancel",
    "work_order_complete",
    "work_order_create",
    "work_order_pause",
    "work_order_release",
    "work_order_resume",
    "work_order_start",
]
