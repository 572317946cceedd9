from django.apps import AppConfig


class MaintenanceConfig(AppConfig):
    name = "maintenance"
    verbose_name = "Maintenance"

    def ready(self) -> None:
        # The closed loop's automatic steps are guardrail actions; their effects live here.
        from maintenance.services.actions import handlers_register
        from maintenance.tasks import health_refresh_schedule
        from workers.hooks import vibration_features_stored

        handlers_register()
        vibration_features_stored.register(health_refresh_schedule)
