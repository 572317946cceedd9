from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "quality"
    verbose_name = "Quality"

    def ready(self) -> None:
        # Holds are guardrail actions; releasing a held lot asks quality for its disposition.
        from quality.services.holds import handlers_register, lot_release_guard
        from traceability.hooks import lot_release_check

        handlers_register()
        lot_release_check.register(lot_release_guard)
        # The SPC reaction plan's actions are guardrail actions; their effects live here.
        from quality.services.spc_reactions import handlers_register

        handlers_register()
