"""Reads of the planning app, one module per sub-area: ``schedule_runs``, ``scheduling_input``
(the scheduler's input) with ``machine_health``, ``gantt`` and ``dispatch``."""
