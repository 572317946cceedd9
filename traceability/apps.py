from django.apps import AppConfig


class TraceabilityConfig(AppConfig):
    name = "traceability"
    verbose_name = "Traceability"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_login_failed

        from mes_site.idempotency import store_register
        from traceability.receivers import login_failed_audit
        from traceability.services.idempotency import IdempotencyKeyStore

        store_register(IdempotencyKeyStore())
        user_login_failed.connect(login_failed_audit, dispatch_uid="traceability.login_failed")
