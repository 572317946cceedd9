from django.apps import AppConfig


class PlanningConfig(AppConfig):
    name = "planning"
    verbose_name = "Planning"

    def ready(self) -> None:
        # Registration only: the guardrail handlers of planning's actions (reroute, resequence,
        # dispatch override) and the hook through which machine health asks for a new plan.
        from planning.services.scheduling import scheduling_handlers_register

        scheduling_handlers_register()
