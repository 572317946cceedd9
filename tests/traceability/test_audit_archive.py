"""Audit retention (issue 17): archive with the chain's hashes, never a silent delete; the
owner-only purge of archived rows."""

from __future__ import annotations

import gzip
import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import ProgrammingError, connection, transaction

from traceability.models import AuditEvent
from traceability.services.audit import audit_event_record

START = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def events(db):
    """Six sealed events, one a day from START."""
    subject = get_user_model().objects.create_user("audited", password="not-used-password-1")
    made = [
        audit_event_record(
            actor=None,
            obj=subject,
            action=f"day {day}",
            reason="ünïcode reason",
            data={"day": day},
            at=START + timedelta(days=day),
        )
        for day in range(6)
    ]
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    return made


def _command(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
    except SystemExit as exit_:
        return int(exit_.code), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def _lines(path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as archive:
        return [json.loads(line) for line in archive]


def test_archive_exports_the_old_events_with_their_hashes_and_deletes_nothing(events, tmp_path):
    path = tmp_path / "audit-2026-01.jsonl.gz"
    code, out, _ = _command("audit_archive", "--before", "2026-01-04", "--to", str(path))
    assert code == 0
    assert "Archived 3 audit events (chain_seq 1..3" in out and "Nothing was deleted." in out
    header, *rows = _lines(path)
    assert (header["format"], header["events"], header["first_seq"], header["last_seq"]) == (
        "mes-audit-archive/1",
        3,
        1,
        3,
    )
    assert [row["action"] for row in rows] == ["day 0", "day 1", "day 2"]
    assert header["head_hash"] == rows[-1]["hash"] == AuditEvent.objects.get(pk=events[2].pk).hash
    assert rows[0]["at"] == "2026-01-01T08:00:00.000000Z"
    assert AuditEvent.objects.count() == 6
    code, out, _ = _command("audit_verify", "--archive", str(path))
    assert code == 0 and "intact: 3 events, chain_seq 1..3" in out
    with pytest.raises(CommandError, match="never overwritten"):
        call_command("audit_archive", "--before", "2026-01-04", "--to", str(path))


def test_an_edited_archive_fails_verification(events, tmp_path):
    path = tmp_path / "audit.jsonl.gz"
    call_command("audit_archive", "--before", "2026-01-05", "--to", str(path), stdout=io.StringIO())
    header, *rows = _lines(path)
    rows[1]["reason"] = "rewritten"
    with gzip.open(path, "wt", encoding="utf-8") as archive:
        for line in [header, *rows]:
            archive.write(json.dumps(line) + "\n")
    code, out, err = _command("audit_verify", "--archive", str(path))
    assert (code, out) == (1, "")
    assert f"BROKEN at chain_seq 2 (event id {events[1].pk}): the event's content" in err


def test_the_owner_purges_exactly_the_archived_events_and_the_rest_still_verifies(events, tmp_path):
    path = tmp_path / "audit.jsonl.gz"
    call_command("audit_archive", "--before", "2026-01-04", "--to", str(path), stdout=io.StringIO())
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL mes.audit_maintenance = off")  # the purge sets it itself
    code, out, _ = _command("audit_archive", "--purge", str(path))
    assert (code, out.strip()) == (0, f"Deleted 3 archived audit events held in {path}.")
    assert list(AuditEvent.objects.order_by("chain_seq").values_list("chain_seq", flat=True)) == [
        4,
        5,
        6,
    ]
    code, out, _ = _command("audit_verify")
    assert code == 0
    assert "3 events from chain_seq 4 (earlier events archived) to chain_seq 6" in out
    # The purge is not a bypass afterwards: the trigger still refuses the owner.
    with pytest.raises(ProgrammingError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(chain_seq=4).delete()
    with pytest.raises(CommandError, match="differ from"):
        call_command("audit_archive", "--purge", str(path))


def test_the_newest_event_is_never_purged(events, tmp_path):
    path = tmp_path / "all.jsonl.gz"
    call_command("audit_archive", "--before", "2027-01-01", "--to", str(path), stdout=io.StringIO())
    assert _lines(path)[0]["events"] == 6
    call_command("audit_archive", "--purge", str(path), stdout=io.StringIO())
    assert list(AuditEvent.objects.values_list("chain_seq", flat=True)) == [6]


def test_the_application_role_cannot_purge(events, tmp_path):
    path = tmp_path / "audit.jsonl.gz"
    call_command("audit_archive", "--before", "2026-01-04", "--to", str(path), stdout=io.StringIO())
    role = f"mes_app_test_{uuid.uuid4().hex[:10]}"
    call_command("db_app_role", role, stdout=io.StringIO())
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {role}")
    with pytest.raises(ProgrammingError, match="permission denied"), transaction.atomic():
        call_command("audit_archive", "--purge", str(path))
    with connection.cursor() as cursor:
        cursor.execute("RESET ROLE")
    assert AuditEvent.objects.count() == 6


def test_bad_arguments_are_clear_errors(db, tmp_path):
    with pytest.raises(CommandError, match="either --to FILE"):
        call_command("audit_archive")
    with pytest.raises(CommandError, match="give a date"):
        call_command("audit_archive", "--before", "last week", "--to", str(tmp_path / "a.gz"))
    with pytest.raises(CommandError, match="not an audit archive"):
        (tmp_path / "x.gz").write_bytes(gzip.compress(b'{"format": "other"}\n'))
        call_command("audit_verify", "--archive", str(tmp_path / "x.gz"))
