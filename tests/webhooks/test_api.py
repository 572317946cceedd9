"""The webhook API as an ERP uses it with its token: subscribe (the secret once), receive
signed events, switch off, rotate, read the log and the backlog, replay; bad input is a 400
with the field; a user scoped to a site manages only that site's subscriptions."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook

from integration.choices import DeliveryStatus, EventType
from integration.models import WebhookDelivery, WebhookSubscription
from integration.services.deliveries import deliveries_send_due
from integration.services.events import emit
from tests.api_tokens import make_api_token

pytestmark = pytest.mark.django_db

SUBSCRIPTIONS = "/api/integration/webhook-subscriptions/"
DELIVERIES = "/api/integration/webhook-deliveries/"


def _client_of(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {make_api_token(user)}")
    return client


@pytest.fixture
def erp(make_user) -> APIClient:
    return _client_of(make_user("integration", username="erp"))


def _subscribe(client, receiver, path="/erp", **extra):
    body = {
        "name": "ERP",
        "target_url": receiver.url(path),
        "event_types": [EventType.WORK_ORDER_RELEASED],
        **extra,
    }
    return client.post(SUBSCRIPTIONS, body, format="json")


def test_an_erp_subscribes_by_api_and_verifies_what_it_receives_with_the_secret(erp, receiver):
    created = _subscribe(erp, receiver)

    assert created.status_code == 201, created.content
    secret = created.json()["secret"]
    assert secret.startswith("whsec_")
    assert created.json()["owner"] == "erp"
    listed = erp.get(SUBSCRIPTIONS).json()["results"]
    assert [row["name"] for row in listed] == ["ERP"]
    assert "secret" not in listed[0]
    assert "secret" not in erp.get(f"{SUBSCRIPTIONS}{created.json()['id']}/").json()

    receiver.url("/erp", secret)
    emit(EventType.WORK_ORDER_RELEASED, {"number": "WO-1"})
    emit(EventType.WORK_ORDER_COMPLETED, {"number": "WO-1"})  # not subscribed
    deliveries_send_due()

    accepted = receiver.accepted()
    assert len(accepted) == 1
    Webhook(secret).verify(accepted[0].body, accepted[0].headers)  # raises if not
    log = erp.get(DELIVERIES).json()["results"]
    assert [(row["event_type"], row["status"]) for row in log] == [
        (EventType.WORK_ORDER_RELEASED, DeliveryStatus.DELIVERED)
    ]
    assert log[0]["payload"] == {"number": "WO-1"}


def test_switching_off_and_rotating_the_secret(erp, receiver):
    subscription_id = _subscribe(erp, receiver).json()["id"]
    first_secret = WebhookSubscription.objects.get(pk=subscription_id).secret

    switched_off = erp.patch(f"{SUBSCRIPTIONS}{subscription_id}/", {"is_active": False})
    rotated = erp.post(f"{SUBSCRIPTIONS}{subscription_id}/rotate-secret/")

    assert switched_off.status_code == 200, switched_off.content
    assert switched_off.json()["is_active"] is False
    assert switched_off.json()["event_types"] == [EventType.WORK_ORDER_RELEASED]
    assert rotated.status_code == 200
    assert rotated.json()["secret"] not in ("", first_secret)
    emit(EventType.WORK_ORDER_RELEASED, {"number": "WO-2"})
    assert not WebhookDelivery.objects.exists()

    replaced = erp.put(
        f"{SUBSCRIPTIONS}{subscription_id}/",
        {
            "name": "ERP 2",
            "target_url": receiver.url("/erp2"),
            "event_types": [EventType.LOT_ON_HOLD, EventType.WORK_ORDER_COMPLETED],
        },
        format="json",
    )
    assert replaced.status_code == 200, replaced.content
    assert replaced.json()["is_active"] is True  # a PUT names everything; defaults fill in
    assert replaced.json()["event_types"] == [
        EventType.LOT_ON_HOLD,
        EventType.WORK_ORDER_COMPLETED,
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"event_types": ["work_order.exploded"]}, "event_types"),
        ({"event_types": []}, "event_types"),
        ({"target_url": "ftp://erp.example/hook"}, "target_url"),
        ({"target_url": "not a url"}, "target_url"),
        ({"site_id": "1"}, "site_id"),
        ({"site_id": 2**63}, "site_id"),
        ({"name": ""}, "name"),
        ({"is_active": "maybe"}, "is_active"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(erp, receiver, body, field):
    answer = _subscribe(erp, receiver, **body)

    assert answer.status_code == 400, answer.content
    assert answer.json()["code"] == "invalid"
    assert field in answer.json()["detail"]
    assert not WebhookSubscription.objects.exists()


def test_no_delete_a_subscription_is_switched_off_instead(erp, receiver):
    subscription_id = _subscribe(erp, receiver).json()["id"]

    answer = erp.delete(f"{SUBSCRIPTIONS}{subscription_id}/")

    assert answer.status_code == 405
    assert "DELETE" not in answer["Allow"]
    assert WebhookSubscription.objects.filter(pk=subscription_id).exists()


def test_delivery_log_filters_backlog_and_replay(erp, receiver):
    subscription_id = _subscribe(erp, receiver).json()["id"]
    receiver.url("/erp", WebhookSubscription.objects.get(pk=subscription_id).secret)
    emit(EventType.WORK_ORDER_RELEASED, {"number": "WO-1"})
    deliveries_send_due()
    emit(EventType.WORK_ORDER_RELEASED, {"number": "WO-2"})  # still pending

    backlog = erp.get(f"{DELIVERIES}backlog/").json()
    delivered = erp.get(DELIVERIES, {"status": "delivered"}).json()["results"]
    pending = erp.get(DELIVERIES, {"status": "pending"}).json()["results"]
    refused = erp.post(f"{DELIVERIES}{pending[0]['id']}/replay/")
    replayed = erp.post(f"{DELIVERIES}{delivered[0]['id']}/replay/")

    assert backlog["pending_count"] == 1
    assert backlog["parked_count"] == 0
    assert backlog["oldest_pending_age_s"] >= 0
    assert [row["payload"]["number"] for row in delivered] == ["WO-1"]
    assert refused.status_code == 409
    assert refused.json()["detail"] == {"status": "pending"}
    assert replayed.status_code == 200, replayed.content
    assert replayed.json()["status"] == DeliveryStatus.PENDING
    assert replayed.json()["replay_count"] == 1
    bad_filter = erp.get(DELIVERIES, {"status": "lost"})
    assert bad_filter.status_code == 400


def test_roles_without_the_webhook_permissions_are_refused(api_for, receiver):
    for role in ("operator", "planner", "maintenance"):
        client = api_for(role, username=f"{role}-1")
        assert client.get(SUBSCRIPTIONS).status_code == 403
        assert client.get(DELIVERIES).status_code == 403
        assert _subscribe(client, receiver).status_code == 403


def test_a_site_scoped_user_manages_only_the_subscriptions_of_their_site(
    plant, make_user, erp, receiver
):
    own = _subscribe(erp, receiver, "/own", site_id=plant.site.pk).json()["id"]
    foreign = _subscribe(erp, receiver, "/foreign", site_id=plant.other_site.pk).json()["id"]
    _subscribe(erp, receiver, "/all")  # plant-wide: every site's events
    emit(EventType.WORK_ORDER_RELEASED, {"number": "WO-1"}, site=plant.site.pk)
    emit(EventType.WORK_ORDER_RELEASED, {"number": "WO-9"}, site=plant.other_site.pk)
    # The integration role sees the whole plant; a supervisor of one site may be given the
    # webhook permissions and stays scoped to the site.
    user = make_user("supervisor", sites=[plant.site], username="site-erp")
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="integration"))
    client = _client_of(user)

    listed = client.get(SUBSCRIPTIONS).json()["results"]
    log = client.get(DELIVERIES).json()["results"]
    foreign_delivery = WebhookDelivery.objects.get(subscription_id=foreign)

    assert [row["id"] for row in listed] == [own]
    assert {row["subscription"] for row in log} == {own}
    assert client.get(f"{SUBSCRIPTIONS}{foreign}/").status_code == 404
    assert client.patch(f"{SUBSCRIPTIONS}{foreign}/", {"is_active": False}).status_code == 404
    assert client.post(f"{SUBSCRIPTIONS}{foreign}/rotate-secret/").status_code == 404
    assert client.post(f"{DELIVERIES}{foreign_delivery.pk}/replay/").status_code == 404
    assert WebhookSubscription.objects.get(pk=foreign).is_active is True
    for site_id in (plant.other_site.pk, None):
        answer = _subscribe(client, receiver, "/x", site_id=site_id)
        assert answer.status_code == 400
        assert "site_id" in answer.json()["detail"]
    moved = client.patch(f"{SUBSCRIPTIONS}{own}/", {"site_id": plant.other_site.pk}, format="json")
    assert moved.status_code == 400
    assert WebhookSubscription.objects.get(pk=own).site_id == plant.site.pk
    assert client.get(f"{DELIVERIES}backlog/").json()["pending_count"] == 1
