#!/usr/bin/env bash
# Back up the MES database: one pg_dump in custom format (compressed, restorable table by table
# with pg_restore). Redis is not backed up: it holds only the Celery broker and the Channels
# layer (docs/operations.md "What a backup holds").
#
#   scripts/backup.sh [DATABASE_URL] [DUMP_FILE]
#
# DATABASE_URL defaults to the environment's; run it as the tables' owner (or a role that can
# read every table). DUMP_FILE defaults to var/backups/mes-<UTC time>.dump. The dump is
# written to DUMP_FILE.partial and renamed when pg_dump succeeded, so a file with the final
# name is always complete. Prints the dump's path on the last line.
set -euo pipefail

url="${1:-${DATABASE_URL:-}}"
if [ -z "$url" ]; then
  echo "backup.sh: give the database URL (or set DATABASE_URL), e.g." \
    "postgres://mes_owner@db.example:5432/mes" >&2
  exit 2
fi
case "$url" in
  postgres://* | postgresql://*) ;;
  *) echo "backup.sh: $url is not a PostgreSQL URL; only PostgreSQL is backed up." >&2; exit 2 ;;
esac
dump="${2:-var/backups/mes-$(date -u +%Y%m%dT%H%M%SZ).dump}"
if [ -e "$dump" ]; then
  echo "backup.sh: $dump exists; a backup is never overwritten." >&2
  exit 2
fi
mkdir -p "$(dirname "$dump")"
umask 077  # the dump holds every user's password hash and the whole audit trail
pg_dump --dbname="$url" --format=custom --compress=6 --file="$dump.partial"
mv "$dump.partial" "$dump"
echo "$dump"
