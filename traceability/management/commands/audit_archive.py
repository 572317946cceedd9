"""``manage.py audit_archive``: export old audit events to a verifiable archive; with
``--purge``, remove (as the tables' owner) exactly the events an archive holds."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from mes_site.errors import DomainError
from traceability.services.audit_archive import audit_archive_export, audit_archive_purge


def _before(value: str | None) -> datetime:
    if value is None:
        return timezone.now() - timedelta(days=settings.AUDIT_RETENTION_DAYS)
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"--before {value!r}: give a date (2026-01-31) or an ISO datetime.")
        moment = datetime.combine(day, time.min)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


class Command(BaseCommand):
    help = (
        "Export the audit events older than --before (default: AUDIT_RETENTION_DAYS ago) to a "
        "gzip JSON Lines archive with their chain hashes (--to FILE). Deletes nothing; "
        "--purge FILE, run as the tables' owner, removes exactly the events FILE archives."
    )

    def add_arguments(self, parser):
        parser.add_argument("--before", help="UTC date or datetime; events before it.")
        parser.add_argument("--to", type=Path, help="The archive to write (.jsonl.gz).")
        parser.add_argument(
            "--purge",
            type=Path,
            metavar="FILE",
            help="Owner only: delete the events FILE archives (it must verify and match).",
        )

    def handle(self, *args, before, to, purge, **options):
        if (to is None) == (purge is None):
            raise CommandError("Give either --to FILE (export) or --purge FILE.")
        try:
            if purge is not None:
                deleted = audit_archive_purge(path=purge)
                self.stdout.write(f"Deleted {deleted} archived audit events held in {purge}.")
                return
            summary = audit_archive_export(before=_before(before), path=to)
        except DomainError as error:
            raise CommandError(error.message) from error
        except FileNotFoundError as error:
            raise CommandError(str(error)) from error
        if not summary.events:
            self.stdout.write(f"No audit events to archive; wrote an empty archive {to}.")
            return
        self.stdout.write(
            f"Archived {summary.events} audit events (chain_seq {summary.first_seq}.."
            f"{summary.last_seq}, head hash {summary.head_hash}) to {summary.path}. "
            "Nothing was deleted."
        )
