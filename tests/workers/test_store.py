"""The telemetry store's write path: column-wise batches, the binary COPY built with numpy,
rollups grouped with numpy, idempotent redelivery — on the real PostgreSQL."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers import store
from workers.store import ReadingColumns, epoch_us, from_epoch_us

GOOD = 192

instants = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)


@given(instants)
def test_epoch_microseconds_round_trip_exactly(moment):
    assert from_epoch_us(epoch_us(moment)) == moment
    assert epoch_us(moment) == round(
        (moment - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1e6
    )


def _reference_rollups(rows):
    """(signal, epoch minute) → [min, max, sum, count], one reading at a time."""
    result = {}
    for signal_id, ts, value, _text, _quality in rows:
        if value is None:
            continue
        key = (signal_id, math.floor((ts - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() / 60))
        low, high, total, count = result.get(key, (value, value, 0.0, 0))
        result[key] = (min(low, value), max(high, value), total + value, count + 1)
    return result


rows_strategy = st.lists(
    st.tuples(
        st.integers(1, 5),
        instants,
        st.one_of(
            st.none(),
            st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False),
        ),
        st.one_of(st.none(), st.text(max_size=5)),
        st.sampled_from([0, 192, 500]),
    ),
    max_size=60,
)


@settings(max_examples=200)
@given(rows_strategy)
def test_rollups_match_a_reading_by_reading_reference(rows):
    columns = ReadingColumns.of(rows)
    signal_ids, minutes, lows, highs, sums, counts = columns.rollups()
    computed = {
        (int(signal_id), int(minute)): (float(low), float(high), float(total), int(count))
        for signal_id, minute, low, high, total, count in zip(
            signal_ids, minutes, lows, highs, sums, counts, strict=True
        )
    }
    reference = _reference_rollups(rows)
    assert computed.keys() == reference.keys()
    for key, (low, high, total, count) in reference.items():
        assert computed[key][:2] == (low, high)
        assert computed[key][2] == pytest.approx(total, rel=1e-12, abs=1e-6)
        assert computed[key][3] == count
    # Sorted by signal, then minute: two workers upsert the same rollup rows in one order.
    assert list(zip(signal_ids.tolist(), minutes.tolist(), strict=True)) == sorted(computed)


@given(rows_strategy)
def test_columns_give_back_every_row(rows):
    def normal(items):  # fold is not part of equality, but of repr
        return sorted(
            (
                (s, ts.replace(fold=0), value, text, quality)
                for s, ts, value, text, quality in items
            ),
            key=repr,
        )

    assert normal(ReadingColumns.of(rows).rows()) == normal(rows)


def _stored(signal_ids):
    from workers.models import Reading

    return sorted(
        Reading.objects.filter(signal_id__in=signal_ids).values_list(
            "signal_id", "ts", "value", "text_value", "quality"
        )
    )


def _write(rows):
    from django.db import transaction

    with transaction.atomic():
        low = min(row[1] for row in rows)
        high = max(row[1] for row in rows)
        store.partitions_ensure(store.partitions_for_range(low, high))
        return store.readings_write(rows)


@pytest.mark.django_db(transaction=True)
def test_the_binary_copy_stores_numbers_text_nulls_and_qualities_exactly(telemetry):
    number, flag, text = telemetry.temperature.id, telemetry.running.id, telemetry.program.id
    base = datetime.now(UTC).replace(microsecond=123456) - timedelta(hours=2)
    rows = [
        (number, base, 21.5, None, GOOD),
        (number, base + timedelta(microseconds=1), -0.0, None, GOOD),
        (number, base + timedelta(seconds=1), 1e308, None, 0),
        (number, base + timedelta(seconds=2), 5e-324, None, 500),
        (flag, base, 1.0, None, GOOD),
        (text, base, None, "P-100 ünïcode ✓", GOOD),
        (text, base + timedelta(seconds=1), None, "", GOOD),
        (text, base + timedelta(seconds=2), None, None, 0),  # no value at all (bad quality)
    ]
    assert _write(rows) == len(rows)
    assert _stored([number, flag, text]) == sorted(rows)


@pytest.mark.django_db(transaction=True)
def test_a_redelivered_batch_and_duplicates_within_one_batch_store_and_roll_up_once(telemetry):
    from workers.models import ReadingRollup

    signal = telemetry.temperature.id
    base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    generator = random.Random(7)
    rows = [
        (
            signal,
            base + timedelta(milliseconds=250 * index),
            generator.uniform(-40, 150),
            None,
            GOOD,
        )
        for index in range(600)
    ]
    assert _write(rows) == 600
    assert _write(rows) == 0  # the whole batch again
    doubled = (
        rows[:10] + rows[:10] + [(signal, base + timedelta(hours=1, seconds=1), 1.0, None, GOOD)]
    )
    assert _write(doubled) == 1  # already stored, twice in the batch, and one new row
    assert len(_stored([signal])) == 601
    rollups = {
        rollup.bucket: rollup
        for rollup in ReadingRollup.objects.filter(signal_id=signal).order_by("bucket")
    }
    reference = _reference_rollups([*rows, doubled[-1]])
    assert len(rollups) == len(reference)
    for (_signal, minute), (low, high, total, count) in reference.items():
        rollup = rollups[datetime.fromtimestamp(minute * 60, UTC)]
        assert (rollup.min_value, rollup.max_value, rollup.count) == (low, high, count)
        assert rollup.sum_value == pytest.approx(total, rel=1e-12)


@pytest.mark.django_db(transaction=True)
def test_another_value_at_a_stored_instant_is_counted_as_a_conflict_a_redelivery_is_not(
    telemetry,
):
    from django.db import transaction

    number, text = telemetry.temperature.id, telemetry.program.id
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    first = [(number, base, 20.0, None, GOOD), (text, base, None, "P-1", GOOD)]

    def write_counted(rows):
        with transaction.atomic():
            store.partitions_ensure(store.partitions_for_range(base, base))
            return store.readings_write_counted(rows)

    assert write_counted(first) == (2, 0)
    assert write_counted(first) == (0, 0)  # a redelivery: nothing new, no conflict
    later = base + timedelta(seconds=1)
    assert write_counted(
        [
            (number, base, 20.5, None, GOOD),  # another value at a stored instant
            (text, base, None, "P-2", GOOD),  # another text
            (number, later, 1.0, None, GOOD),  # new, and twice in the batch with
            (number, later, 2.0, None, GOOD),  # another value: one of them is stored
            (number, base, 20.0, None, GOOD),  # the stored value again: no conflict
        ]
    ) == (1, 3)
    stored = _stored([number])
    assert (stored[0][2], len(stored)) == (20.0, 2)  # the first stored value stays
