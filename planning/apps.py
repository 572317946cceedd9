from django.apps import AppConfig


class PlanningConfig(AppConfig):
    name = "planning"
    verbose_name = "Planning"

    def ready(self) -> None:
        # Registration only: the guardrail handlers of planning's actions (reroute, resequence,
        # dispatch override, recall hold) and the hook through which machine health asks for a
        # new plan.
        from maintenance.hooks import health_changed
        from planning.services.actions import scheduling_handlers_register
        from planning.services.line_orders import line_order_events_ingest
        from planning.services.recall import recall_handlers_register
        from planning.services.schedule_runs import health_changed_receive
        from workers.hooks import station_events_received

        scheduling_handlers_register()
        recall_handlers_register()
        health_changed.register(health_changed_receive)
        station_events_received.register(line_order_events_ingest)
