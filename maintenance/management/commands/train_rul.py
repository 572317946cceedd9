"""``manage.py train_rul <machine class>…``: train the fleet RUL model from stored history."""

from __future__ import annotations

from datetime import datetime

from django.core.management.base import BaseCommand, CommandError

from maintenance.algorithms.fleet_rul import FleetRulSettings
from maintenance.conf import setting
from maintenance.models import MachineClass
from maintenance.services.rul_models import rul_model_train
from mes_site.errors import DomainError


class Command(BaseCommand):
    help = (
        "Train the fleet RUL model of each named machine class (all classes when none is named) "
        "from its members' run-to-failure and run-to-maintenance histories, store it as a new "
        "version and put it in use. Prints the cross-validated RMSE and p10–p90 coverage. "
        "Reproducible: the same history and options give the same model."
    )

    def add_arguments(self, parser):
        parser.add_argument("machine_classes", nargs="*", metavar="CLASS")
        parser.add_argument(
            "--until",
            type=datetime.fromisoformat,
            help="Use runs that ended up to this ISO 8601 time (default: now).",
        )
        parser.add_argument(
            "--cap-h",
            type=float,
            help="RUL cap in hours (default MAINTENANCE_FLEET_RUL_CAP_H).",
        )
        parser.add_argument("--step-h", type=float, help="Grid step in hours (default 1).")
        parser.add_argument("--seed", type=int, default=FleetRulSettings.seed)

    def handle(self, *args, machine_classes, until, cap_h, step_h, seed, **options):
        if until is not None and until.tzinfo is None:
            raise CommandError("--until needs a time zone, e.g. 2026-12-01T00:00:00+00:00")
        codes = machine_classes or list(MachineClass.objects.values_list("code", flat=True))
        if not codes:
            raise CommandError("No machine class exists: assign equipment to a class first.")
        settings = FleetRulSettings(
            cap_h=cap_h or float(setting("MAINTENANCE_FLEET_RUL_CAP_H")),
            step_h=step_h or float(setting("MAINTENANCE_FLEET_RUL_STEP_H")),
            seed=seed,
        )
        failed = []
        for code in codes:
            try:
                version = rul_model_train(machine_class_code=code, until=until, settings=settings)
            except DomainError as error:
                self.stderr.write(f"{code}: {error.message}")
                failed.append(code)
                continue
            metrics = version.metrics
            self.stdout.write(
                f"{code}: fleet RUL v{version.version} in use — {version.run_count} runs, "
                f"{version.cut_point_count} cut points; cross-validated RMSE "
                f"{metrics['rmse_h']:.1f} h, p10–p90 coverage {metrics['coverage']:.0%} "
                f"(nominal {metrics['nominal_coverage']:.0%})"
            )
        if failed:
            raise CommandError(f"not trained: {', '.join(failed)}")
