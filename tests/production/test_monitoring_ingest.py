"""Equipment events → state intervals and counts: the ingest contract, on PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone

from production import models as m
from production.choices import OperationState
from production.models.monitoring import EquipmentStateEvent, OeeRecomputeRequest
from production.selectors.calendars import calendar_book_for, equipment_refs
from production.selectors.oee_elements import equipment_period_compute
from production.selectors.oee_live import live_oee
from production.services.equipment_events import equipment_events_ingest
from production.services.ingest_contract import EquipmentEventIn, EventIngestResult
from production.services.operator_entries import (
    equipment_state_interval_enter,
    equipment_stop_classify,
)

NOW = datetime(2026, 6, 16, 12, 30, tzinfo=UTC)


def at(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 6, 16, hour, minute, second, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch):
    """The server clock, frozen at NOW; ``clock.set(t)`` moves it."""

    class Clock:
        now = NOW

        def set(self, value: datetime) -> None:
            self.now = value

    frozen = Clock()
    monkeypatch.setattr(timezone, "now", lambda: frozen.now)
    return frozen


@pytest.fixture
def machine(plant, clock):
    live_oee.clear()
    plant.site.time_zone = "Europe/Berlin"
    plant.site.save()
    for code, element, is_active in [
        ("BREAKDOWN", "ADET", True),
        ("SETUP_TOOL", "AUST", True),
        ("ORG_NO_ORDER", "ADOT", True),
        ("OLD_REASON", "ADET", False),
    ]:
        m.DowntimeReason.objects.create(
            code=code, name=code.title(), iso_element=element, is_active=is_active
        )
    yield plant.equipment
    live_oee.clear()


def state(equipment, ts, value, reason=None) -> EquipmentEventIn:
    return EquipmentEventIn(equipment.uns_path, ts, "state", {"state": value, "reason": reason})


def count(equipment, ts, good=0, scrap=0, rework=0) -> EquipmentEventIn:
    return EquipmentEventIn(
        equipment.uns_path, ts, "count", {"good": good, "scrap": scrap, "rework": rework}
    )


def chain(equipment) -> list[tuple]:
    return list(
        m.EquipmentStateInterval.objects.filter(equipment=equipment)
        .order_by("start_at")
        .values_list("start_at", "end_at", "state", "reason__code", "needs_reason", "is_minor_stop")
    )


def test_state_events_build_a_closed_chain_with_flags(machine):
    result = equipment_events_ingest(
        events=[
            state(machine, at(8), "producing"),
            state(machine, at(9), "down"),  # 90 s: a minor stop
            state(machine, at(9, 1, 30), "producing"),
            state(machine, at(10), "down"),  # 10 min without reason: needs one
            state(machine, at(10, 10), "down", "BREAKDOWN"),  # the reason arrives: a new stop
            state(machine, at(10, 20), "producing"),
        ]
    )
    assert result == EventIngestResult(accepted=6, rejected=[])
    assert chain(machine) == [
        (at(8), at(9), "producing", None, False, False),
        (at(9), at(9, 1, 30), "down", None, False, True),
        (at(9, 1, 30), at(10), "producing", None, False, False),
        (at(10), at(10, 10), "down", None, True, False),
        (at(10, 10), at(10, 20), "down", "BREAKDOWN", False, False),
        (at(10, 20), None, "producing", None, False, False),
    ]
    assert EquipmentStateEvent.objects.filter(equipment=machine).count() == 6


def test_repeats_continue_the_stretch_and_batches_may_come_in_any_order(machine):
    result = equipment_events_ingest(
        events=[
            state(machine, at(8, 30), "producing"),  # a repeat, listed first
            state(machine, at(9), "down", "BREAKDOWN"),
            state(machine, at(8), "producing"),
            state(machine, at(9, 5), "down"),  # no reason: continues the breakdown
        ]
    )
    assert result.accepted == 4 and result.rejected == []
    assert chain(machine) == [
        (at(8), at(9), "producing", None, False, False),
        (at(9), None, "down", "BREAKDOWN", False, False),
    ]


def test_redelivery_changes_nothing(machine):
    batch = [
        state(machine, at(8), "producing"),
        count(machine, at(8, 10), good=5),
        state(machine, at(9), "down"),
        count(machine, at(9, 10), good=2, scrap=1),
    ]
    first = equipment_events_ingest(events=batch)
    intervals_before = list(m.EquipmentStateInterval.objects.values())
    counts_before = list(m.ProductionCount.objects.values())
    requests_before = OeeRecomputeRequest.objects.count()  # the counts are hours old
    again = equipment_events_ingest(events=batch)
    assert first == again == EventIngestResult(accepted=4, rejected=[])
    assert list(m.EquipmentStateInterval.objects.values()) == intervals_before
    assert list(m.ProductionCount.objects.values()) == counts_before
    assert EquipmentStateEvent.objects.count() == 2
    assert OeeRecomputeRequest.objects.count() == requests_before == 2


def test_bad_events_are_rejected_with_a_reason_and_nothing_is_stored(machine, clock):
    events = [
        EquipmentEventIn("ent/s1/nowhere/L9/c/M9", at(8), "state", {"state": "producing"}),
        state(machine, datetime(2026, 6, 16, 8), "producing"),  # naive
        state(machine, NOW + timedelta(minutes=6), "producing"),
        EquipmentEventIn(machine.uns_path, at(8), "temperature", {"value": 3}),
        state(machine, at(8), "sleeping"),
        state(machine, at(8), "down", "NO_SUCH_CODE"),
        state(machine, at(8), "down", "OLD_REASON"),
        count(machine, at(8), good=-1),
        EquipmentEventIn(machine.uns_path, at(8), "count", {"good": 1.5}),
        EquipmentEventIn(machine.uns_path, at(8), "count", {"good": True}),
        EquipmentEventIn(machine.uns_path, at(8), "count", {"pieces": 3}),
        EquipmentEventIn(machine.uns_path, at(8), "state", "producing"),
    ]
    result = equipment_events_ingest(events=events)
    assert result.accepted == 0
    assert [(index, code) for index, code, _ in result.rejected] == [
        (0, "unknown_equipment"),
        (1, "invalid_timestamp"),
        (2, "future_timestamp"),
        (3, "unknown_kind"),
        (4, "unknown_state"),
        (5, "unknown_reason"),
        (6, "inactive_reason"),
        (7, "negative_count"),
        (8, "invalid_count"),
        (9, "invalid_count"),
        (10, "invalid_count"),
        (11, "invalid_event"),
    ]
    assert "ent/s1/nowhere/L9/c/M9" in result.rejected[0][2]
    assert "NO_SUCH_CODE" in result.rejected[5][2]
    assert not m.EquipmentStateInterval.objects.exists()
    assert not m.ProductionCount.objects.exists()
    assert not EquipmentStateEvent.objects.exists()


def test_a_bad_event_does_not_hold_back_the_good_ones(machine):
    result = equipment_events_ingest(
        events=[
            state(machine, at(8), "producing"),
            state(machine, at(9), "down", "NO_SUCH_CODE"),
            count(machine, at(8, 30), good=4),
        ]
    )
    assert result.accepted == 2
    assert [code for _, code, _ in result.rejected] == ["unknown_reason"]
    assert chain(machine) == [(at(8), None, "producing", None, False, False)]
    assert m.ProductionCount.objects.get().good == 4


def test_conflicting_events_at_the_same_instant_are_rejected(machine):
    equipment_events_ingest(
        events=[state(machine, at(8), "producing"), count(machine, at(8, 5), good=3)]
    )
    result = equipment_events_ingest(
        events=[
            state(machine, at(8), "down"),
            count(machine, at(8, 5), good=4),
            state(machine, at(9), "down"),
            state(machine, at(9), "idle"),  # same batch, same instant, other state
        ]
    )
    assert result.accepted == 1
    assert [(index, code) for index, code, _ in result.rejected] == [
        (0, "conflicting_event"),
        (1, "conflicting_event"),
        (3, "conflicting_event"),
    ]
    assert chain(machine) == [
        (at(8), at(9), "producing", None, False, False),
        (at(9), None, "down", None, False, False),
    ]
    assert m.ProductionCount.objects.get().good == 3


def test_a_late_event_splits_the_interval_it_falls_into(machine, clock):
    clock.set(at(9, 30))
    equipment_events_ingest(
        events=[state(machine, at(8), "producing"), state(machine, at(9), "idle")]
    )
    result = equipment_events_ingest(events=[state(machine, at(8, 30), "down")])
    assert result.accepted == 1
    assert chain(machine) == [
        (at(8), at(8, 30), "producing", None, False, False),
        (at(8, 30), at(9), "down", None, True, False),
        (at(9), None, "idle", None, False, False),
    ]
    # The chain was re-derived from 8:00, in the 8:00–9:00 hour that is closed by now.
    request = OeeRecomputeRequest.objects.get()
    assert (request.range_start_at, request.range_end_at) == (at(8), at(9, 30))


def test_a_late_event_within_the_close_delay_needs_no_recompute(machine, clock):
    clock.set(at(9, 30))
    equipment_events_ingest(
        events=[state(machine, at(9, 26), "producing"), state(machine, at(9, 29), "idle")]
    )
    equipment_events_ingest(events=[state(machine, at(9, 27), "down")])
    assert chain(machine) == [
        (at(9, 26), at(9, 27), "producing", None, False, False),
        (at(9, 27), at(9, 29), "down", None, True, False),  # 120 s: not minor
        (at(9, 29), None, "idle", None, False, False),
    ]
    assert not OeeRecomputeRequest.objects.exists()


def test_a_late_event_between_repeats_ends_where_the_repeat_says(machine, clock):
    # P@8:00, P@8:20 (a repeat), then the late D@8:10: producing again from 8:20.
    clock.set(at(8, 30))
    equipment_events_ingest(events=[state(machine, at(8), "producing")])
    equipment_events_ingest(events=[state(machine, at(8, 20), "producing")])
    equipment_events_ingest(events=[state(machine, at(8, 10), "down")])
    assert chain(machine) == [
        (at(8), at(8, 10), "producing", None, False, False),
        (at(8, 10), at(8, 20), "down", None, True, False),
        (at(8, 20), None, "producing", None, False, False),
    ]


def test_a_late_event_into_a_closed_period_asks_for_a_recompute(machine, clock):
    equipment_events_ingest(
        events=[state(machine, at(8), "producing"), state(machine, at(11), "idle")]
    )
    equipment_events_ingest(events=[state(machine, at(9), "down")])
    request = OeeRecomputeRequest.objects.get()
    assert (request.equipment_id, request.range_start_at) == (machine.pk, at(8))
    assert request.range_end_at == NOW
    # A late count too, for its instant.
    equipment_events_ingest(events=[count(machine, at(9, 30), good=2)])
    late_count = OeeRecomputeRequest.objects.order_by("pk").last()
    assert (late_count.range_start_at, late_count.range_end_at) == (
        at(9, 30),
        at(9, 30, 1),
    )


def test_rederiving_keeps_an_operator_classification(machine, clock):
    equipment_events_ingest(
        events=[
            state(machine, at(8), "producing"),
            state(machine, at(9), "down"),
            state(machine, at(10), "producing"),
        ]
    )
    stop = m.EquipmentStateInterval.objects.get(start_at=at(9))
    equipment_stop_classify(interval_id=stop.pk, reason_code="BREAKDOWN", actor=None)
    equipment_events_ingest(events=[state(machine, at(9, 30), "producing")])
    assert chain(machine) == [
        (at(8), at(9), "producing", None, False, False),
        (at(9), at(9, 30), "down", "BREAKDOWN", False, False),
        (at(9, 30), None, "producing", None, False, False),
    ]
    kept = m.EquipmentStateInterval.objects.get(start_at=at(9))
    assert kept.pk == stop.pk and kept.classified_at == NOW


def test_events_inside_an_operator_entry_are_rejected_and_the_entry_bounds_the_chain(
    machine, clock
):
    equipment_state_interval_enter(
        equipment_id=machine.pk,
        start_at=at(9),
        end_at=at(10),
        state="down",
        reason_code="BREAKDOWN",
        actor=None,
    )
    result = equipment_events_ingest(
        events=[
            state(machine, at(8), "producing"),
            state(machine, at(9, 30), "producing"),
            state(machine, at(10, 30), "idle"),
        ]
    )
    assert result.accepted == 2
    assert [(index, code) for index, code, _ in result.rejected] == [
        (1, "inside_operator_interval")
    ]
    assert chain(machine) == [
        (at(8), at(9), "producing", None, False, False),
        (at(9), at(10), "down", "BREAKDOWN", False, False),
        (at(10, 30), None, "idle", None, False, False),
    ]


def test_counts_are_booked_to_the_operation_running_on_the_equipment(
    machine, make_work_order, clock
):
    work_order = make_work_order(state="in_progress")
    operation = work_order.operations.order_by("sequence").first()
    m.Operation.objects.filter(pk=operation.pk).update(
        state=OperationState.IN_PROGRESS,
        assigned_equipment=machine,
        actual_start_at=at(8),
        planned_run_time_per_unit_s=45.0,
    )
    equipment_events_ingest(
        events=[
            count(machine, at(7, 59), good=1),  # before the operation started
            count(machine, at(8, 1), good=10, scrap=1, rework=2),
        ]
    )
    before, during = m.ProductionCount.objects.order_by("ts")
    assert (before.work_order_id, before.operation_id, before.planned_run_time_per_unit_s) == (
        None,
        None,
        None,
    )
    assert (during.work_order_id, during.operation_id, during.planned_run_time_per_unit_s) == (
        work_order.pk,
        operation.pk,
        45.0,
    )
    assert (during.good, during.scrap, during.rework) == (10, 1, 2)


def test_live_accumulators_match_a_recompute_from_the_database(
    machine, clock, django_capture_on_commit_callbacks
):
    """Random batches (some late) through the live path = a full recompute of the shift."""
    calendar = m.ShiftCalendar.objects.create(site=machine.cell.line.area.site, name="cal")
    shift = m.Shift.objects.create(
        calendar=calendar, name="Early", start_time=time(6), end_time=time(14)
    )
    m.ShiftBreak.objects.create(shift=shift, start_time=time(9), end_time=time(9, 15))
    rng = random.Random(22400)
    ref = equipment_refs(equipment_ids=[machine.pk])[0]
    states = ["producing", "producing", "down", "setup", "idle", "unknown", "planned_stop"]
    moment = at(3, 50)
    for batch_number in range(25):
        events = []
        for _ in range(rng.randint(1, 6)):
            moment += timedelta(seconds=rng.choice([30, 90, 150, 400, 900]))
            events.append(state(machine, moment, rng.choice(states)))
            if rng.random() < 0.5:
                events.append(count(machine, moment + timedelta(seconds=1), good=rng.randint(0, 5)))
        if batch_number % 6 == 5:  # a late one
            late = moment - timedelta(seconds=rng.randint(200, 3000))
            events.append(state(machine, late, rng.choice(states)))
        clock.set(moment + timedelta(seconds=5))
        live_oee.get([ref], now=clock.now)  # warm, as a reading process would be
        with django_capture_on_commit_callbacks(execute=True):
            equipment_events_ingest(events=events)
        live = live_oee.get([ref], now=clock.now)[machine.pk]
        book = calendar_book_for(
            [ref], range_start=live.shift_start_at, range_end=live.shift_end_at
        )
        full = equipment_period_compute(
            [ref],
            book,
            window_start=live.shift_start_at,
            window_end=live.shift_end_at,
            now=clock.now,
        )[machine.pk]
        assert live.result.elements.as_iso_dict() == pytest.approx(
            full.elements.as_iso_dict(), abs=1e-6
        )
        assert live.result.elements.minor_stop_time_s == pytest.approx(
            full.elements.minor_stop_time_s, abs=1e-6
        )
        assert live.result.elements.needs_reason_time_s == pytest.approx(
            full.elements.needs_reason_time_s, abs=1e-6
        )


def test_no_wrong_kpi_from_a_rejected_batch(machine):
    """A batch of only bad events changes nothing the OEE is computed from."""
    equipment_events_ingest(events=[state(machine, at(8), "producing")])
    ref = equipment_refs(equipment_ids=[machine.pk])[0]
    before = live_oee.get([ref], now=NOW)[machine.pk].result.elements
    result = equipment_events_ingest(
        events=[
            state(machine, at(9), "down", "NO_SUCH_CODE"),
            count(machine, at(9), good=-5),
        ]
    )
    assert result.accepted == 0
    live_oee.clear()
    after = live_oee.get([ref], now=NOW)[machine.pk].result.elements
    assert after == before


def test_intervals_without_their_events_are_kept_when_the_chain_is_rederived(machine):
    """Intervals from before events were kept (or entered by a migration) are respected."""
    m.EquipmentStateInterval.objects.create(
        equipment=machine, start_at=at(9), state="producing", source="event"
    )
    result = equipment_events_ingest(events=[state(machine, at(8, 30), "down")])
    assert result == EventIngestResult(accepted=1, rejected=[])
    assert chain(machine) == [
        (at(8, 30), at(9), "down", None, True, False),
        (at(9), None, "producing", None, False, False),
    ]
    equipment_events_ingest(events=[state(machine, at(10), "idle")])
    assert chain(machine)[-2:] == [
        (at(9), at(10), "producing", None, False, False),
        (at(10), None, "idle", None, False, False),
    ]
