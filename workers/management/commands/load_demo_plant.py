from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from workers.demo_plant import DEMO_USERS, demo_plant_load


class Command(BaseCommand):
    help = (
        "Create or refresh the demo plant (idempotent) and its demo users. The users have "
        "public passwords: without DJANGO_DEBUG=true it only runs with --force-demo."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--print-logins", action="store_true", help="Only print the demo logins and exit."
        )
        parser.add_argument(
            "--force-demo",
            action="store_true",
            help="Load the demo although DJANGO_DEBUG is false (a demo machine, never a plant).",
        )

    def handle(self, *args, print_logins: bool = False, force_demo: bool = False, **options):
        if print_logins:
            for username, password in DEMO_USERS.items():
                self.stdout.write(f"{username:<12} {password}")
            return
        if not settings.DEBUG and not force_demo:
            raise CommandError(
                "load_demo_plant creates users with public passwords and DJANGO_DEBUG is false: "
                "this looks like a production database. Pass --force-demo to load the demo anyway."
            )
        summary = demo_plant_load()
        for username in summary["users_kept"]:
            self.stderr.write(
                self.style.WARNING(
                    f"Kept the existing user {username!r} as it is: the demo did not create it "
                    "(its demo login does not work)."
                )
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo plant ready: site {summary['site']}, lines {', '.join(summary['lines'])}, "
                f"{summary['equipment']} equipment, {len(summary['users'])} demo users."
            )
        )
