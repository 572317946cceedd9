from django.apps import AppConfig


class TraceabilityConfig(AppConfig):
    name = "traceability"
    verbose_name = "Traceability"

    def ready(self) -> None:
        from mes_site.idempotency import store_register
        from traceability.services.idempotency import IdempotencyKeyStore

        store_register(IdempotencyKeyStore())
