from django.apps import AppConfig


class ProductionConfig(AppConfig):
    name = "production"
    verbose_name = "Production"

    def ready(self) -> None:
        from autonomy.choices import ActionKind
        from autonomy.services.guardrails import action_handler_register
        from production.services.work_orders import (
            work_order_reprioritise_apply,
            work_order_reprioritise_revert,
        )

        action_handler_register(
            ActionKind.REPRIORITISE,
            apply=work_order_reprioritise_apply,
            revert=work_order_reprioritise_revert,
        )
