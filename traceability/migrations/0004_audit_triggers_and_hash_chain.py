"""Make the audit trail tamper-evident on PostgreSQL (issue 17).

- ``mes_audit_guard``: BEFORE INSERT/UPDATE/DELETE (per row) and BEFORE TRUNCATE (per
  statement) on the audit table and the electronic signatures. INSERT clears the seal
  columns (only the database writes them); UPDATE is refused, except the sealing of a row
  not sealed yet; DELETE and TRUNCATE are refused unless the table's OWNER has set
  ``mes.audit_maintenance = on`` in its session (the owner-only archive purge of
  docs/operations.md, and the test suite's flushes). The application's role has no UPDATE,
  DELETE, TRUNCATE privilege on these tables at all (``manage.py db_app_role``), so the
  setting gives it nothing.
- ``mes_audit_event_seal``: a deferred constraint trigger that runs when the inserting
  transaction commits. Under a transaction-scoped advisory lock (held only for the commit)
  it numbers the row ``chain_seq`` = previous + 1, stores the previous row's hash and
  ``hash = sha256(prev_hash, row)``. The canonical form is the length-prefixed text of each
  column; ``traceability.services.audit_chain`` recomputes it in Python. SECURITY DEFINER:
  it seals with the owner's rights, the application's role cannot update the table.
- Existing rows are sealed in ``id`` order.

The SQL is frozen here on purpose: a later change to the chain is a new migration.
SQLite (the no-``DATABASE_URL`` demo) gets neither trigger nor chain; ``audit_verify`` says so.
"""

from django.db import migrations

CHAIN_LOCK_KEY = 7_231_500_101  # pg_advisory_xact_lock key of the audit chain

INSTALL_SQL = f"""
CREATE OR REPLACE FUNCTION mes_audit_field(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN value IS NULL THEN '~' ELSE length(value)::text || ':' || value END
$$;

CREATE OR REPLACE FUNCTION mes_audit_event_digest(prev_hash text, event traceability_auditevent)
RETURNS text LANGUAGE sql STABLE AS $$
  SELECT encode(sha256(convert_to(
       mes_audit_field(prev_hash)
    || mes_audit_field(event.chain_seq::text)
    || mes_audit_field(event.id::text)
    || mes_audit_field(to_char(event.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
    || mes_audit_field(event.actor_id::text)
    || mes_audit_field(event.actor_name)
    || mes_audit_field(event.content_type_id::text)
    || mes_audit_field(event.object_id)
    || mes_audit_field(event.object_repr)
    || mes_audit_field(event.action)
    || mes_audit_field(event.old_value)
    || mes_audit_field(event.new_value)
    || mes_audit_field(event.reason)
    || mes_audit_field(event.data::text), 'UTF8')), 'hex')
$$;

CREATE OR REPLACE FUNCTION mes_audit_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF TG_TABLE_NAME = 'traceability_auditevent' THEN
      NEW.chain_seq := NULL;
      NEW.prev_hash := '';
      NEW.hash := '';
    END IF;
    RETURN NEW;
  ELSIF TG_OP = 'UPDATE' THEN
    IF TG_TABLE_NAME = 'traceability_auditevent' THEN
      IF OLD.chain_seq IS NULL
         AND (to_jsonb(NEW) - 'chain_seq' - 'prev_hash' - 'hash')
           = (to_jsonb(OLD) - 'chain_seq' - 'prev_hash' - 'hash') THEN
        RETURN NEW;  -- the sealing of a row inserted by this very transaction
      END IF;
    END IF;
  ELSIF coalesce(current_setting('mes.audit_maintenance', true), '') = 'on'
        AND pg_has_role(current_user,
                        (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER') THEN
    IF TG_LEVEL = 'ROW' THEN
      RETURN OLD;
    END IF;
    RETURN NULL;
  END IF;
  RAISE EXCEPTION '% on % refused: the audit trail is append-only', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'See docs/operations.md, "Audit trail: archive and owner-only purge".';
END
$$;

CREATE OR REPLACE FUNCTION mes_audit_event_seal_row(event_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  event traceability_auditevent;
  last_seq bigint;
  last_hash text;
BEGIN
  PERFORM pg_advisory_xact_lock({CHAIN_LOCK_KEY});
  SELECT * INTO event FROM traceability_auditevent WHERE id = event_id;
  IF NOT FOUND OR event.chain_seq IS NOT NULL THEN
    RETURN;
  END IF;
  SELECT chain_seq, hash INTO last_seq, last_hash FROM traceability_auditevent
    WHERE chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1;
  event.chain_seq := coalesce(last_seq, 0) + 1;
  event.prev_hash := coalesce(last_hash, '');
  event.hash := mes_audit_event_digest(event.prev_hash, event);
  UPDATE traceability_auditevent
    SET chain_seq = event.chain_seq, prev_hash = event.prev_hash, hash = event.hash
    WHERE id = event.id;
END
$$;

CREATE OR REPLACE FUNCTION mes_audit_event_seal() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
  PERFORM mes_audit_event_seal_row(NEW.id);
  RETURN NULL;
END
$$;

CREATE TRIGGER audit_event_guard_row
  BEFORE INSERT OR UPDATE OR DELETE ON traceability_auditevent
  FOR EACH ROW EXECUTE FUNCTION mes_audit_guard();
CREATE TRIGGER audit_event_guard_truncate
  BEFORE TRUNCATE ON traceability_auditevent
  FOR EACH STATEMENT EXECUTE FUNCTION mes_audit_guard();
CREATE CONSTRAINT TRIGGER audit_event_seal
  AFTER INSERT ON traceability_auditevent
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION mes_audit_event_seal();

CREATE TRIGGER electronic_signature_guard_row
  BEFORE UPDATE OR DELETE ON traceability_electronicsignature
  FOR EACH ROW EXECUTE FUNCTION mes_audit_guard();
CREATE TRIGGER electronic_signature_guard_truncate
  BEFORE TRUNCATE ON traceability_electronicsignature
  FOR EACH STATEMENT EXECUTE FUNCTION mes_audit_guard();

REVOKE ALL ON FUNCTION mes_audit_event_seal_row(bigint) FROM PUBLIC;

DO $$
DECLARE
  event_id bigint;
BEGIN
  FOR event_id IN SELECT id FROM traceability_auditevent WHERE chain_seq IS NULL ORDER BY id
  LOOP
    PERFORM mes_audit_event_seal_row(event_id);
  END LOOP;
END
$$;
"""

REMOVE_SQL = """
DROP TRIGGER IF EXISTS electronic_signature_guard_truncate ON traceability_electronicsignature;
DROP TRIGGER IF EXISTS electronic_signature_guard_row ON traceability_electronicsignature;
DROP TRIGGER IF EXISTS audit_event_seal ON traceability_auditevent;
DROP TRIGGER IF EXISTS audit_event_guard_truncate ON traceability_auditevent;
DROP TRIGGER IF EXISTS audit_event_guard_row ON traceability_auditevent;
DROP FUNCTION IF EXISTS mes_audit_event_seal();
DROP FUNCTION IF EXISTS mes_audit_event_seal_row(bigint);
DROP FUNCTION IF EXISTS mes_audit_guard();
DROP FUNCTION IF EXISTS mes_audit_event_digest(text, traceability_auditevent);
DROP FUNCTION IF EXISTS mes_audit_field(text);
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INSTALL_SQL, params=None)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REMOVE_SQL, params=None)


class Migration(migrations.Migration):
    dependencies = [("traceability", "0003_audit_chain_columns_signatures")]

    operations = [migrations.RunPython(install, remove, elidable=False)]
