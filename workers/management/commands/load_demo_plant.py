from django.core.management.base import BaseCommand

from workers.demo_plant import DEMO_USERS, demo_plant_load


class Command(BaseCommand):
    help = "Create or refresh the demo plant (idempotent) and its demo users."

    def add_arguments(self, parser):
        parser.add_argument(
            "--print-logins", action="store_true", help="Only print the demo logins and exit."
        )

    def handle(self, *args, print_logins: bool = False, **options):
        if print_logins:
            for username, password in DEMO_USERS.items():
                self.stdout.write(f"{username:<12} {password}")
            return
        summary = demo_plant_load()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo plant ready: site {summary['site']}, lines {', '.join(summary['lines'])}, "
                f"{summary['equipment']} equipment, {len(summary['users'])} demo users."
            )
        )
