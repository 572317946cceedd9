"""The closed loop on an anomaly, end to end on PostgreSQL, Redis and Mosquitto."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from autonomy.models import ProposedAction
from autonomy.services.guardrails import action_approve, action_reject, action_revert
from inventory.models import ProcurementRequest, Reservation, Stock
from inventory.selectors import item_available
from inventory.services import procurement_request_acknowledge, procurement_requests_fetch
from maintenance import services
from maintenance.models import AnomalyEpisode, ComponentPart, HealthSnapshot, MaintenanceWorkOrder
from maintenance.services.closed_loop import maintenance_window
from mes_site.errors import Conflict
from tests.maintenance.conftest import BearingFeed


def _sick() -> BearingFeed:
    """A bearing close to failure: α at its maximum, recommendation critical."""
    return BearingFeed(onset_h=0.0, failure_h=20.0, seed=11)


def _anomaly(spindle, *, hour: float = 5.0, capture=None):
    _sick().write(spindle, 18.0, 8, offset_s=hour * 3600)
    if capture is None:
        return services.health_refresh(equipment_id=spindle.equipment.pk)
    with capture(execute=True):
        return services.health_refresh(equipment_id=spindle.equipment.pk)


@pytest.fixture
def supervisor(make_user):
    return make_user("supervisor", username="sup")


def test_anomaly_creates_one_order_one_reservation_and_publishes_diagnostics(
    spares,
    policies,
    autonomy,
    baseline_learned,
    eager_celery,
    uns_listener,
    no_scheduler,
    django_capture_on_commit_callbacks,
):
    autonomy("full")
    outcome = _anomaly(spares, capture=django_capture_on_commit_callbacks)
    snapshot = outcome.snapshot
    assert (snapshot.is_anomaly, snapshot.recommendation, outcome.loop_ran) == (
        True,
        "critical",
        True,
    )
    episode = AnomalyEpisode.objects.get(equipment=spares.equipment)

    order = MaintenanceWorkOrder.objects.get(equipment=spares.equipment)
    assert (order.number, order.kind, order.state, order.priority) == (
        f"PDM-{episode.pk:06d}",
        "predictive",
        "requested",
        "critical",
    )
    assert (order.component, order.anomaly_episode_id) == ("spindle_bearing", episode.pk)
    assert order.window_end_at - order.window_start_at <= timedelta(hours=24)
    reservation = Reservation.objects.get()
    assert (reservation.status, reservation.quantity, reservation.maintenance_work_order_id) == (
        "active",
        Decimal(1),
        order.pk,
    )
    # Reserved, not issued: on hand stays 2, available drops to 1.
    assert Stock.objects.get(pk=reservation.stock_id).quantity == Decimal(2)
    assert item_available(item_id=spares.bearing.pk, site_id=spares.site.pk) == Decimal(1)
    assert not ProcurementRequest.objects.exists()
    actions = ProposedAction.objects.order_by("id")
    assert [(a.kind, a.status) for a in actions] == [
        ("maintenance_order", "applied"),
        ("part_reservation", "applied"),
    ]
    assert "impulsive vibration" in actions[1].explanation
    assert actions[0].dedupe_key == f"anomaly:{spares.equipment.pk}:{episode.pk}:maintenance_order"

    topic, payload, qos, retain = uns_listener.wait_for(1)[0]
    assert topic == f"{uns_listener.root}/{spares.equipment.uns_path}/_diagnostics"
    assert (qos, retain) == (1, False)  # a live subscriber receives it as a new message
    diagnostics = json.loads(payload)
    assert diagnostics["work_order_number"] == order.number
    assert diagnostics["recommendation"] == "critical"
    assert diagnostics["alpha"] == pytest.approx(snapshot.alpha)
    assert diagnostics["ts"] == snapshot.ts.isoformat().replace("+00:00", "Z")
    assert diagnostics["component"] == "spindle_bearing"
    assert {"rul_p10_h", "rul_p50_h", "rul_p90_h", "rul_state"} <= set(diagnostics)
    assert no_scheduler == [
        {
            "site_id": spares.site.pk,
            "trigger": "health_change",
            "detail": f"{spares.equipment.code}: recommendation critical, "
            f"α {snapshot.alpha:.2f}, anomaly",
        }
    ]


def test_a_repeated_anomaly_of_the_same_episode_creates_nothing_twice(
    spares, policies, autonomy, baseline_learned, no_scheduler
):
    autonomy("full")
    _anomaly(spares, hour=5.0)
    again = _anomaly(spares, hour=6.0)
    later = _anomaly(spares, hour=9.0)
    assert again.snapshot.is_anomaly and later.snapshot.is_anomaly
    assert (again.loop_ran, later.loop_ran) == (False, False)
    assert AnomalyEpisode.objects.count() == 1
    assert MaintenanceWorkOrder.objects.count() == 1
    assert Reservation.objects.count() == 1
    assert ProposedAction.objects.count() == 2
    assert item_available(item_id=spares.bearing.pk, site_id=spares.site.pk) == Decimal(1)


def test_no_stock_means_a_procurement_request_for_the_erp(
    spares, policies, autonomy, baseline_learned, supervisor, no_scheduler
):
    autonomy("full")
    Reservation.objects.create(  # all stock is set aside for another job already
        stock=Stock.objects.get(), quantity=Decimal(2), reference="other", created_at=timezone.now()
    )
    _anomaly(spares)
    order = MaintenanceWorkOrder.objects.get()
    assert Reservation.objects.count() == 1
    request_action = ProposedAction.objects.get(kind="procurement_request")
    # High risk: waits for a supervisor even in full autonomy.
    assert request_action.status == "awaiting_approval"
    assert "is not in stock" in request_action.explanation
    assert not ProcurementRequest.objects.exists()
    action_approve(action_id=request_action.pk, user=supervisor, password="secret-pass-1")
    request = ProcurementRequest.objects.get()
    assert (request.status, request.quantity, request.item_id, request.reference) == (
        "pending",
        Decimal(1),
        spares.bearing.pk,
        order.number,
    )
    assert request.maintenance_work_order_id == order.pk
    assert [row.pk for row in procurement_requests_fetch()] == [request.pk]
    assert procurement_requests_fetch() == []
    procurement_request_acknowledge(request_id=request.pk, erp_reference="PO-4711")
    request.refresh_from_db()
    assert (request.status, request.erp_reference, request.send_count) == (
        "acknowledged",
        "PO-4711",
        1,
    )
    _anomaly(spares, hour=7.0)
    assert ProcurementRequest.objects.count() == 1


def test_autonomy_off_only_proposes(spares, policies, autonomy, baseline_learned, no_scheduler):
    autonomy("off")
    _anomaly(spares)
    assert [(a.kind, a.status) for a in ProposedAction.objects.order_by("id")] == [
        ("maintenance_order", "proposed"),
        ("part_reservation", "proposed"),
    ]
    assert not MaintenanceWorkOrder.objects.exists()
    assert not Reservation.objects.exists()
    assert not ProcurementRequest.objects.exists()
    assert item_available(item_id=spares.bearing.pk, site_id=spares.site.pk) == Decimal(2)


def test_supervised_applies_the_reservation_and_links_it_when_the_order_is_approved(
    spares, policies, autonomy, baseline_learned, supervisor, no_scheduler
):
    autonomy("supervised")
    _anomaly(spares)
    order_action = ProposedAction.objects.get(kind="maintenance_order")
    assert order_action.status == "awaiting_approval"
    reservation = Reservation.objects.get()
    assert (reservation.status, reservation.maintenance_work_order_id) == ("active", None)
    action_approve(action_id=order_action.pk, user=supervisor, password="secret-pass-1")
    order = MaintenanceWorkOrder.objects.get()
    reservation.refresh_from_db()
    assert reservation.maintenance_work_order_id == order.pk
    assert order.requested_by == supervisor  # the approver


def test_a_rejected_order_frees_its_reservation(
    spares, policies, autonomy, baseline_learned, supervisor, no_scheduler
):
    from maintenance.tasks import procurement_housekeeping

    autonomy("supervised")
    _anomaly(spares)
    order_action = ProposedAction.objects.get(kind="maintenance_order")
    action_reject(action_id=order_action.pk, user=supervisor, reason="false alarm")
    assert procurement_housekeeping.apply().get() == {"stale": 0, "orphans_released": 1}
    assert Reservation.objects.get().status == "released"
    assert procurement_housekeeping.apply().get() == {"stale": 0, "orphans_released": 0}


def test_equipment_without_spare_mapping_still_gets_its_order(
    spindle, policies, autonomy, baseline_learned, no_scheduler
):
    autonomy("full")
    assert not ComponentPart.objects.exists()
    _anomaly(spindle)
    order = MaintenanceWorkOrder.objects.get()
    assert order.component == ""
    action = ProposedAction.objects.get()
    assert action.kind == "maintenance_order"
    assert (
        f"No spare part mapped for {spindle.equipment.code}: no reservation or procurement "
        "request was made." in action.explanation
    )
    assert AnomalyEpisode.objects.get().loop_result["spare"] == "no spare part mapped"
    assert not Reservation.objects.exists() and not ProcurementRequest.objects.exists()


def test_reverting_each_handler_undoes_its_effect(
    spares, policies, autonomy, baseline_learned, supervisor, no_scheduler
):
    autonomy("full")
    _anomaly(spares)
    reservation_action = ProposedAction.objects.get(kind="part_reservation")
    action_revert(action_id=reservation_action.pk, user=supervisor, reason="wrong part")
    assert Reservation.objects.get().status == "released"
    assert item_available(item_id=spares.bearing.pk, site_id=spares.site.pk) == Decimal(2)

    order_action = ProposedAction.objects.get(kind="maintenance_order")
    action_revert(action_id=order_action.pk, user=supervisor, reason="false alarm")
    assert MaintenanceWorkOrder.objects.get().state == "cancelled"
    assert ProposedAction.objects.get(pk=order_action.pk).status == "reverted"


def test_reverting_the_order_releases_its_reservation_and_a_procurement_revert_cancels(
    spares, policies, autonomy, baseline_learned, supervisor, no_scheduler
):
    autonomy("full")
    _anomaly(spares)
    order_action = ProposedAction.objects.get(kind="maintenance_order")
    action_revert(action_id=order_action.pk, user=supervisor, reason="false alarm")
    assert Reservation.objects.get().status == "released"

    spares_other = spares  # second equipment episode: no stock → procurement request
    ComponentPart.objects.filter(component="spindle_bearing").delete()
    ComponentPart.objects.filter(component="hydraulic_seal").update(quantity_per_replacement=9)
    AnomalyEpisode.objects.update(state="closed", ended_at=timezone.now())
    _anomaly(spares_other, hour=30.0)
    request_action = ProposedAction.objects.get(kind="procurement_request")
    assert (
        "SP-SEAL-40" in request_action.explanation and "first mapped" in request_action.explanation
    )
    action_approve(action_id=request_action.pk, user=supervisor, password="secret-pass-1")
    request = ProcurementRequest.objects.get()
    procurement_request_acknowledge(request_id=request.pk, erp_reference="PO-1")
    with pytest.raises(Conflict, match="acknowledged by the ERP"):
        action_revert(action_id=request_action.pk, user=supervisor, reason="too late")
    assert ProposedAction.objects.get(pk=request_action.pk).status == "applied"
    assert ProcurementRequest.objects.get().status == "acknowledged"


def test_a_pending_procurement_revert_cancels_the_request(
    spares, policies, autonomy, baseline_learned, supervisor, no_scheduler
):
    autonomy("full")
    Reservation.objects.create(
        stock=Stock.objects.get(), quantity=Decimal(2), reference="other", created_at=timezone.now()
    )
    _anomaly(spares)
    request_action = ProposedAction.objects.get(kind="procurement_request")
    action_approve(action_id=request_action.pk, user=supervisor, password="secret-pass-1")
    action_revert(action_id=request_action.pk, user=supervisor, reason="found one")
    assert ProcurementRequest.objects.get().status == "cancelled"
    assert procurement_requests_fetch() == []


def test_completing_the_predictive_order_closes_the_episode(
    spares, policies, autonomy, baseline_learned, no_scheduler
):
    autonomy("full")
    _anomaly(spares)
    order = MaintenanceWorkOrder.objects.get()
    window = {
        "window_start_at": timezone.now(),
        "window_end_at": timezone.now() + timedelta(hours=2),
    }
    services.maintenance_work_order_schedule(order_id=order.pk, actor=None, **window)
    services.maintenance_work_order_start(order_id=order.pk, actor=None)
    services.maintenance_work_order_complete(order_id=order.pk, actor=None)
    episode = AnomalyEpisode.objects.get()
    assert (episode.state, episode.end_reason) == ("closed", f"{order.number} done")
    # The bearing is still sick in the data: the next anomaly opens a new episode and order.
    _anomaly(spares, hour=8.0)
    assert AnomalyEpisode.objects.count() == 2
    assert MaintenanceWorkOrder.objects.count() == 2


def test_diagnostics_publish_failure_never_breaks_the_loop(
    spares,
    policies,
    autonomy,
    baseline_learned,
    eager_celery,
    settings,
    no_scheduler,
    django_capture_on_commit_callbacks,
    caplog,
):
    from maintenance.tasks import diagnostics_publish

    autonomy("full")
    settings.MQTT_URL = "mqtt://127.0.0.1:1"  # nothing listens there
    outcome = _anomaly(spares, capture=django_capture_on_commit_callbacks)
    assert MaintenanceWorkOrder.objects.count() == 1
    assert HealthSnapshot.objects.filter(pk=outcome.snapshot.pk).exists()
    assert "not published after 7 attempts" in caplog.text
    assert diagnostics_publish.apply(args=[outcome.snapshot.pk]).get() is None


def test_window_ends_before_rul_p10_and_never_before_the_job_fits():
    now = timezone.now()
    snapshot = HealthSnapshot(
        ts=now - timedelta(hours=1),
        recommendation="high",
        rul_state="estimated",
        rul_p10_h=49.0,
        rul_p50_h=80.0,
        rul_p90_h=120.0,
    )
    start, end, why = maintenance_window(snapshot, now=now, duration_h=4.0)
    assert (start, end) == (now, now + timedelta(hours=48))
    assert why == f"before RUL p10 (49 h after {snapshot.ts:%Y-%m-%d %H:%M} UTC)"
    snapshot.rul_p10_h = 2.0
    start, end, why = maintenance_window(snapshot, now=now, duration_h=4.0)
    assert end == now + timedelta(hours=4)
    assert why.endswith("at once (less time left than the job takes)")
    snapshot.rul_state, snapshot.rul_p10_h, snapshot.recommendation = (
        "not_degrading",
        None,
        "critical",
    )
    _, end, why = maintenance_window(snapshot, now=now, duration_h=4.0)
    assert (end, why) == (now + timedelta(hours=24), "critical recommendation: within 24 h")
