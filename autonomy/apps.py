from django.apps import AppConfig


class AutonomyConfig(AppConfig):
    """Guardrails below every domain app: they register their action handlers here."""

    name = "autonomy"
    verbose_name = "Autonomy"
