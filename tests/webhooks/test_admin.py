"""The webhook admin: a subscription's secret shown once and rotatable, the delivery log's
filters and its replay action (through the service), the admin role's permissions."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from integration.choices import DeliveryStatus, EventType
from integration.models import WebhookDelivery, WebhookSubscription
from integration.services.events import emit
from tests.mfa import login_verified

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user_client(client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw-123456789")
    login_verified(client, user)
    return client


def test_a_new_subscription_shows_its_secret_once(admin_user_client):
    response = admin_user_client.post(
        "/admin/integration/webhooksubscription/add/",
        {
            "name": "ERP",
            "target_url": "https://erp.example.com/hooks",
            "event_types": ["work_order.released", "lot.on_hold"],
            "is_active": "on",
        },
        follow=True,
    )

    subscription = WebhookSubscription.objects.get()
    assert subscription.secret.startswith("whsec_")
    assert subscription.event_types == ["work_order.released", "lot.on_hold"]
    assert subscription.owner.username == "root"
    assert subscription.secret in response.content.decode()
    change = admin_user_client.get(
        f"/admin/integration/webhooksubscription/{subscription.pk}/change/"
    )
    assert change.status_code == 200
    assert subscription.secret not in change.content.decode()


def test_the_admin_refuses_a_url_that_is_not_http(admin_user_client):
    response = admin_user_client.post(
        "/admin/integration/webhooksubscription/add/",
        {"name": "ERP", "target_url": "ftp://erp.example.com/", "event_types": ["lot.on_hold"]},
    )
    assert response.status_code == 200  # the form again, with the error
    assert WebhookSubscription.objects.count() == 0


def test_rotating_shows_the_new_secret_once(admin_user_client, subscribe):
    subscription = subscribe()
    old_secret = subscription.secret

    response = admin_user_client.post(
        "/admin/integration/webhooksubscription/",
        {"action": "rotate_secret", "_selected_action": [subscription.pk]},
        follow=True,
    )

    subscription.refresh_from_db()
    assert subscription.secret != old_secret
    assert subscription.secret in response.content.decode()
    assert subscription.secret_rotated_at is not None


def test_the_delivery_log_filters_and_replays_parked_deliveries(admin_user_client, subscribe):
    subscribe(event_types=["work_order.released", "lot.on_hold"])
    emit(EventType.WORK_ORDER_RELEASED, {"number": "WO-1"})
    emit(EventType.LOT_ON_HOLD, {"code": "LOT-1"})
    parked = WebhookDelivery.objects.get(event__event_type="lot.on_hold")
    WebhookDelivery.objects.filter(pk=parked.pk).update(status=DeliveryStatus.PARKED)
    pending = WebhookDelivery.objects.get(event__event_type="work_order.released")

    page = admin_user_client.get("/admin/integration/webhookdelivery/?status__exact=parked")
    assert page.status_code == 200
    assert parked.webhook_id in page.content.decode()
    assert pending.webhook_id not in page.content.decode()

    response = admin_user_client.post(
        "/admin/integration/webhookdelivery/",
        {"action": "replay_deliveries", "_selected_action": [parked.pk, pending.pk]},
        follow=True,
    )

    parked.refresh_from_db()
    assert parked.status == DeliveryStatus.PENDING and parked.replay_count == 1
    pending.refresh_from_db()
    assert pending.replay_count == 0  # still open: refused, with a message
    assert "still being delivered" in response.content.decode()
    detail = admin_user_client.get(f"/admin/integration/webhookdelivery/{parked.pk}/change/")
    assert detail.status_code == 200 and "LOT-1" in detail.content.decode()


def test_the_admin_and_integration_roles_manage_webhooks_and_other_roles_do_not():
    for role in ("admin", "integration"):  # the ERP manages its own by API
        codenames = set(
            Group.objects.get(name=role)
            .permissions.filter(content_type__app_label="integration")
            .values_list("codename", flat=True)
        )
        assert {"add_webhooksubscription", "change_webhookdelivery"} <= codenames
    for role in ("operator", "supervisor", "planner", "maintenance", "quality"):
        assert (
            not Group.objects.get(name=role)
            .permissions.filter(content_type__app_label="integration")
            .exists()
        )
