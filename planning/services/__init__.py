"""Writes of the planning app, one module per sub-area: ``schedule_runs`` (requests, execution,
recovery, the periodic check) with ``plan_stability``, ``plan_store`` and
``plan_explanations``; ``dispatch`` (customer orders, online and batch dispatch, overrides);
``line_orders`` (station events); ``actions`` (the guardrail handlers)."""
