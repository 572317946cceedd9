"""Audit retention: export to a verifiable archive, and the owner-only purge of archived rows.

Nothing here runs on a schedule: ``AUDIT_RETENTION_DAYS`` says how long events stay, an
operator archives (``manage.py audit_archive``) and, connected as the tables' owner, removes
what the archive holds (``manage.py audit_archive --purge``). The archive is gzip-compressed
JSON Lines: a header, then one line per event with the chain's columns in the exact text the
digest takes (``at`` as UTC text, ``data`` as PostgreSQL's jsonb text) and its hashes, so
``chain_verify`` re-checks it offline (``manage.py audit_verify --archive FILE``).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from mes_site.errors import Conflict, ValidationFailed
from traceability.services.audit_chain import (
    ChainReport,
    chain_rows,
    chain_verify,
    timestamp_text,
)

ARCHIVE_FORMAT = "mes-audit-archive/1"


@dataclass(frozen=True)
class ArchiveSummary:
    path: Path
    events: int
    first_seq: int | None
    last_seq: int | None
    head_hash: str


def _archive_end_seq(before: datetime) -> int | None:
    """The last chain_seq of the chain's prefix whose events are all older than ``before``.

    ``at`` is the application's clock and ``chain_seq`` the commit order, so they can
    disagree by a moment; the archive is always a contiguous prefix of the chain.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT min(chain_seq) FROM traceability_auditevent "
            "WHERE chain_seq IS NOT NULL AND at >= %s",
            [before],
        )
        first_kept = cursor.fetchone()[0]
        if first_kept is not None:
            return first_kept - 1
        cursor.execute("SELECT max(chain_seq) FROM traceability_auditevent")
        return cursor.fetchone()[0]


def audit_archive_export(*, before: datetime, path: Path) -> ArchiveSummary:
    """Write the events older than ``before`` (a chain prefix) to ``path``.

    Refuses a broken chain and an existing file; deletes nothing.
    """
    if connection.vendor != "postgresql":
        raise ValidationFailed("The audit archive needs PostgreSQL (the hash chain).")
    if path.exists():
        raise ValidationFailed(f"{path} exists; an archive is never overwritten.")
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:
            with connection.cursor() as cursor:
                # One snapshot for the bound and the rows.
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        end_seq = _archive_end_seq(before)
        rows = (
            list(chain_rows(where="AND chain_seq <= %s", params=[end_seq]))
            if end_seq is not None
            else []
        )
    report = chain_verify(rows)
    if report.first_break is not None:
        broken = report.first_break
        raise Conflict(
            f"The audit chain is broken at chain_seq {broken.chain_seq} ({broken.problem}); "
            "nothing was archived. Run audit_verify and investigate first."
        )
    header = {
        "format": ARCHIVE_FORMAT,
        "before": timestamp_text(before),
        "exported_at": timestamp_text(timezone.now()),
        "events": len(rows),
        "first_seq": report.first_seq,
        "last_seq": report.last_seq,
        "head_hash": report.head_hash,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with gzip.open(partial, "wt", encoding="utf-8") as archive:
        archive.write(json.dumps(header, ensure_ascii=False) + "\n")
        for row in rows:
            archive.write(json.dumps(row, ensure_ascii=False) + "\n")
    partial.rename(path)
    return ArchiveSummary(path, len(rows), report.first_seq, report.last_seq, report.head_hash)


def archive_read(path: Path) -> Iterator[dict[str, Any]]:
    """The archive's header, then its rows (streamed)."""
    with gzip.open(path, "rt", encoding="utf-8") as archive:
        try:
            header = json.loads(archive.readline())
        except (OSError, ValueError) as error:
            raise ValidationFailed(f"{path} is not an audit archive: {error}") from error
        if not isinstance(header, dict) or header.get("format") != ARCHIVE_FORMAT:
            raise ValidationFailed(f"{path} is not an audit archive ({ARCHIVE_FORMAT}).")
        yield header
        for line in archive:
            yield json.loads(line)


def archive_verify(path: Path) -> tuple[dict[str, Any], ChainReport]:
    """Re-check an archive's chain offline; the header must match what the rows say."""
    lines = archive_read(path)
    header = next(lines)
    report = chain_verify(lines)
    if report.first_break is None and (
        report.checked != header["events"]
        or report.last_seq != header["last_seq"]
        or report.head_hash != header["head_hash"]
    ):
        raise ValidationFailed(
            f"{path}: the header says {header['events']} events up to chain_seq "
            f"{header['last_seq']}, the rows hold {report.checked} up to {report.last_seq}."
        )
    return header, report


@transaction.atomic
def audit_archive_purge(*, path: Path) -> int:
    """Delete from the database exactly the events ``path`` archives. Owner only.

    The archive must verify, and every one of its events must still be in the database with
    the same hash. The newest event of the chain always stays (the next seal links to it).
    The trigger lets the delete through only for the tables' owner with
    ``mes.audit_maintenance`` set, which this function sets for its own transaction; the
    application's role has no DELETE privilege and gets "permission denied".
    """
    _, report = archive_verify(path)
    if report.first_break is not None:
        raise Conflict(f"{path} does not verify: {report.first_break.problem}; nothing deleted.")
    if not report.checked:
        return 0
    lines = archive_read(path)
    next(lines)  # the header
    archived = {row["chain_seq"]: row["hash"] for row in lines}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT chain_seq, hash FROM traceability_auditevent "
            "WHERE chain_seq BETWEEN %s AND %s FOR UPDATE",
            [report.first_seq, report.last_seq],
        )
        stored = dict(cursor.fetchall())
        if stored != archived:
            raise Conflict(
                f"The database's events {report.first_seq}..{report.last_seq} differ from "
                f"{path} (already purged, or edited); nothing deleted."
            )
        cursor.execute("SELECT max(chain_seq) FROM traceability_auditevent")
        newest = cursor.fetchone()[0]
        last = min(report.last_seq, newest - 1)
        cursor.execute(
            "SELECT coalesce(current_setting('mes.audit_maintenance', true), ''), "
            "set_config('mes.audit_maintenance', 'on', true)"
        )
        previous = cursor.fetchone()[0]
        cursor.execute(
            "DELETE FROM traceability_auditevent WHERE chain_seq BETWEEN %s AND %s",
            [report.first_seq, last],
        )
        deleted = cursor.rowcount
        # Back to what it was: the permission lasts for this delete, not the transaction.
        cursor.execute("SELECT set_config('mes.audit_maintenance', %s, true)", [previous])
    return deleted
