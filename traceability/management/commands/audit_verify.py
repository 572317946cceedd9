"""``manage.py audit_verify``: check the audit trail's hash chain; exit 1 at the first break."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from mes_site.errors import DomainError
from traceability.services.audit_archive import archive_verify
from traceability.services.audit_chain import audit_chain_verify


class Command(BaseCommand):
    help = (
        "Verify the audit trail's hash chain (PostgreSQL): every event's hash recomputes and "
        "links to the previous one. Prints the first broken link and exits 1 when broken."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--archive",
            type=Path,
            metavar="FILE",
            help="Verify an archive written by audit_archive instead of the database.",
        )

    def handle(self, *args, archive: Path | None = None, **options):
        if archive is not None:
            return self._verify_archive(archive)
        if connection.vendor != "postgresql":
            raise CommandError(
                "The audit hash chain needs PostgreSQL; this database is "
                f"{connection.vendor}. Set DATABASE_URL to a PostgreSQL database."
            )
        report = audit_chain_verify()
        if report.first_break is not None:
            broken = report.first_break
            self.stderr.write(
                f"Audit chain BROKEN at chain_seq {broken.chain_seq} (event id "
                f"{broken.event_id}): {broken.problem}. {report.checked} events before it verify."
            )
            raise SystemExit(1)
        if report.unsealed:
            self.stderr.write(
                f"Audit chain BROKEN: {len(report.unsealed)} committed event(s) carry no seal "
                f"(ids {', '.join(map(str, report.unsealed[:10]))}); is the sealing trigger "
                "installed and enabled?"
            )
            raise SystemExit(1)
        if report.checked == 0:
            self.stdout.write("Audit chain: no events yet.")
            return
        start = (
            "from the start"
            if report.first_seq == 1
            else f"from chain_seq {report.first_seq} (earlier events archived)"
        )
        self.stdout.write(
            f"Audit chain intact: {report.checked} events {start} to chain_seq "
            f"{report.last_seq}; head hash {report.head_hash}"
        )

    def _verify_archive(self, path: Path) -> None:
        try:
            _, report = archive_verify(path)
        except (DomainError, FileNotFoundError) as error:
            raise CommandError(getattr(error, "message", str(error))) from error
        if report.first_break is not None:
            broken = report.first_break
            self.stderr.write(
                f"Archive {path} BROKEN at chain_seq {broken.chain_seq} (event id "
                f"{broken.event_id}): {broken.problem}."
            )
            raise SystemExit(1)
        self.stdout.write(
            f"Archive {path} intact: {report.checked} events, chain_seq {report.first_seq}.."
            f"{report.last_seq}; head hash {report.head_hash}"
        )
