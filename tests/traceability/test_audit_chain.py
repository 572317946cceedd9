"""The tamper-evident audit trail on PostgreSQL: the trigger, the hash chain, audit_verify, the
application's role (issue 17). Rows are sealed when their transaction commits; inside a test's
transaction ``SET CONSTRAINTS ALL IMMEDIATE`` runs the deferred sealing trigger now."""

from __future__ import annotations

import io
import threading
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import ProgrammingError, connection, connections, transaction

from traceability.models import AuditEvent, ElectronicSignature
from traceability.services.audit import audit_event_record, electronic_signature_record
from traceability.services.audit_chain import audit_chain_verify, chain_rows, event_digest


def _seal_now() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def _record_events(subject, count: int, prefix: str = "step") -> list[AuditEvent]:
    return [
        audit_event_record(
            actor=None,
            obj=subject,
            action=f"{prefix} {index}",
            old_value="a",
            new_value="b",
            reason="why ✓ «unicode» 1:2",
            data={"index": index, "nested": {"b": [1, 2.5, None], "a": "x"}},
        )
        for index in range(count)
    ]


def _refused(statement: str) -> str:
    """Run ``statement`` in a savepoint; return the database's error message (it must fail)."""
    with (
        pytest.raises(ProgrammingError) as refused,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    return str(refused.value)


@pytest.fixture
def subject(db):
    return get_user_model().objects.create_user("audited", password="not-used-password-1")


@pytest.fixture
def maintenance_off(db):
    """The suite's connections set mes.audit_maintenance (for flushes); production's do not."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL mes.audit_maintenance = off")


def test_trigger_refuses_update_delete_and_truncate_even_for_the_owner(subject, maintenance_off):
    _record_events(subject, 1)
    electronic_signature_record(signer=subject, obj=subject, meaning="review", reason="checked")
    _seal_now()
    for statement in (
        "UPDATE traceability_auditevent SET reason = 'rewritten'",
        "DELETE FROM traceability_auditevent",
        "TRUNCATE traceability_auditevent",
        "TRUNCATE traceability_auditevent, auth_user CASCADE",
        "UPDATE traceability_electronicsignature SET reason = 'rewritten'",
        "DELETE FROM traceability_electronicsignature",
        "TRUNCATE traceability_electronicsignature CASCADE",
    ):
        assert "refused: the audit trail is append-only" in _refused(statement), statement
    assert AuditEvent.objects.filter(reason="rewritten").count() == 0
    assert AuditEvent.objects.count() == 2  # the event and the signature's "sign" event
    assert ElectronicSignature.objects.filter(reason="checked").count() == 1


def test_the_orm_guard_stays_and_querysets_hit_the_trigger(subject, maintenance_off):
    event = _record_events(subject, 1)[0]
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
    with pytest.raises(ProgrammingError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(reason="rewritten")
    with pytest.raises(ProgrammingError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()


def test_a_user_with_audit_events_cannot_be_deleted(subject):
    _record_events(subject, 1)
    actor_event = audit_event_record(actor=subject, obj=subject, action="login")
    with pytest.raises(Exception, match="protected"):
        subject.delete()
    assert AuditEvent.objects.get(pk=actor_event.pk).actor_id == subject.pk


def test_events_are_sealed_in_a_chain_the_python_verifier_recomputes(subject):
    events = _record_events(subject, 3)
    assert AuditEvent.objects.filter(pk__in=[e.pk for e in events], hash="").count() == 3
    _seal_now()
    rows = list(chain_rows())
    assert [row["id"] for row in rows] == [event.pk for event in events]
    assert [row["chain_seq"] for row in rows] == [1, 2, 3]
    assert rows[0]["prev_hash"] == ""
    assert [row["prev_hash"] for row in rows[1:]] == [row["hash"] for row in rows[:-1]]
    assert [event_digest(row["prev_hash"], row) for row in rows] == [row["hash"] for row in rows]
    report = audit_chain_verify()
    assert (report.is_intact, report.checked, report.head_hash) == (True, 3, rows[-1]["hash"])


def test_an_inserted_forged_seal_is_replaced_by_the_database(subject):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO traceability_auditevent (at, actor_name, content_type_id, object_id, "
            "object_repr, action, old_value, new_value, reason, data, chain_seq, prev_hash, hash) "
            "SELECT now(), 'x', id, '1', 'x', 'forged', '', '', '', '{}', 99, 'p', 'h' "
            "FROM django_content_type LIMIT 1"
        )
    _seal_now()
    event = AuditEvent.objects.get(action="forged")
    assert (event.chain_seq, event.prev_hash) == (1, "")
    assert event.hash == event_digest("", next(chain_rows()))


def _edit_as_owner_with_the_trigger_disabled(statement: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE traceability_auditevent DISABLE TRIGGER audit_event_guard_row")
        cursor.execute(statement)
        cursor.execute("ALTER TABLE traceability_auditevent ENABLE TRIGGER audit_event_guard_row")


def _verify() -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("audit_verify", stdout=out, stderr=err)
    except SystemExit as exit_:
        return int(exit_.code), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def test_audit_verify_passes_an_intact_chain(subject):
    _record_events(subject, 4)
    _seal_now()
    code, out, err = _verify()
    assert (code, err) == (0, "")
    assert "Audit chain intact: 4 events from the start to chain_seq 4" in out


def test_audit_verify_reports_the_first_edited_row(subject):
    events = _record_events(subject, 5)
    _seal_now()
    _edit_as_owner_with_the_trigger_disabled(
        f"UPDATE traceability_auditevent SET reason = 'rewritten' WHERE id IN "
        f"({events[2].pk}, {events[3].pk})"
    )
    code, out, err = _verify()
    assert code == 1
    assert out == ""
    assert (
        f"Audit chain BROKEN at chain_seq 3 (event id {events[2].pk}): the event's content does "
        "not match its hash (edited). 2 events before it verify." in err
    )


def test_audit_verify_reports_a_removed_row_and_a_relinked_hash(subject):
    events = _record_events(subject, 4)
    _seal_now()
    _edit_as_owner_with_the_trigger_disabled(
        f"DELETE FROM traceability_auditevent WHERE id = {events[1].pk}"
    )
    code, _, err = _verify()
    assert code == 1
    assert f"chain_seq 3 (event id {events[2].pk}): chain_seq 3 follows 1" in err


def test_audit_verify_reports_a_committed_event_without_a_seal(subject):
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE traceability_auditevent DISABLE TRIGGER audit_event_seal")
    unsealed = _record_events(subject, 1)[0]
    _seal_now()
    code, _, err = _verify()
    assert code == 1
    assert f"1 committed event(s) carry no seal (ids {unsealed.pk})" in err


def test_the_beat_task_logs_an_error_when_the_chain_is_broken(subject, caplog):
    from traceability.tasks import audit_chain_check

    events = _record_events(subject, 2)
    _seal_now()
    assert audit_chain_check.apply().get() is True
    _edit_as_owner_with_the_trigger_disabled(
        f"UPDATE traceability_auditevent SET action = 'x' WHERE id = {events[0].pk}"
    )
    caplog.clear()
    assert audit_chain_check.apply().get() is False
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors == [
        f"Audit chain BROKEN at chain_seq 1 (event id {events[0].pk}): the event's content "
        "does not match its hash (edited)"
    ]


@pytest.mark.django_db(transaction=True)
def test_concurrent_committed_inserts_form_one_total_chain():
    subject = get_user_model().objects.create_user("audited", password="not-used-password-1")
    threads_count, transactions_per_thread, events_per_transaction = 6, 8, 3
    barrier = threading.Barrier(threads_count)
    failures: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            barrier.wait()
            for batch in range(transactions_per_thread):
                with transaction.atomic():
                    _record_events(subject, events_per_transaction, prefix=f"t{number}b{batch}")
        except BaseException as error:  # reported by the main thread
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    total = threads_count * transactions_per_thread * events_per_transaction
    rows = list(chain_rows())
    assert [row["chain_seq"] for row in rows] == list(range(1, total + 1))
    # A transaction's events are consecutive in the chain: sealed together at its commit.
    for start in range(0, total, events_per_transaction):
        prefixes = {row["action"].rsplit(" ", 1)[0] for row in rows[start : start + 3]}
        assert len(prefixes) == 1
    report = audit_chain_verify()
    assert (report.is_intact, report.checked) == (True, total)


@pytest.fixture
def app_role(db):
    """The application's role made by ``db_app_role``; created in the test's transaction, so
    it disappears with its rollback."""
    role = f"mes_app_test_{uuid.uuid4().hex[:10]}"
    call_command("db_app_role", role, stdout=io.StringIO())
    return role


def test_the_application_role_can_insert_and_read_but_not_alter_the_audit_trail(subject, app_role):
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {app_role}")
        cursor.execute("SET mes.audit_maintenance = on")  # a GUC anyone can set: no bypass
    event = _record_events(subject, 1)[0]
    _seal_now()  # the sealing runs with the owner's rights (SECURITY DEFINER)
    assert AuditEvent.objects.get(pk=event.pk).chain_seq == 1
    for statement in (
        "UPDATE traceability_auditevent SET reason = 'x'",
        "DELETE FROM traceability_auditevent",
        "TRUNCATE traceability_auditevent",
        "DROP TABLE traceability_auditevent",
        "ALTER TABLE traceability_auditevent DISABLE TRIGGER audit_event_guard_row",
        "UPDATE traceability_electronicsignature SET reason = 'x'",
        "DELETE FROM traceability_electronicsignature",
        "TRUNCATE traceability_electronicsignature CASCADE",
        "DROP TABLE traceability_electronicsignature",
        "DROP FUNCTION mes_audit_guard() CASCADE",
        "SELECT mes_audit_event_seal_row(1)",
    ):
        message = _refused(statement)
        assert "permission denied" in message or "must be owner" in message, statement
    # Other tables stay writable for the application.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE auth_user SET first_name = 'Ada' WHERE id = %s", [subject.pk])
    assert AuditEvent.objects.count() == 1
    with connection.cursor() as cursor:
        cursor.execute("RESET mes.audit_maintenance")
        cursor.execute("RESET ROLE")


def test_db_app_role_refuses_the_owner_itself(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        owner = cursor.fetchone()[0]
    with pytest.raises(Exception, match="the application needs a role of its own"):
        call_command("db_app_role", owner)
