from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "quality"
    verbose_name = "Quality"

    def ready(self) -> None:
        # The SPC reaction plan's actions are guardrail actions; their effects live here.
        from quality.services.spc_reactions import handlers_register

        handlers_register()
