from django.apps import AppConfig


class WorkersConfig(AppConfig):
    name = "workers"
    verbose_name = "Workers"

    def ready(self) -> None:
        # Cache invalidation only (no business logic): a changed Signal, Equipment or Sparkplug
        # mapping makes every ingest process reload its signal contracts. Imported here: the
        # receivers import models, which only load once the app registry is ready.
        from workers import receivers

        receivers.connect()
