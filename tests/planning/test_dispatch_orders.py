"""Customer orders through the database: online and batch dispatch on two lines with the
published study's parameters, backlog and its retry, overrides through the guardrails, and
the line order state machine driven by station events (rework, stock booking)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from autonomy.models import ActionPolicy, ProposedAction
from autonomy.services.guardrails import action_approve, action_revert
from mes_site.errors import Conflict, NotFound, ValidationFailed
from planning.models import CustomerOrder, DispatchPolicy, LineCostRates, LinePartParameters
from planning.services.dispatch import (
    customer_order_cancel,
    customer_order_create,
    customer_order_dispatch,
    customer_order_dispatch_override_request,
    customer_orders_backlog_retry,
    customer_orders_dispatch_batch,
)
from planning.services.line_orders import line_order_events_ingest
from production.models import Area, Cell, Equipment, Line, Product
from production.services import ingest_contract as monitoring

pytestmark = pytest.mark.django_db

STUDY = {
    "MPS1": {"PART_A": (218, 843), "PART_B": (156, 569), "PART_C": (128, 572)},
    "MPS2": {"PART_A": (156, 562), "PART_B": (154, 558), "PART_C": (127, 571)},
}
STATIONS = [
    "order_start",
    "warehouse_locate",
    "classification",
    "distribute_pallet",
    "machining",
]


class Lines:
    def __init__(self, area, line_1, line_2, station_1, station_2):
        self.area, self.line_1, self.line_2 = area, line_1, line_2
        self.station_1, self.station_2 = station_1, station_2


@pytest.fixture
def lines(plant):
    from inventory.models import Item, Location

    ActionPolicy.objects.update_or_create(kind="dispatch_override", defaults={"risk": "high"})
    area = Area.objects.create(site=plant.site, code="assembly", name="Assembly")
    DispatchPolicy.objects.create(area=area, time_weight=1.0, energy_weight=1.0)
    Location.objects.create(site=plant.site, code="FG-STORE", name="Finished goods")
    products = {}
    for code in ("PART_A", "PART_B", "PART_C"):
        item = Item.objects.create(code=code, name=code)
        products[code] = Product.objects.create(code=code, name=code, item=item)
    made = []
    for code, parts in STUDY.items():
        line = Line.objects.create(area=area, code=code, name=code, capacity_units=40)
        cell = Cell.objects.create(line=line, code="storage", name="Storage")
        station = Equipment.objects.create(cell=cell, code=f"{code}_storage", name="Storage")
        for product_code, (time_s, power_w) in parts.items():
            LinePartParameters.objects.create(
                line=line, product=products[product_code], time_per_part_s=time_s, power_w=power_w
            )
        made += [line, station]
    return Lines(area, made[0], made[2], made[1], made[3])


def test_line_cost_rates_make_both_terms_money_and_let_beta_decide(lines, api_for):
    # 2 A + 4 B: MPS1 is cheaper by the hour (0.50/h), MPS2 by the kWh; at h = 1.0 the
    # energy weight β decides (tests/planning/algorithms/test_dispatch.py has the figures).
    for line, rate in ((lines.line_1, 0.50), (lines.line_2, 0.65)):
        LineCostRates.objects.create(line=line, machine_hour_rate=rate, energy_price_per_kwh=0.40)
    DispatchPolicy.objects.filter(area=lines.area).update(
        imbalance_threshold=1.0, time_weight=2.0, energy_weight=1.0
    )

    by_time = _order(lines, "CO-T", {"PART_A": 2, "PART_B": 4})
    DispatchPolicy.objects.filter(area=lines.area).update(time_weight=1.0, energy_weight=2.0)
    by_energy = _order(lines, "CO-E", {"PART_A": 2, "PART_B": 4})
    listed = api_for("supervisor").get("/api/production/line-cost-rates/")

    assert (by_time.line.code, by_energy.line.code) == ("MPS1", "MPS2")
    mps1 = next(
        item for item in by_time.dispatch_explanation["line_costs"] if item["line_id"] == "MPS1"
    )
    assert mps1["time_cost"] == pytest.approx(2.0 * (2 * 218 + 4 * 156) * 0.50 / 3600)
    assert (mps1["machine_hour_rate"], mps1["energy_price_per_kwh"]) == (0.50, 0.40)
    assert listed.status_code == 200
    assert [
        (row["line_code"], row["machine_hour_rate"], row["energy_price_per_kwh"])
        for row in listed.json()["results"]
    ] == [("MPS1", 0.5, 0.4), ("MPS2", 0.65, 0.4)]


def test_lines_without_rates_take_the_area_policy_defaults(lines):
    DispatchPolicy.objects.filter(area=lines.area).update(
        machine_hour_rate=36.0, energy_price_per_kwh=0.5
    )

    order = _order(lines, "CO-D", {"PART_C": 1})

    line_costs = {item["line_id"]: item for item in order.dispatch_explanation["line_costs"]}
    assert line_costs["MPS1"]["time_cost"] == pytest.approx(128 * 36.0 / 3600)
    assert line_costs["MPS2"]["energy_price_per_kwh"] == 0.5


def _order(lines, number, parts, *, dispatch=True):
    return customer_order_create(
        number=number, area_id=lines.area.pk, parts=parts, dispatch=dispatch
    )


class Event:
    def __init__(self, equipment, ts, station, order, result=None):
        self.equipment_path = equipment.uns_path
        self.ts = ts
        self.kind = "station"
        self.data = {"station": station, "order": order}
        if result is not None:
            self.data["result"] = result


def _run_through(order, station_equipment, start, *, fail_first=False):
    """Every station event of a healthy run (optionally one failed quality control)."""
    events = []
    moment = start
    for station in STATIONS:
        moment += timedelta(seconds=10)
        events.append(Event(station_equipment, moment, station, order.number))
    if fail_first:
        moment += timedelta(seconds=10)
        events.append(Event(station_equipment, moment, "quality_control", order.number, "fail"))
        moment += timedelta(seconds=10)
        events.append(Event(station_equipment, moment, "machining", order.number))
    for station, result in [
        ("quality_control", "pass"),
        ("storage", None),
        ("update_stock", None),
        ("complete", None),
    ]:
        moment += timedelta(seconds=10)
        events.append(Event(station_equipment, moment, station, order.number, result))
    return events


# --- online dispatch -----------------------------------------------------------------------------


def test_close_costs_go_to_the_least_loaded_line(lines):
    first = _order(lines, "CO-1", {"PART_B": 5})
    second = _order(lines, "CO-2", {"PART_B": 5})
    assert (first.state, first.line_id) == ("dispatched", lines.line_2.pk)  # tie: cheaper
    assert (second.state, second.line_id) == ("dispatched", lines.line_1.pk)  # less loaded
    explanation = second.dispatch_explanation
    assert (explanation["method"], explanation["rule"], explanation["line"]) == (
        "online",
        "lowest_load",
        "MPS1",
    )
    assert explanation["cost_ratio"] == pytest.approx((5 * 156 + 0.0) / (5 * 154), rel=1e-3)
    assert explanation["threshold"] == 1.3
    assert "the line with the lowest load" in explanation["message"]
    assert {cost["line_id"]: cost["load_units"] for cost in explanation["line_costs"]} == {
        "MPS1": 0,
        "MPS2": 5,
    }


def test_a_large_cost_difference_sends_the_order_to_the_cheapest_line(lines):
    _order(lines, "CO-1", {"PART_B": 20})  # line 2 now carries 20 units, line 1 none
    order = _order(lines, "CO-2", {"PART_A": 4})
    assert order.line_id == lines.line_2.pk
    assert order.dispatch_explanation["rule"] == "cheapest_line"
    assert order.dispatch_explanation["cost_ratio"] > 1.3


def test_without_room_the_order_waits_and_completion_frees_capacity(lines):
    full_2 = _order(lines, "CO-1", {"PART_B": 40})
    _order(lines, "CO-2", {"PART_B": 40})
    waiting = _order(lines, "CO-3", {"PART_C": 10})
    assert (waiting.state, waiting.line_id) == ("backlog", None)
    assert waiting.dispatch_explanation["rule"] == "backlog"
    assert "no line has room" in waiting.dispatch_explanation["message"]
    assert customer_orders_backlog_retry(area_id=lines.area.pk) == []
    result = line_order_events_ingest(events=_run_through(full_2, lines.station_2, timezone.now()))
    assert (result.accepted, result.rejected) == (9, [])
    waiting.refresh_from_db()
    assert (waiting.state, waiting.line_id) == ("dispatched", lines.line_2.pk)
    assert waiting.dispatch_explanation["rule"] == "only_line_with_capacity"


def test_bad_orders_are_refused_with_clear_messages(lines):
    Product.objects.create(code="BOLT", name="Bolt")
    with pytest.raises(ValidationFailed, match="Unknown part type\\(s\\) PART_Z") as unknown:
        _order(lines, "CO-Z", {"PART_Z": 2})
    assert unknown.value.code == "unknown_part_type"
    assert unknown.value.detail["known"] == ["PART_A", "PART_B", "PART_C"]
    with pytest.raises(ValidationFailed, match="no line makes part type\\(s\\) BOLT") as bolt:
        _order(lines, "CO-BOLT", {"BOLT": 2})
    assert bolt.value.code == "unknown_part_type"
    with pytest.raises(ValidationFailed, match="41 units exceed the largest line capacity") as big:
        _order(lines, "CO-BIG", {"PART_A": 20, "PART_B": 21})
    assert big.value.code == "order_too_large"
    with pytest.raises(ValidationFailed, match="whole number ≥ 1") as zero:
        _order(lines, "CO-0", {"PART_A": 0})
    assert zero.value.code == "invalid_quantity"
    with pytest.raises(ValidationFailed, match="at least one part type"):
        _order(lines, "CO-E", {})
    with pytest.raises(NotFound):
        customer_order_create(number="CO-X", area_id=999999, parts={"PART_A": 1})
    assert not CustomerOrder.objects.exists()
    _order(lines, "CO-1", {"PART_A": 1})
    with pytest.raises(Conflict, match="exists already"):
        _order(lines, "CO-1", {"PART_A": 1})
    assert CustomerOrder.objects.count() == 1


def test_pending_orders_wait_for_an_explicit_dispatch(lines):
    order = _order(lines, "CO-1", {"PART_C": 3}, dispatch=False)
    assert (order.state, order.line_id) == ("pending", None)
    dispatched = customer_order_dispatch(order_id=order.pk)
    assert dispatched.state == "dispatched"
    with pytest.raises(Conflict, match="only pending or backlogged orders"):
        customer_order_dispatch(order_id=order.pk)


# --- batch ---------------------------------------------------------------------------------


def test_batch_dispatch_respects_capacity_and_prefers_the_cheaper_line(lines):
    orders = [
        _order(lines, f"CO-{index}", parts, dispatch=False)
        for index, parts in enumerate(
            [
                {"PART_A": 10},
                {"PART_A": 10},
                {"PART_A": 10},
                {"PART_B": 15},
                {"PART_C": 15},
                {"PART_A": 25},
            ]
        )
    ]
    outcome = customer_orders_dispatch_batch(area_id=lines.area.pk)
    assert outcome.method in {"lp_then_milp", "lp_then_whole_milp", "milp"}
    assert outcome.mip_gap is not None and outcome.mip_gap <= 0.005
    assert outcome.refused == []
    assert len(outcome.dispatched) + len(outcome.backlogged) == len(orders)
    # 85 units for 80 places: one order waits — the one with the smallest backlog penalty
    # (10 × its highest line cost): C×15, 10·15·128 s, below any A or B order's.
    assert outcome.backlogged == ["CO-4"]
    units = {lines.line_1.pk: 0, lines.line_2.pk: 0}
    for order in CustomerOrder.objects.filter(state="dispatched").prefetch_related("lines"):
        units[order.line_id] += sum(line.quantity for line in order.lines.all())
        assert order.dispatch_explanation["method"].startswith("batch:")
        assert order.dispatch_explanation["rule"] == "batch_min_total_cost"
    assert all(load <= 40 for load in units.values())
    # Line 2 saves 62 s per A part (1–2 s for B and C): it takes the most A units that fit,
    # A×25 and one A×10, and nothing else.
    on_2 = CustomerOrder.objects.filter(line=lines.line_2).prefetch_related("lines__product")
    assert {line.product.code for order in on_2 for line in order.lines.all()} == {"PART_A"}
    assert units[lines.line_2.pk] == 35
    assert CustomerOrder.objects.get(number="CO-5").line_id == lines.line_2.pk
    waiting = CustomerOrder.objects.get(number="CO-4")
    assert waiting.state == "backlog" and "no room left" in waiting.dispatch_explanation["message"]


# --- cancel and override ------------------------------------------------------------------------


def test_cancel_frees_capacity_for_the_backlog(lines, make_user):
    big = _order(lines, "CO-1", {"PART_B": 40})
    _order(lines, "CO-2", {"PART_B": 40})
    waiting = _order(lines, "CO-3", {"PART_B": 5})
    cancelled = customer_order_cancel(
        order_id=big.pk, actor=make_user("supervisor"), reason="customer withdrew"
    )
    assert (cancelled.state, cancelled.line_stage) == ("cancelled", "cancelled")
    waiting.refresh_from_db()
    assert (waiting.state, waiting.line_id) == ("dispatched", big.line_id)
    with pytest.raises(Exception, match="while it is 'cancelled'"):
        customer_order_cancel(order_id=big.pk, actor=None)


def test_override_is_high_risk_and_applies_on_signed_approval(lines, make_user):
    supervisor = make_user("supervisor")
    order = _order(lines, "CO-1", {"PART_C": 6})
    assert order.line_id == lines.line_2.pk
    action = customer_order_dispatch_override_request(
        order_id=order.pk, line_id=lines.line_1.pk, actor=supervisor, reason="line 2 short-staffed"
    )
    assert (action.kind, action.risk, action.status) == (
        "dispatch_override",
        "high",
        "awaiting_approval",
    )
    assert "line 2 short-staffed" in action.explanation
    order.refresh_from_db()
    assert order.line_id == lines.line_2.pk  # nothing happens before the signature
    approved = action_approve(action_id=action.pk, user=supervisor, password="secret-pass-1")
    assert approved.status == "applied"
    order.refresh_from_db()
    assert (order.line_id, order.dispatch_explanation["method"]) == (lines.line_1.pk, "override")
    action_revert(action_id=action.pk, user=supervisor, reason="staff arrived")
    order.refresh_from_db()
    assert (order.line_id, order.state, order.dispatch_explanation["rule"]) == (
        lines.line_2.pk,
        "dispatched",
        "lowest_load",
    )


def test_override_onto_a_full_line_fails_at_approval(lines, make_user):
    supervisor = make_user("supervisor")
    _order(lines, "CO-1", {"PART_B": 40})
    _order(lines, "CO-2", {"PART_B": 38})
    small = _order(lines, "CO-3", {"PART_B": 2})
    target = lines.line_1 if small.line_id == lines.line_2.pk else lines.line_2
    action = customer_order_dispatch_override_request(
        order_id=small.pk, line_id=target.pk, actor=supervisor
    )
    decided = action_approve(action_id=action.pk, user=supervisor, password="secret-pass-1")
    assert decided.status == "failed"
    assert "has no room" in decided.result["error"]
    small.refresh_from_db()
    assert small.line_id != target.pk
    with pytest.raises(ValidationFailed, match="already"):
        customer_order_dispatch_override_request(
            order_id=small.pk, line_id=small.line_id, actor=supervisor
        )
    assert ProposedAction.objects.count() == 1


# --- station events -------------------------------------------------------------------------


def test_station_events_drive_an_order_to_completion_with_rework(lines):
    from inventory.models import Stock
    from traceability.models import AuditEvent

    order = _order(lines, "CO-1", {"PART_A": 3, "PART_C": 2})
    station = lines.station_1 if order.line_id == lines.line_1.pk else lines.station_2
    start = timezone.now()
    events = _run_through(order, station, start, fail_first=True)
    first_half = line_order_events_ingest(events=events[:6])
    assert (first_half.accepted, first_half.rejected) == (6, [])
    order.refresh_from_db()
    assert (order.state, order.line_stage, order.line_step, order.rework_count) == (
        "in_progress",
        "machining",
        "distribute_pallet",
        1,
    )
    rest = line_order_events_ingest(events=events[6:])
    assert (rest.accepted, rest.rejected) == (5, [])
    order.refresh_from_db()
    assert (order.state, order.line_stage, order.line_step) == ("completed", "complete", "complete")
    assert order.completed_at == events[-2].ts  # update_stock completes; complete confirms
    stock = {
        (row.lot.code, row.location.code): row.quantity
        for row in Stock.objects.select_related("lot", "location")
    }
    assert stock == {
        ("CO-1-PART_A", "FG-STORE"): Decimal("3.000"),
        ("CO-1-PART_C", "FG-STORE"): Decimal("2.000"),
    }
    actions = list(
        AuditEvent.objects.filter(content_type__model="customerorder", object_id=str(order.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions[:3] == ["create", "dispatch", "start"]
    assert actions.count("station quality_control") == 2
    assert actions[-1] == "complete"


def test_bad_station_events_are_rejected_with_reasons(lines):
    order = _order(lines, "CO-1", {"PART_B": 2})
    waiting = _order(lines, "CO-2", {"PART_B": 2}, dispatch=False)
    station = lines.station_1 if order.line_id == lines.line_1.pk else lines.station_2
    other = lines.station_2 if station == lines.station_1 else lines.station_1
    now = timezone.now()
    started = Event(station, now, "order_start", "CO-1")
    ghost = Event(station, now, "order_start", "CO-1")
    ghost.equipment_path = "acme/nowhere/x/y/z/w"
    events = [
        started,
        Event(station, now, "order_start", "CO-1"),  # redelivered: accepted, no change
        Event(station, now + timedelta(seconds=1), "storage", "CO-1"),  # skips steps
        Event(station, now - timedelta(seconds=5), "warehouse_locate", "CO-2"),  # not on line
        Event(other, now + timedelta(seconds=2), "warehouse_locate", "CO-1"),  # wrong line
        Event(station, now, "order_start", "CO-404"),
        Event(station, now, "order_start", "CO-2"),  # not dispatched
        Event(station, now, "quality_control", "CO-1", "maybe"),
        Event(station, now, "painting", "CO-1"),
        Event(station, now + timedelta(seconds=3), "complete", "CO-1"),
        ghost,
    ]
    result = line_order_events_ingest(events=events)
    codes = {index: code for index, code, _ in result.rejected}
    assert codes == {
        2: "transition_not_allowed",
        3: "order_not_on_line",
        4: "wrong_line",
        5: "unknown_order",
        6: "order_not_on_line",
        7: "invalid_event",
        8: "unknown_station",
        9: "transition_not_allowed",
        10: "unknown_equipment",
    }
    assert result.accepted == 2
    messages = {index: message for index, _, message in result.rejected}
    assert "allowed: cancelled, parts_located" in messages[2]
    assert "'complete' comes after 'update_stock'" in messages[9]
    order.refresh_from_db()
    assert (order.state, order.line_stage, order.line_step) == (
        "in_progress",
        "locating_parts",
        "order_start",
    )
    waiting.refresh_from_db()
    assert waiting.state == "pending" and waiting.line_stage == ""
    # A later batch with an event older than the last one applied: stale, nothing moves.
    late = line_order_events_ingest(
        events=[Event(station, now - timedelta(seconds=5), "warehouse_locate", "CO-1")]
    )
    assert [code for _, code, _ in late.rejected] == ["stale_event"]
    order.refresh_from_db()
    assert order.line_stage == "locating_parts"


def test_completion_without_a_finished_goods_location_is_refused(lines):
    from inventory.models import Location

    Location.objects.filter(code="FG-STORE").delete()
    order = _order(lines, "CO-1", {"PART_B": 2})
    station = lines.station_1 if order.line_id == lines.line_1.pk else lines.station_2
    events = _run_through(order, station, timezone.now())
    result = line_order_events_ingest(events=events)
    codes = [(index, code) for index, code, _ in result.rejected]
    assert codes == [(7, "stock_update_failed"), (8, "transition_not_allowed")]
    assert "no finished-goods location 'FG-STORE'" in result.rejected[0][2]
    order.refresh_from_db()
    assert (order.state, order.line_stage) == ("in_progress", "updating_stock")


def test_monitoring_contract_objects_are_accepted(lines):
    order = _order(lines, "CO-1", {"PART_B": 2})
    station = lines.station_1 if order.line_id == lines.line_1.pk else lines.station_2
    event = monitoring.EquipmentEventIn(
        equipment_path=station.uns_path,
        ts=timezone.now(),
        kind="station",
        data={"station": "order_start", "order": "CO-1"},
    )
    assert line_order_events_ingest(events=[event]).accepted == 1
    order.refresh_from_db()
    assert order.state == "in_progress"


def test_what_if_of_a_dispatch_override_compares_the_line_queues(lines, make_user, api_for):
    # 2 C go to MPS2 (costs within h, equal loads: the cheaper line), 6 A too (ratio 1.40:
    # the cheapest line). The override would put the 6 A on the empty MPS1.
    _order(lines, "CO-Q", {"PART_C": 2})
    order = _order(lines, "CO-A", {"PART_A": 6})
    assert (CustomerOrder.objects.get(number="CO-Q").line.code, order.line.code) == (
        "MPS2",
        "MPS2",
    )
    action = customer_order_dispatch_override_request(
        order_id=order.pk, line_id=lines.line_1.pk, actor=make_user("supervisor")
    )

    response = api_for("planner").get(f"/api/production/what-if/actions/{action.pk}/")

    assert response.status_code == 200, response.content
    body = response.json()
    current = {row["work_order"]: row for row in body["current"]["orders"]}
    proposed = {row["work_order"]: row for row in body["proposed"]["orders"]}
    assert (current["CO-A"]["line"], proposed["CO-A"]["line"]) == ("MPS2", "MPS1")
    # Now MPS2 works 2 × 127 s + 6 × 156 s = 1,190 s; with the move MPS1 works 6 × 218 s.
    assert body["current"]["makespan_h"] == round(1190 / 3600, 3)
    assert body["proposed"]["makespan_h"] == round(1308 / 3600, 3)
    assert current["CO-Q"]["completion_at"] == proposed["CO-Q"]["completion_at"]
    assert body["proposed"]["energy_kwh"] > body["current"]["energy_kwh"]
    assert ProposedAction.objects.get(pk=action.pk).status == "awaiting_approval"
