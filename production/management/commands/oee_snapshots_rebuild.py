"""Recompute and store the closed OEE periods of a range (backfill or repair)."""

from datetime import datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from production.services.oee_snapshots import oee_snapshots_rebuild


def _aware(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as error:
        raise CommandError(f"{text!r} is not an ISO 8601 date and time.") from error
    if value.tzinfo is None:
        raise CommandError(f"{text!r} needs a time zone, e.g. 2026-06-16T00:00:00+00:00.")
    return value


class Command(BaseCommand):
    help = (
        "Recompute the closed OEE snapshots (hours, shifts, days, work orders) of every site "
        "in a range; idempotent. Default: the last 7 days."
    )

    def add_arguments(self, parser):
        parser.add_argument("--start", help="ISO 8601 with a zone; default: 7 days ago.")
        parser.add_argument("--end", help="ISO 8601 with a zone; default: now.")
        parser.add_argument("--site", type=int, action="append", help="Site id (repeatable).")

    def handle(self, *args, start=None, end=None, site=None, **options):
        now = timezone.now()
        range_end = _aware(end) if end else now
        range_start = _aware(start) if start else range_end - timedelta(days=7)
        if range_end <= range_start:
            raise CommandError("--end must be after --start.")
        result = oee_snapshots_rebuild(start=range_start, end=range_end, site_ids=site, now=now)
        self.stdout.write(
            self.style.SUCCESS(
                f"{result.periods_written} periods, {result.snapshots_written} snapshots written."
            )
        )
