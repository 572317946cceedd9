#!/usr/bin/env bash
# Restore a dump made by scripts/backup.sh into a NEW database and verify its audit chain.
#
#   scripts/restore.sh DUMP_FILE TARGET_DATABASE_URL
#
# The target database must not exist: it is created (through the server's `postgres`
# database, with the URL's credentials) and filled with pg_restore. Never restore over the
# live database; restore beside it, check, then switch DATABASE_URL (docs/operations.md).
# Tables, triggers and functions keep the owners and grants the dump holds; run as the owner
# role (or a superuser). Ends with `manage.py audit_verify` against the restored database and
# fails when the chain does not verify. PYTHON defaults to .venv/bin/python.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: scripts/restore.sh DUMP_FILE TARGET_DATABASE_URL" >&2
  exit 2
fi
dump="$1"
url="$2"
if [ ! -s "$dump" ]; then
  echo "restore.sh: $dump does not exist or is empty." >&2
  exit 2
fi
case "$url" in
  postgres://* | postgresql://*) ;;
  *) echo "restore.sh: $url is not a PostgreSQL URL." >&2; exit 2 ;;
esac
base="${url%%\?*}"
name="${base##*/}"
if [ -z "$name" ] || [ "$name" = "$base" ]; then
  echo "restore.sh: $url names no database." >&2
  exit 2
fi
if ! [[ "$name" =~ ^[A-Za-z0-9_]+$ ]]; then
  echo "restore.sh: use a database name of letters, digits and _ (got $name)." >&2
  exit 2
fi
admin_url="${base%/*}/postgres"
exists="$(psql "$admin_url" -XAtc "SELECT 1 FROM pg_database WHERE datname = '$name'")"
if [ "$exists" = 1 ]; then
  echo "restore.sh: the database $name exists; restore into a new one." >&2
  exit 2
fi
psql "$admin_url" -Xq -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$name\""
pg_restore --dbname="$url" --exit-on-error --single-transaction "$dump"
echo "restored $dump into $name"

python="${PYTHON:-.venv/bin/python}"
DATABASE_URL="$url" "$python" manage.py audit_verify
