from django.apps import AppConfig


class LiveConfig(AppConfig):
    name = "live"
    verbose_name = "Live screens"

    def ready(self) -> None:
        # The live screens implement the interface that services publish through.
        from live.broadcast import broadcast
        from mes_site.publish import publisher_register

        publisher_register(broadcast)
