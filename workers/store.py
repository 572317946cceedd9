"""The telemetry store's hot path and housekeeping: bulk idempotent writes of readings with
their per-minute rollups, day partitions, retention, and the Redis current-value cache.

PostgreSQL: normally no row of a batch exists yet, so the rows are COPYed (binary) straight
into the partitioned ``workers_reading`` and their per-minute aggregates upserted into
``workers_readingrollup``. When any row already exists (a redelivery) that COPY fails inside a
savepoint; the batch is then COPYed into a session temporary staging table and moved with
``INSERT … ON CONFLICT DO NOTHING RETURNING``, folding exactly the rows it inserted — so a
redelivered batch changes neither the readings nor the rollups. Other databases
(SQLite): the same semantics row by row. No ORM object is built per reading.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import redis
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction

logger = logging.getLogger(__name__)

# (signal_id, ts (aware UTC), value (float | None), text_value (str | None), quality)
ReadingRow = tuple[int, datetime, float | None, str | None, int]

READING_TABLE = "workers_reading"
ROLLUP_TABLE = "workers_readingrollup"
_PARTITION_NAME = re.compile(r"^workers_reading_p(\d{8})$")

_STAGING_DDL = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS ingest_staging ("
    "signal_id bigint NOT NULL, ts timestamptz NOT NULL, value double precision, "
    "text_value text, quality smallint NOT NULL) ON COMMIT DELETE ROWS"
)
_STAGING_COPY = (
    "COPY ingest_staging (signal_id, ts, value, text_value, quality) FROM STDIN (FORMAT BINARY)"
)
_STAGING_TYPES = ["int8", "timestamptz", "float8", "text", "int2"]
# One statement: insert new rows, fold exactly those into the rollups (in key order, so two
# workers updating the same rollup rows never deadlock), return how many were inserted.
_MOVE_SQL = """
WITH inserted AS (
    INSERT INTO workers_reading (signal_id, ts, value, text_value, quality)
    SELECT signal_id, ts, value, text_value, quality FROM ingest_staging
    ON CONFLICT (signal_id, ts) DO NOTHING
    RETURNING signal_id, ts, value
), rolled AS (
    INSERT INTO workers_readingrollup AS r
        (signal_id, bucket, min_value, max_value, sum_value, count)
    SELECT signal_id, date_trunc('minute', ts), min(value), max(value), sum(value), count(*)
    FROM inserted WHERE value IS NOT NULL
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (signal_id, bucket) DO UPDATE SET
        min_value = LEAST(r.min_value, EXCLUDED.min_value),
        max_value = GREATEST(r.max_value, EXCLUDED.max_value),
        sum_value = r.sum_value + EXCLUDED.sum_value,
        count = r.count + EXCLUDED.count
    RETURNING 1
)
SELECT count(*) FROM inserted
"""
# The fast path when no row of the batch exists yet (the normal case): COPY straight into the
# partitioned table (no staging copy, no ON CONFLICT), and the rollups aggregated in Python and
# upserted in one statement. A duplicate makes the COPY fail; the savepoint around it sends the
# batch down the staging + _MOVE_SQL path instead.
_DIRECT_COPY = (
    "COPY workers_reading (signal_id, ts, value, text_value, quality) FROM STDIN (FORMAT BINARY)"
)
_ROLLUP_UPSERT_ARRAYS = """
INSERT INTO workers_readingrollup AS r
    (signal_id, bucket, min_value, max_value, sum_value, count)
SELECT * FROM unnest(
    %s::bigint[], %s::timestamptz[], %s::float8[], %s::float8[], %s::float8[], %s::integer[]
) ORDER BY 1, 2
ON CONFLICT (signal_id, bucket) DO UPDATE SET
    min_value = LEAST(r.min_value, EXCLUDED.min_value),
    max_value = GREATEST(r.max_value, EXCLUDED.max_value),
    sum_value = r.sum_value + EXCLUDED.sum_value,
    count = r.count + EXCLUDED.count
"""
_ROLLUP_UPSERT_GENERIC = """
INSERT INTO workers_readingrollup (signal_id, bucket, min_value, max_value, sum_value, count)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (signal_id, bucket) DO UPDATE SET
    min_value = min(workers_readingrollup.min_value, excluded.min_value),
    max_value = max(workers_readingrollup.max_value, excluded.max_value),
    sum_value = workers_readingrollup.sum_value + excluded.sum_value,
    count = workers_readingrollup.count + excluded.count
"""

_known_partition_days: set[date] = set()
_partition_lock = threading.Lock()


# --- readings ----------------------------------------------------------------------------------


def readings_write(rows: Sequence[ReadingRow]) -> int:
    """Store ``rows`` idempotently and fold the newly inserted ones into the rollups.

    Must run inside ``transaction.atomic()``; partitions for the rows' days must exist
    (``partitions_ensure``). Duplicates (already stored, or twice in ``rows``) are skipped.
    Returns the number of rows inserted."""
    if not rows:
        return 0
    if not connection.in_atomic_block:
        raise RuntimeError("readings_write must run inside transaction.atomic()")
    if connection.vendor == "postgresql":
        return _write_postgresql(rows)
    return _write_generic(rows)


def _write_postgresql(rows: Sequence[ReadingRow]) -> int:
    try:
        # A savepoint: a duplicate undoes only the fast path.
        with transaction.atomic(), connection.cursor() as cursor:
            with cursor.cursor.copy(_DIRECT_COPY) as copy:
                copy.set_types(_STAGING_TYPES)
                write_row = copy.write_row
                for row in rows:
                    write_row(row)
            _rollups_upsert(cursor, _rollups_of(rows))
        return len(rows)
    except (IntegrityError, psycopg.IntegrityError):  # the COPY raises psycopg's own
        pass
    with connection.cursor() as cursor:
        # Every time (a cheap catalog lookup): DDL is transactional, so a table created in a
        # transaction that rolled back is gone again.
        cursor.execute(_STAGING_DDL)
        with cursor.cursor.copy(_STAGING_COPY) as copy:
            copy.set_types(_STAGING_TYPES)
            write_row = copy.write_row
            for row in rows:
                write_row(row)
        cursor.execute(_MOVE_SQL)
        return int(cursor.fetchone()[0])


def _rollups_of(rows: Sequence[ReadingRow]) -> dict[tuple[int, int], list[float]]:
    """(signal_id, epoch minute) → [min, max, sum, count] of the numeric rows."""
    aggregates: dict[tuple[int, int], list[float]] = {}
    for signal_id, ts, value, _text, _quality in rows:
        if value is None:
            continue
        key = (signal_id, int(ts.timestamp() // 60))
        aggregate = aggregates.get(key)
        if aggregate is None:
            aggregates[key] = [value, value, value, 1]
        else:
            if value < aggregate[0]:
                aggregate[0] = value
            elif value > aggregate[1]:
                aggregate[1] = value
            aggregate[2] += value
            aggregate[3] += 1
    return aggregates


def _rollups_upsert(cursor, aggregates: dict[tuple[int, int], list[float]]) -> None:
    if not aggregates:
        return
    keys = list(aggregates)
    values = [aggregates[key] for key in keys]
    cursor.execute(
        _ROLLUP_UPSERT_ARRAYS,
        [
            [signal_id for signal_id, _minute in keys],
            [datetime.fromtimestamp(minute * 60, UTC) for _signal_id, minute in keys],
            [aggregate[0] for aggregate in values],
            [aggregate[1] for aggregate in values],
            [aggregate[2] for aggregate in values],
            [int(aggregate[3]) for aggregate in values],
        ],
    )


def _write_generic(rows: Sequence[ReadingRow]) -> int:
    adapt = connection.ops.adapt_datetimefield_value
    rollups: dict[tuple[int, datetime], list[float]] = {}
    inserted = 0
    with connection.cursor() as cursor:
        for signal_id, ts, value, text_value, quality in rows:
            cursor.execute(
                f"INSERT INTO {READING_TABLE} (signal_id, ts, value, text_value, quality) "  # noqa: S608
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (signal_id, ts) DO NOTHING",
                [signal_id, adapt(ts), value, text_value, quality],
            )
            if cursor.rowcount != 1:
                continue
            inserted += 1
            if value is None:
                continue
            bucket = ts.replace(second=0, microsecond=0)
            aggregate = rollups.get((signal_id, bucket))
            if aggregate is None:
                rollups[(signal_id, bucket)] = [value, value, value, 1]
            else:
                aggregate[0] = min(aggregate[0], value)
                aggregate[1] = max(aggregate[1], value)
                aggregate[2] += value
                aggregate[3] += 1
        for (signal_id, bucket), (low, high, total, count) in sorted(rollups.items()):
            cursor.execute(
                _ROLLUP_UPSERT_GENERIC, [signal_id, adapt(bucket), low, high, total, int(count)]
            )
    return inserted


# --- partitions and retention ------------------------------------------------------------------


def partition_name(day: date) -> str:
    return f"{READING_TABLE}_p{day:%Y%m%d}"


def partitions_list() -> list[date]:
    """Days that have a partition (PostgreSQL; empty elsewhere)."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT child.relname FROM pg_inherits "
            "JOIN pg_class parent ON parent.oid = pg_inherits.inhparent "
            "JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
            "WHERE parent.relname = %s",
            [READING_TABLE],
        )
        names = [name for (name,) in cursor.fetchall()]
    days = []
    for name in names:
        match = _PARTITION_NAME.match(name)
        if match:
            days.append(datetime.strptime(match.group(1), "%Y%m%d").date())
    return sorted(days)


def partitions_ensure(days: Iterable[date]) -> list[date]:
    """Create the partitions of ``days`` that do not exist yet; returns the days created.

    Each CREATE commits on its own — inside a transaction it runs on a separate connection,
    so the ingest transaction never holds DDL locks. Safe when workers race for one day."""
    if connection.vendor != "postgresql":
        return []
    wanted = set(days) - _known_partition_days
    if not wanted:
        return []
    with _partition_lock:
        existing = set(partitions_list())
        _known_partition_days.update(existing)
        missing = sorted(wanted - existing)
        if not missing:
            return []
        if connection.in_atomic_block:
            from django.db import connections

            side = connections.create_connection("default")
            try:
                return _partitions_create(side, missing)
            finally:
                side.close()
        return _partitions_create(connection, missing)


def _partitions_create(database, days: list[date]) -> list[date]:
    created = []
    for day in days:
        following = day + timedelta(days=1)
        try:
            with database.cursor() as cursor:
                cursor.execute(
                    f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF "
                    f"{READING_TABLE} FOR VALUES FROM ('{day.isoformat()} 00:00:00+00') "
                    f"TO ('{following.isoformat()} 00:00:00+00')"
                )
        except DatabaseError:
            # Another worker created it at the same moment: fine if it exists now.
            if day not in set(partitions_list()):
                raise
        else:
            created.append(day)
        _known_partition_days.add(day)
    return created


def partitions_for_range(start: datetime, end: datetime) -> list[date]:
    """The UTC days from ``start`` to ``end`` inclusive."""
    first = start.astimezone(UTC).date()
    last = end.astimezone(UTC).date()
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def telemetry_retention_apply(*, now: datetime) -> dict[str, Any]:
    """Create partitions ahead, drop readings past ``INGEST_RETENTION_DAYS`` (whole partitions
    on PostgreSQL), delete rollups past ``INGEST_ROLLUP_RETENTION_DAYS`` and the ingest ledger
    past ``INGEST_BATCH_LEDGER_RETENTION_S``. Idempotent; run by ``telemetry_maintain``."""
    reading_cutoff = now - timedelta(days=settings.INGEST_RETENTION_DAYS)
    rollup_cutoff = now - timedelta(days=settings.INGEST_ROLLUP_RETENTION_DAYS)
    ledger_cutoff = now - timedelta(seconds=settings.INGEST_BATCH_LEDGER_RETENTION_S)
    today = now.astimezone(UTC).date()
    created = partitions_ensure(
        today + timedelta(days=offset)
        for offset in range(-1, settings.INGEST_PARTITIONS_AHEAD_DAYS + 1)
    )
    dropped: list[date] = []
    deleted_readings = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for day in partitions_list():
                # A partition holds [day, day + 1): drop it once all of it is past the cutoff.
                if (
                    datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
                    <= reading_cutoff
                ):
                    cursor.execute(f"DROP TABLE IF EXISTS {partition_name(day)}")
                    _known_partition_days.discard(day)
                    dropped.append(day)
        else:
            cursor.execute(
                f"DELETE FROM {READING_TABLE} WHERE ts < %s",  # noqa: S608
                [connection.ops.adapt_datetimefield_value(reading_cutoff)],
            )
            deleted_readings = cursor.rowcount
    from workers.models import IngestBatch, ReadingRollup

    deleted_rollups, _ = ReadingRollup.objects.filter(bucket__lt=rollup_cutoff).delete()
    deleted_batches, _ = IngestBatch.objects.filter(processed_at__lt=ledger_cutoff).delete()
    return {
        "created_partitions": [day.isoformat() for day in created],
        "dropped_partitions": [day.isoformat() for day in dropped],
        "deleted_readings": deleted_readings,
        "deleted_rollups": deleted_rollups,
        "deleted_batches": deleted_batches,
    }


# --- Redis: current values and debounce keys ---------------------------------------------------

_redis_clients: dict[str, redis.Redis] = {}
_redis_lock = threading.Lock()


def redis_client() -> redis.Redis:
    """A process-wide client for ``REDIS_URL`` (redis-py reconnects after a fork)."""
    url = settings.REDIS_URL
    client = _redis_clients.get(url)
    if client is None:
        with _redis_lock:
            client = _redis_clients.get(url)
            if client is None:
                client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
                _redis_clients[url] = client
    return client


def redis_key(*parts: object) -> str:
    return ":".join([settings.INGEST_REDIS_PREFIX, *map(str, parts)])


def current_values_key(equipment_id: int) -> str:
    return redis_key("current", equipment_id)


# Fields are signal names; values JSON [ts_ms, value, quality, stale_at_ms | null]. A value
# replaces the field only if it is not older; a stale mark applies if it is not older than
# the value it marks (a newer value clears the mark). ARGV: kind, then triples/pairs.
_CURRENT_VALUES_LUA = """
local key = KEYS[1]
local kind = ARGV[1]
if kind == 'v' then
  for i = 2, #ARGV, 2 do
    local name = ARGV[i]
    local new = ARGV[i + 1]
    local old = redis.call('HGET', key, name)
    if not old then
      redis.call('HSET', key, name, new)
    else
      local new_ts = tonumber(string.match(new, '^%[(%-?[%d%.e+]+),'))
      local old_ts = tonumber(string.match(old, '^%[(%-?[%d%.e+]+),'))
      if new_ts >= old_ts then redis.call('HSET', key, name, new) end
    end
  end
else
  local stale_at = tonumber(ARGV[2])
  for i = 3, #ARGV do
    local name = ARGV[i]
    local old = redis.call('HGET', key, name)
    if not old then
      redis.call('HSET', key, name, '[' .. ARGV[2] .. ',null,null,' .. ARGV[2] .. ']')
    else
      local old_ts = tonumber(string.match(old, '^%[(%-?[%d%.e+]+),'))
      if old_ts <= stale_at then
        local marked = string.gsub(old, ',[^,]*%]$', ',' .. ARGV[2] .. ']')
        redis.call('HSET', key, name, marked)
      end
    end
  end
end
return 1
"""
_current_values_script: Any = None


def _script() -> Any:
    global _current_values_script
    if _current_values_script is None:
        _current_values_script = redis_client().register_script(_CURRENT_VALUES_LUA)
    return _current_values_script


def _ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def current_values_apply(
    updates: dict[int, dict[str, tuple[datetime, Any, int]]],
) -> None:
    """``{equipment_id: {signal_name: (ts, value, quality)}}`` → the current-value hashes.

    Only live values belong here (never historical ones). Out-of-order batches from parallel
    workers cannot move a value back in time: the newer timestamp wins."""
    if not updates:
        return
    script = _script()
    pipeline = redis_client().pipeline(transaction=False)
    for equipment_id, values in updates.items():
        argv: list[Any] = ["v"]
        for name, (ts, value, quality) in values.items():
            argv.append(name)
            argv.append(json.dumps([_ms(ts), value, quality, None], separators=(",", ":")))
        script(keys=[current_values_key(equipment_id)], args=argv, client=pipeline)
    pipeline.execute()


def current_values_mark_stale(
    marks: Iterable[tuple[int, Sequence[str], datetime]],
) -> None:
    """``(equipment_id, signal_names, stale_at)`` → mark those current values stale."""
    script = _script()
    pipeline = redis_client().pipeline(transaction=False)
    count = 0
    for equipment_id, names, stale_at in marks:
        if names:
            script(
                keys=[current_values_key(equipment_id)],
                args=["s", _ms(stale_at), *names],
                client=pipeline,
            )
            count += 1
    if count:
        pipeline.execute()


def current_values_get(equipment_id: int) -> dict[str, dict[str, Any]]:
    """The cached current values of one equipment: ``{signal: {ts, value, quality,
    stale_at}}`` with datetimes (``stale_at`` None when live)."""
    raw = redis_client().hgetall(current_values_key(equipment_id))
    result = {}
    for name, encoded in raw.items():
        ts_ms, value, quality, stale_ms = json.loads(encoded)
        result[name.decode() if isinstance(name, bytes) else name] = {
            "ts": datetime.fromtimestamp(ts_ms / 1000, UTC),
            "value": value,
            "quality": quality,
            "stale_at": None if stale_ms is None else datetime.fromtimestamp(stale_ms / 1000, UTC),
        }
    return result


def debounce_acquire(name: str, *, ttl_s: float) -> bool:
    """True for the first caller in a ``ttl_s`` window (Redis ``SET NX PX``)."""
    key = redis_key("debounce", name)
    return bool(redis_client().set(key, b"1", nx=True, px=max(1, int(ttl_s * 1000))))


def on_commit(callback) -> None:
    """Run ``callback`` after the current transaction commits (at once outside one)."""
    transaction.on_commit(callback)
