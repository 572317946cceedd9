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
import struct
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, connections, transaction

from mes_site.redis import redis_client
from workers.choices import QUALITY_GOOD
from workers.models import IngestBatch, Reading, ReadingRollup

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
# After _MOVE_SQL: the staged rows that lost to another value of their signal at the same
# instant — stored before, or earlier in the batch. An identical value (a redelivery) is no
# conflict.
_CONFLICTS_SQL = """
SELECT count(*) FROM ingest_staging s
JOIN workers_reading r ON r.signal_id = s.signal_id AND r.ts = s.ts
WHERE r.value IS DISTINCT FROM s.value OR r.text_value IS DISTINCT FROM s.text_value
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
SELECT signal_id, to_timestamp(epoch_s), min_value, max_value, sum_value, count FROM unnest(
    %s::bigint[], %s::bigint[], %s::float8[], %s::float8[], %s::float8[], %s::integer[]
) AS batch (signal_id, epoch_s, min_value, max_value, sum_value, count)
ORDER BY signal_id, epoch_s
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

_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 UTC, the zero of PostgreSQL's timestamps
_US_PER_MINUTE = 60_000_000
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension
_COPY_TRAILER = b"\xff\xff"
# One numeric row of the binary COPY (signal_id, ts, value, text_value NULL, quality), each
# field preceded by its length, as a packed big-endian record: numpy lays out a whole batch.
_NUMERIC_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("signal_length", ">i4"),
        ("signal_id", ">i8"),
        ("ts_length", ">i4"),
        ("ts", ">i8"),
        ("value_length", ">i4"),
        ("value", ">f8"),
        ("text_length", ">i4"),
        ("quality_length", ">i4"),
        ("quality", ">i2"),
    ]
)
_NUMERIC_CONSTANTS = {
    "fields": 5,
    "signal_length": 8,
    "ts_length": 8,
    "value_length": 8,
    "text_length": -1,
    "quality_length": 2,
}
_ROW_START = struct.Struct(">hiqiq")  # fields, signal id, ts
_FLOAT = struct.Struct(">id")
_NULL = struct.Struct(">i").pack(-1)
_QUALITY = struct.Struct(">ih")


def epoch_us(ts: datetime) -> int:
    """Aware datetime → microseconds since 1970-01-01 UTC, exactly (no float rounding)."""
    delta = ts - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_epoch_us(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ReadingColumns:
    """A batch of readings column-wise: numeric (and boolean 0/1) readings in parallel lists
    that the ingest's hot loop appends to (no tuple or datetime per reading), and any other
    row (text, or no value) as a ``ReadingRow``. ``ts_us``: microseconds since the Unix epoch."""

    __slots__ = ("others", "qualities", "signal_ids", "ts_us", "values")

    def __init__(self) -> None:
        self.signal_ids: list[int] = []
        self.ts_us: list[int] = []
        self.values: list[float] = []
        self.qualities: list[int] = []
        self.others: list[ReadingRow] = []

    @classmethod
    def of(cls, rows: Iterable[ReadingRow]) -> ReadingColumns:
        columns = cls()
        for row in rows:
            columns.add_row(row)
        return columns

    def add(self, signal_id: int, ts_us: int, value: float, quality: int) -> None:
        self.signal_ids.append(signal_id)
        self.ts_us.append(ts_us)
        self.values.append(value)
        self.qualities.append(quality)

    def add_row(self, row: ReadingRow) -> None:
        signal_id, ts, value, text_value, quality = row
        if value is not None and text_value is None:
            self.add(signal_id, epoch_us(ts), value, quality)
        else:
            self.others.append(row)

    def __len__(self) -> int:
        return len(self.signal_ids) + len(self.others)

    def ts_range(self) -> tuple[datetime, datetime]:
        """The oldest and the newest timestamp (the batch must not be empty)."""
        stamps = [epoch_us(row[1]) for row in self.others]
        if self.ts_us:
            stamps += [min(self.ts_us), max(self.ts_us)]
        return from_epoch_us(min(stamps)), from_epoch_us(max(stamps))

    def rows(self) -> list[ReadingRow]:
        """Every reading as a ``ReadingRow`` (the generic, row-by-row path)."""
        numeric = [
            (signal_id, from_epoch_us(ts_us), value, None, quality)
            for signal_id, ts_us, value, quality in zip(
                self.signal_ids, self.ts_us, self.values, self.qualities, strict=True
            )
        ]
        return numeric + self.others

    def copy_data(self) -> bytes:
        """The whole batch as PostgreSQL binary COPY data, header and trailer included."""
        records = np.empty(len(self.signal_ids), _NUMERIC_ROW)
        for name, constant in _NUMERIC_CONSTANTS.items():
            records[name] = constant
        records["signal_id"] = self.signal_ids
        records["ts"] = np.asarray(self.ts_us, dtype=np.int64) - _PG_EPOCH_US
        records["value"] = self.values
        records["quality"] = self.qualities
        parts = [_COPY_HEADER, records.tobytes()]
        for signal_id, ts, value, text_value, quality in self.others:
            parts.append(_ROW_START.pack(5, 8, signal_id, 8, epoch_us(ts) - _PG_EPOCH_US))
            parts.append(_NULL if value is None else _FLOAT.pack(8, value))
            if text_value is None:
                parts.append(_NULL)
            else:
                encoded = text_value.encode()
                parts.append(struct.pack(">i", len(encoded)) + encoded)
            parts.append(_QUALITY.pack(2, quality))
        parts.append(_COPY_TRAILER)
        return b"".join(parts)

    def rollups(self) -> tuple[np.ndarray, ...]:
        """Per (signal, minute) of the numeric readings: signal ids, epoch minutes, min, max,
        sum and count — grouped with one stable sort instead of a dict lookup per reading."""
        signal_ids = np.asarray(self.signal_ids, dtype=np.int64)
        minutes = np.asarray(self.ts_us, dtype=np.int64) // _US_PER_MINUTE
        values = np.asarray(self.values, dtype=np.float64)
        others = [
            (signal_id, epoch_us(ts) // _US_PER_MINUTE, value)
            for signal_id, ts, value, _text, _quality in self.others
            if value is not None
        ]
        if others:
            extra_ids, extra_minutes, extra_values = zip(*others, strict=True)
            signal_ids = np.concatenate([signal_ids, np.asarray(extra_ids, dtype=np.int64)])
            minutes = np.concatenate([minutes, np.asarray(extra_minutes, dtype=np.int64)])
            values = np.concatenate([values, np.asarray(extra_values, dtype=np.float64)])
        if not len(values):
            empty_int = np.empty(0, dtype=np.int64)
            empty_float = np.empty(0, dtype=np.float64)
            return empty_int, empty_int, empty_float, empty_float, empty_float, empty_int
        order = np.lexsort((minutes, signal_ids))  # by signal, then minute; stable
        signal_ids, minutes, values = signal_ids[order], minutes[order], values[order]
        changes = (signal_ids[1:] != signal_ids[:-1]) | (minutes[1:] != minutes[:-1])
        starts = np.concatenate(([0], np.flatnonzero(changes) + 1))
        counts = np.diff(np.append(starts, len(values)))
        return (
            signal_ids[starts],
            minutes[starts],
            np.minimum.reduceat(values, starts),
            np.maximum.reduceat(values, starts),
            np.add.reduceat(values, starts),
            counts,
        )


def readings_write(rows: Sequence[ReadingRow] | ReadingColumns) -> int:
    """Store ``rows`` idempotently and fold the newly inserted ones into the rollups.

    Must run inside ``transaction.atomic()``; partitions for the rows' days must exist
    (``partitions_ensure``). Duplicates (already stored, or twice in ``rows``) are skipped.
    Returns the number of rows inserted."""
    return readings_write_counted(rows)[0]


def readings_write_counted(rows: Sequence[ReadingRow] | ReadingColumns) -> tuple[int, int]:
    """``readings_write``, returning (rows inserted, conflicts): readings skipped because
    their signal already had a *different* value at the same instant (two values in the same
    millisecond: the first one stored wins). A redelivered identical value is no conflict."""
    if not len(rows):
        return 0, 0
    if not connection.in_atomic_block:
        raise RuntimeError("readings_write must run inside transaction.atomic()")
    columns = rows if isinstance(rows, ReadingColumns) else ReadingColumns.of(rows)
    if connection.vendor == "postgresql":
        return _write_postgresql(columns)
    return _write_generic(columns.rows())


def readings_quality_mark(*, signal_id: int, since: datetime, quality: int) -> int:
    """Mark the good readings of a signal from ``since`` on with ``quality`` (kept, not
    deleted: e.g. a sensor found drifting). Returns how many were marked."""
    return Reading.objects.filter(signal_id=signal_id, ts__gte=since, quality=QUALITY_GOOD).update(
        quality=quality
    )


def _write_postgresql(columns: ReadingColumns) -> tuple[int, int]:
    data = columns.copy_data()
    try:
        # A savepoint: a duplicate undoes only the fast path.
        with transaction.atomic(), connection.cursor() as cursor:
            with cursor.cursor.copy(_DIRECT_COPY) as copy:
                copy.write(data)
            _rollups_upsert(cursor, columns.rollups())
        return len(columns), 0
    except (IntegrityError, psycopg.IntegrityError):  # the COPY raises psycopg's own
        pass
    with connection.cursor() as cursor:
        # Every time (a cheap catalog lookup): DDL is transactional, so a table created in a
        # transaction that rolled back is gone again.
        cursor.execute(_STAGING_DDL)
        with cursor.cursor.copy(_STAGING_COPY) as copy:
            copy.write(data)
        cursor.execute(_MOVE_SQL)
        inserted = int(cursor.fetchone()[0])
        conflicts = 0
        if inserted < len(columns):
            cursor.execute(_CONFLICTS_SQL)
            conflicts = int(cursor.fetchone()[0])
        return inserted, conflicts


def _rollups_upsert(cursor, rollups: tuple[np.ndarray, ...]) -> None:
    signal_ids, minutes, lows, highs, sums, counts = rollups
    if not len(signal_ids):
        return
    cursor.execute(
        _ROLLUP_UPSERT_ARRAYS,
        [
            signal_ids.tolist(),
            (minutes * 60).tolist(),
            lows.tolist(),
            highs.tolist(),
            sums.tolist(),
            counts.tolist(),
        ],
    )


def _write_generic(rows: Sequence[ReadingRow]) -> tuple[int, int]:
    adapt = connection.ops.adapt_datetimefield_value
    rollups: dict[tuple[int, datetime], list[float]] = {}
    inserted = conflicts = 0
    with connection.cursor() as cursor:
        for signal_id, ts, value, text_value, quality in rows:
            cursor.execute(
                f"INSERT INTO {READING_TABLE} (signal_id, ts, value, text_value, quality) "  # noqa: S608
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (signal_id, ts) DO NOTHING",
                [signal_id, adapt(ts), value, text_value, quality],
            )
            if cursor.rowcount != 1:
                cursor.execute(
                    f"SELECT value, text_value FROM {READING_TABLE} "  # noqa: S608
                    "WHERE signal_id = %s AND ts = %s",
                    [signal_id, adapt(ts)],
                )
                if tuple(cursor.fetchone() or ()) != (value, text_value):
                    conflicts += 1
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
    return inserted, conflicts


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
