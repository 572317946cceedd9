from django.apps import AppConfig


class MesSiteConfig(AppConfig):
    """The project package as an app: site-wide receivers that no domain app owns."""

    name = "mes_site"
    verbose_name = "MES site"

    def ready(self) -> None:
        from mes_site import session_timeout  # needs the auth app loaded (real-cycle reason)

        session_timeout.connect()
