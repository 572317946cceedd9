"""``manage.py db_app_role ROLE``: create or update the application's database role.

Run it as the owner of the tables (the role migrations run as), after every ``migrate``. The
application's role may read and write every table except the audit trail and the electronic
signatures, where it may only SELECT and INSERT: no UPDATE, DELETE, TRUNCATE, REFERENCES or
TRIGGER, and as it owns no table it cannot ALTER or DROP them, nor disable their triggers.
docs/operations.md "Database roles" explains the split.
"""

from __future__ import annotations

import os

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from psycopg import sql

APPEND_ONLY_TABLES = ("traceability_auditevent", "traceability_electronicsignature")


def app_role_statements(*, role: str, database: str, schema: str, password: str | None):
    """The SQL (psycopg ``Composed``) that creates or updates ``role``; idempotent."""
    ident = sql.Identifier(role)
    schema_ident = sql.Identifier(schema)
    append_only = sql.SQL(", ").join(sql.Identifier(schema, table) for table in APPEND_ONLY_TABLES)
    login = sql.SQL("LOGIN")
    if password:
        login = sql.SQL("LOGIN PASSWORD {}").format(sql.Literal(password))
    return [
        sql.SQL("ALTER ROLE {} NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS {}").format(
            ident, login
        ),
        sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
            sql.Identifier(database), ident
        ),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema_ident, ident),
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}").format(
            schema_ident, ident
        ),
        sql.SQL("GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {} TO {}").format(
            schema_ident, ident
        ),
        sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {} FROM {}").format(
            append_only, ident
        ),
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT, INSERT, UPDATE, DELETE "
            "ON TABLES TO {}"
        ).format(schema_ident, ident),
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {}"
        ).format(schema_ident, ident),
    ]


class Command(BaseCommand):
    help = (
        "Create or update the application's PostgreSQL role: INSERT/SELECT only on the audit "
        "trail and signatures, read/write elsewhere. Run as the tables' owner after migrate."
    )

    def add_arguments(self, parser):
        parser.add_argument("role", help="Name of the application's role, e.g. mes_app.")
        parser.add_argument(
            "--password-env",
            metavar="VARIABLE",
            help="Environment variable holding the role's login password (never on the "
            "command line).",
        )
        parser.add_argument(
            "--print-sql", action="store_true", help="Print the SQL instead of running it."
        )

    def handle(self, *args, role: str, password_env: str | None, print_sql: bool, **options):
        if connection.vendor != "postgresql":
            raise CommandError("Database roles need PostgreSQL; set DATABASE_URL.")
        password = None
        if password_env:
            password = os.environ.get(password_env)
            if not password:
                raise CommandError(f"The environment variable {password_env} is empty or unset.")
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_database(), current_schema(), current_user")
            database, schema, owner = cursor.fetchone()
        if role == owner:
            raise CommandError(
                f"{role!r} is the role this command runs as (the owner); the application "
                "needs a role of its own."
            )
        statements = app_role_statements(
            role=role, database=database, schema=schema, password=password
        )
        raw = connection.connection
        if print_sql:
            self.stdout.write(f"CREATE ROLE {sql.Identifier(role).as_string(raw)};")
            for statement in statements:
                self.stdout.write(statement.as_string(raw) + ";")
            return
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
            if cursor.fetchone() is None:
                create = sql.SQL("CREATE ROLE {}").format(sql.Identifier(role))
                cursor.execute(create.as_string(raw))
            for statement in statements:
                cursor.execute(statement.as_string(raw))
        self.stdout.write(
            f"Role {role} may read and write {database}.{schema}, and only SELECT and INSERT on "
            f"{', '.join(APPEND_ONLY_TABLES)}."
        )
