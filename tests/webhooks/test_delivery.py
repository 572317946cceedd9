"""The outbox and the sender, in the test process, against a real HTTP receiver: events from the
real services, signatures, retries with backoff, order per subscription, parking, replay."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from integration.choices import DeliveryStatus, EventType
from integration.models import OutboxEvent, WebhookDelivery
from integration.services.deliveries import deliveries_send_due, retry_delay_s
from integration.services.events import emit
from integration.services.replay import delivery_replay
from integration.services.subscriptions import subscription_secret_rotate
from mes_site.errors import Conflict

pytestmark = pytest.mark.django_db


def _send_until_settled(*, limit_passes: int = 100) -> list:
    """Run passes with the clock moved to each next attempt, until nothing is open."""
    moment = timezone.now()
    reports = []
    for _ in range(limit_passes):
        reports.append(deliveries_send_due(now=moment))
        waiting = WebhookDelivery.objects.filter(
            status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING]
        )
        if not waiting.exists():
            return reports
        retrying = waiting.filter(status=DeliveryStatus.RETRYING).order_by("next_attempt_at")
        if retrying.exists():  # what the pending ones wait behind
            moment = max(moment, retrying.first().next_attempt_at) + timedelta(microseconds=1)
    raise AssertionError("deliveries did not settle")


def test_every_wired_event_arrives_signed_once_and_in_order(
    plant, make_work_order, receiver, subscribe
):
    from inventory.models import Item
    from inventory.services import procurement_request_create
    from maintenance.services.work_orders import (
        maintenance_work_order_create,
        maintenance_work_order_schedule,
    )
    from production.services import work_order_complete, work_order_release
    from traceability.services import lot_create, lot_set_status

    subscription = subscribe()
    planned = make_work_order()
    running = make_work_order(state="in_progress")
    item = Item.objects.create(code="BRG-6204", name="Bearing")
    lot = lot_create(item=item, code="LOT-1", quantity=Decimal(5), origin="received")

    work_order_release(work_order_id=planned.pk, actor=None)
    work_order_complete(work_order_id=running.pk, actor=None)
    lot_set_status(lot_id=lot.pk, status="on_hold", actor=None, reason="suspect")
    lot_set_status(lot_id=lot.pk, status="scrapped", actor=None, reason="cracked")
    order = maintenance_work_order_create(
        equipment=plant.equipment, kind="corrective", title="Replace bearing"
    )
    now = timezone.now()
    maintenance_work_order_schedule(
        order_id=order.pk,
        window_start_at=now + timedelta(hours=1),
        window_end_at=now + timedelta(hours=3),
        actor=None,
    )
    procurement_request_create(site=plant.site, item=item, quantity=Decimal(2), reason="spare")

    report = deliveries_send_due()

    expected_types = [
        "work_order.released",
        "work_order.completed",
        "lot.on_hold",
        "quality.disposition",
        "maintenance_work_order.created",
        "maintenance_work_order.changed",
        "procurement_request.created",
    ]
    accepted = receiver.accepted()
    bodies = [json.loads(request.body) for request in accepted]
    assert [body["type"] for body in bodies] == expected_types
    assert report.delivered == 7 and report.retrying == 0 and report.parked == 0
    assert all(request.is_verified for request in receiver.snapshot())
    assert len(receiver.snapshot()) == 7
    sequences = [body["sequence"] for body in bodies]
    assert sequences == sorted(sequences)
    assert bodies[0]["data"]["number"] == planned.number
    assert bodies[0]["data"]["state"] == "released"
    assert bodies[1]["data"]["state"] == "completed"
    assert bodies[3]["data"] == {
        "id": lot.pk,
        "code": "LOT-1",
        "item": "BRG-6204",
        "quantity": "5.000",
        "status": "scrapped",
        "previous_status": "on_hold",
        "reason": "cracked",
        "disposition": "scrap",
    }
    assert bodies[5]["data"]["action"] == "schedule"
    assert bodies[6]["data"]["item"] == "BRG-6204"
    delivered = WebhookDelivery.objects.filter(subscription=subscription)
    assert {d.status for d in delivered} == {DeliveryStatus.DELIVERED}
    assert [r.webhook_id for r in accepted] == list(
        delivered.order_by("event_id").values_list("webhook_id", flat=True)
    )
    assert all(d.attempt_count == 1 and d.last_status_code == 200 for d in delivered)
    assert deliveries_send_due().claimed == 0  # nothing is sent twice


def test_a_site_scoped_subscription_gets_only_its_sites_events(plant, receiver, subscribe):
    scoped = subscribe(site_id=plant.site.pk, event_types=["work_order.released"])
    everything = subscribe(event_types=["work_order.released"])

    emit(EventType.WORK_ORDER_RELEASED, {"n": 1}, site=plant.site)
    emit(EventType.WORK_ORDER_RELEASED, {"n": 2}, site=plant.other_site)
    emit(EventType.WORK_ORDER_RELEASED, {"n": 3})
    emit(EventType.LOT_ON_HOLD, {"n": 4}, site=plant.site)

    assert sorted(
        WebhookDelivery.objects.filter(subscription=scoped).values_list(
            "event__payload", flat=True
        ),
        key=str,
    ) == [{"n": 1}]
    assert WebhookDelivery.objects.filter(subscription=everything).count() == 3
    assert OutboxEvent.objects.count() == 4


def test_a_rolled_back_transaction_emits_nothing(
    make_work_order, subscribe, django_capture_on_commit_callbacks
):
    from production.services import work_order_release

    subscribe()
    work_order = make_work_order()

    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        work_order_release(work_order_id=work_order.pk, actor=None)
        assert WebhookDelivery.objects.count() == 1  # written inside the transaction
        raise RuntimeError("the business transaction fails after the release")

    assert OutboxEvent.objects.count() == 0
    assert WebhookDelivery.objects.count() == 0
    assert callbacks == []
    work_order.refresh_from_db()
    assert work_order.state == "planned"

    with django_capture_on_commit_callbacks() as callbacks:
        work_order_release(work_order_id=work_order.pk, actor=None)
    assert OutboxEvent.objects.count() == 1
    assert len(callbacks) == 1  # the kick of the sender, after the commit


def test_a_receiver_failing_five_times_gets_each_delivery_once_in_order(receiver, subscribe):
    subscribe(event_types=["work_order.released"])
    first = emit(EventType.WORK_ORDER_RELEASED, {"number": "WO-1"})
    second = emit(EventType.WORK_ORDER_RELEASED, {"number": "WO-2"})
    receiver.answer = lambda number, webhook_id: 500 if number <= 5 else 200

    reports = _send_until_settled()

    first_delivery = WebhookDelivery.objects.get(event=first)
    second_delivery = WebhookDelivery.objects.get(event=second)
    requests = receiver.snapshot()
    assert [r.webhook_id for r in requests] == [first_delivery.webhook_id] * 6 + [
        second_delivery.webhook_id
    ]
    assert [r.status_code for r in requests] == [500] * 5 + [200, 200]
    assert all(r.is_verified for r in requests)  # every retry signed anew
    assert receiver.processed_once() == [first_delivery.webhook_id, second_delivery.webhook_id]
    assert first_delivery.status == DeliveryStatus.DELIVERED
    assert first_delivery.attempt_count == 6
    assert second_delivery.attempt_count == 1
    assert sum(report.retrying for report in reports) == 5
    assert sum(report.delivered for report in reports) == 2
    # The body is the same bytes on every attempt.
    assert len({r.body for r in requests[:6]}) == 1


def test_the_signature_fails_on_a_changed_body_or_another_secret(receiver, subscribe):
    subscription = subscribe(event_types=["lot.on_hold"])
    emit(EventType.LOT_ON_HOLD, {"code": "LOT-9", "quantity": "5.000"})
    deliveries_send_due()
    (request,) = receiver.snapshot()
    webhook = Webhook(subscription.secret)

    assert webhook.verify(request.body, request.headers)["data"]["code"] == "LOT-9"
    changed = request.body.replace(b"5.000", b"50.00")
    with pytest.raises(WebhookVerificationError):
        webhook.verify(changed, request.headers)
    rotated = subscription_secret_rotate(subscription_id=subscription.pk)
    assert rotated.secret != subscription.secret and rotated.secret.startswith("whsec_")
    with pytest.raises(WebhookVerificationError):
        Webhook(rotated.secret).verify(request.body, request.headers)
    assert request.headers["webhook-signature"].startswith("v1,")
    assert request.headers["webhook-id"].startswith("msg_")


def test_a_delivery_is_parked_after_the_retry_window_and_the_next_one_follows(
    receiver, subscribe, settings
):
    settings.WEBHOOK_RETRY_WINDOW_S = 3600.0
    settings.WEBHOOK_RETRY_BASE_DELAY_S = 60.0
    settings.WEBHOOK_RETRY_MAX_DELAY_S = 600.0
    subscribe(event_types=["work_order.completed"])
    head = emit(EventType.WORK_ORDER_COMPLETED, {"number": "WO-1"})
    emit(EventType.WORK_ORDER_COMPLETED, {"number": "WO-2"})
    head_delivery = WebhookDelivery.objects.get(event=head)
    receiver.answer = lambda number, webhook_id: (
        503 if webhook_id == head_delivery.webhook_id else 200
    )

    _send_until_settled(limit_passes=1000)

    head_delivery.refresh_from_db()
    assert head_delivery.status == DeliveryStatus.PARKED
    assert head_delivery.parked_at is not None
    assert head_delivery.last_status_code == 503
    assert head_delivery.attempt_count >= 2
    requests = receiver.snapshot()
    head_attempts = [r for r in requests if r.webhook_id == head_delivery.webhook_id]
    assert len(head_attempts) == head_delivery.attempt_count
    # The second event waited behind the first while it was retried, then went out once.
    assert [r.status_code for r in requests] == [503] * head_delivery.attempt_count + [200]
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERED).count() == 1
    # Nothing is attempted after parking, however late.
    deliveries_send_due(now=timezone.now() + timedelta(days=30))
    assert len(receiver.snapshot()) == len(requests)


def test_the_backoff_is_full_jitter_under_a_doubling_ceiling(settings):
    import random

    settings.WEBHOOK_RETRY_BASE_DELAY_S = 5.0
    settings.WEBHOOK_RETRY_MAX_DELAY_S = 3600.0
    rng = random.Random(7)
    for attempt_count, ceiling_s in [(1, 5.0), (2, 10.0), (5, 80.0), (20, 3600.0)]:
        delays = [retry_delay_s(attempt_count=attempt_count, rng=rng) for _ in range(200)]
        assert all(0.0 <= delay <= ceiling_s for delay in delays)
        assert max(delays) > 0.8 * ceiling_s  # spread over the whole range
        assert min(delays) < 0.2 * ceiling_s


def test_replay_sends_a_delivered_or_parked_delivery_again_with_the_same_id(receiver, subscribe):
    subscribe(event_types=["procurement_request.created"])
    event = emit(EventType.PROCUREMENT_REQUEST_CREATED, {"number": "PR-1"})
    deliveries_send_due()
    delivery = WebhookDelivery.objects.get(event=event)
    assert delivery.status == DeliveryStatus.DELIVERED

    replayed = delivery_replay(delivery_id=delivery.pk)
    assert replayed.status == DeliveryStatus.PENDING
    with pytest.raises(Conflict):
        delivery_replay(delivery_id=delivery.pk)  # still open: not twice
    deliveries_send_due()

    delivery.refresh_from_db()
    requests = receiver.snapshot()
    assert [r.webhook_id for r in requests] == [delivery.webhook_id] * 2
    assert requests[0].body == requests[1].body
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.replay_count == 1 and delivery.attempt_count == 2
    assert receiver.processed_once() == [delivery.webhook_id]


def test_a_receiver_that_is_down_leaves_the_delivery_retrying(subscribe):
    from integration.services.subscriptions import subscription_update

    subscription = subscribe(event_types=["lot.on_hold"])
    subscription_update(
        subscription_id=subscription.pk,
        name=subscription.name,
        target_url="http://127.0.0.1:9/nothing-listens-here",
        event_types=subscription.event_types,
        site_id=None,
        is_active=True,
    )
    emit(EventType.LOT_ON_HOLD, {"code": "LOT-1"})

    report = deliveries_send_due()

    delivery = WebhookDelivery.objects.get()
    assert report.retrying == 1 and report.delivered == 0
    assert delivery.status == DeliveryStatus.RETRYING
    assert delivery.last_status_code is None
    assert delivery.last_error.startswith("ConnectError")
    assert delivery.claim_token is None and delivery.claimed_until is None


def test_the_status_endpoint_shows_both_erp_backlogs(api_for, plant, subscribe):
    from inventory.models import Item
    from inventory.services import procurement_request_create

    subscribe(event_types=["work_order.released"])
    emit(EventType.WORK_ORDER_RELEASED, {"number": "WO-1"})
    emit(EventType.WORK_ORDER_RELEASED, {"number": "WO-2"})
    WebhookDelivery.objects.filter(event__payload__number="WO-1").update(
        created_at=timezone.now() - timedelta(hours=2)
    )
    item = Item.objects.create(code="BRG", name="Bearing")
    procurement_request_create(site=plant.site, item=item, quantity=Decimal(1))

    body = api_for("supervisor").get("/api/telemetry/status/").json()

    assert body["webhooks"]["pending_count"] == 2
    assert body["webhooks"]["parked_count"] == 0
    assert 7000 < body["webhooks"]["oldest_pending_age_s"] < 7300
    assert body["procurement_outbox"]["pending_count"] == 1
    assert body["procurement_outbox"]["unacknowledged_count"] == 1
    assert body["procurement_outbox"]["oldest_unacknowledged_age_s"] >= 0


def test_the_verification_snippets_of_the_docs_accept_a_real_delivery_and_no_changed_body(
    receiver, subscribe
):
    document = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    section = document.split("## Webhooks", 1)[1]
    by_hand = section.split("Or by hand", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(by_hand, "docs/api.md", "exec"), namespace)  # the snippet of our own docs
    subscription = subscribe(event_types=["lot.on_hold"])
    emit(EventType.LOT_ON_HOLD, {"code": "LOT-7"})
    deliveries_send_due()
    (request,) = receiver.snapshot()

    assert namespace["is_valid"](subscription.secret, request.body, request.headers) is True
    changed = request.body.replace(b"LOT-7", b"LOT-8")
    assert namespace["is_valid"](subscription.secret, changed, request.headers) is False
