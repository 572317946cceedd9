"""The audit trail's hash chain: recompute, verify, read (issue 17, docs/operations.md).

PostgreSQL seals each audit event when its transaction commits (migration
``traceability/0004_audit_triggers_and_hash_chain``): ``chain_seq`` numbers the events 1, 2, 3
... in commit order, ``prev_hash`` is the previous event's ``hash`` and ``hash`` is SHA-256 of
the length-prefixed text of the previous hash and the row's columns. This module recomputes
the same digest in Python, independently of the database's function, so a verifier (and an
exported archive) can check the chain without trusting the database.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import connection

logger = logging.getLogger(__name__)

# The columns of a chain row, in the order the digest takes them (after ``prev_hash``).
CHAIN_COLUMNS = (
    "chain_seq",
    "id",
    "at",
    "actor_id",
    "actor_name",
    "content_type_id",
    "object_id",
    "object_repr",
    "action",
    "old_value",
    "new_value",
    "reason",
    "data",
)

# ``at`` as UTC text with microseconds and ``data`` as PostgreSQL's own jsonb text, exactly
# what the database's digest function hashes.
_ROWS_SQL = """
SELECT chain_seq, id,
       to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at,
       actor_id, actor_name, content_type_id, object_id, object_repr, action,
       old_value, new_value, reason, data::text AS data, prev_hash, hash
FROM traceability_auditevent
"""


def _field(value: Any) -> str:
    if value is None:
        return "~"
    text = str(value)
    return f"{len(text)}:{text}"


def timestamp_text(at: datetime) -> str:
    """An aware datetime as the chain writes it: UTC, microseconds, ``Z``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_digest(prev_hash: str, row: dict[str, Any]) -> str:
    """SHA-256 (hex) of ``prev_hash`` and the row's chain columns, as the database computes it.

    ``row["at"]`` is the UTC text of ``timestamp_text`` and ``row["data"]`` PostgreSQL's jsonb
    text (``data::text``); the other columns are their values (``None`` for NULL).
    """
    canonical = _field(prev_hash) + "".join(_field(row[name]) for name in CHAIN_COLUMNS)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    chain_seq: int | None
    event_id: int
    problem: str


@dataclass
class ChainReport:
    """What a verification found: rows checked, the range, the head hash, the first break."""

    checked: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    head_hash: str = ""
    unsealed: list[int] = field(default_factory=list)
    first_break: ChainBreak | None = None

    @property
    def is_intact(self) -> bool:
        return self.first_break is None and not self.unsealed


def chain_verify(
    rows: Iterable[dict[str, Any]], *, anchor_seq: int | None = None, anchor_hash: str = ""
) -> ChainReport:
    """Check rows given in ``chain_seq`` order; stop at the first broken link.

    Each row needs a ``hash`` that recomputes, a ``prev_hash`` equal to the previous row's
    ``hash`` and a ``chain_seq`` one above the previous one. The first row links to
    ``anchor_seq``/``anchor_hash`` when given (e.g. the last row of an archive), to the
    chain's start when its ``chain_seq`` is 1, and otherwise is trusted as the start of what
    is left after an archive purge (``first_seq`` says where the rows start).
    """
    report = ChainReport()
    previous_seq, previous_hash = anchor_seq, anchor_hash
    for row in rows:
        if report.first_seq is None:
            report.first_seq = row["chain_seq"]
            if anchor_seq is None:
                if row["chain_seq"] == 1:
                    previous_seq, previous_hash = 0, ""
                else:
                    previous_seq, previous_hash = row["chain_seq"] - 1, row["prev_hash"]
        problem = ""
        if row["chain_seq"] != previous_seq + 1:
            problem = (
                f"chain_seq {row['chain_seq']} follows {previous_seq}: "
                f"{'events are missing' if row['chain_seq'] > previous_seq + 1 else 'duplicate'}"
            )
        elif row["prev_hash"] != previous_hash:
            problem = "prev_hash is not the hash of the previous event"
        elif event_digest(row["prev_hash"], row) != row["hash"]:
            problem = "the event's content does not match its hash (edited)"
        if problem:
            report.first_break = ChainBreak(row["chain_seq"], row["id"], problem)
            return report
        report.checked += 1
        report.last_seq = row["chain_seq"]
        previous_seq, previous_hash = row["chain_seq"], row["hash"]
        report.head_hash = row["hash"]
    return report


def chain_rows(*, where: str = "", params: Iterable[Any] = (), using=connection) -> Iterator[dict]:
    """The sealed audit events in chain order, streamed (a server-side cursor in a transaction).

    ``where`` is a trusted SQL condition of our own code (never user input), with ``params``.
    """
    sql = f"{_ROWS_SQL} WHERE chain_seq IS NOT NULL {where} ORDER BY chain_seq"
    with using.chunked_cursor() as cursor:
        cursor.execute(sql, list(params))
        names = [column.name for column in cursor.description]
        while batch := cursor.fetchmany(2000):
            for values in batch:
                yield dict(zip(names, values, strict=True))


def unsealed_event_ids(*, using=connection) -> list[int]:
    """Committed events without a seal: only possible if the trigger was removed or disabled."""
    with using.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM traceability_auditevent WHERE chain_seq IS NULL ORDER BY id LIMIT 100"
        )
        return [row[0] for row in cursor.fetchall()]


def audit_chain_verify(*, using=connection) -> ChainReport:
    """Verify the whole audit chain in the database (PostgreSQL only)."""
    if using.vendor != "postgresql":
        raise NotImplementedError("The audit hash chain needs PostgreSQL.")
    report = chain_verify(chain_rows(using=using))
    report.unsealed = unsealed_event_ids(using=using)
    return report


def audit_chain_check() -> bool:
    """Verify the chain and log the outcome: ERROR (what monitoring alerts on) when broken.

    Returns whether the chain is intact; ``True`` on a database without the chain (SQLite).
    """
    if connection.vendor != "postgresql":
        return True
    report = audit_chain_verify()
    if report.first_break is not None:
        broken = report.first_break
        logger.error(
            "Audit chain BROKEN at chain_seq %s (event id %s): %s",
            broken.chain_seq,
            broken.event_id,
            broken.problem,
            extra={"audit_chain_seq": broken.chain_seq, "audit_event_id": broken.event_id},
        )
        return False
    if report.unsealed:
        logger.error(
            "Audit chain BROKEN: committed events without a seal (ids %s)", report.unsealed[:10]
        )
        return False
    logger.info(
        "Audit chain intact: %s events, head chain_seq %s hash %s",
        report.checked,
        report.last_seq,
        report.head_hash,
    )
    return True
