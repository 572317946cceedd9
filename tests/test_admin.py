import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse

from tests.mfa import login_verified
from workers.demo_plant import demo_plant_load


@pytest.fixture
def admin_client_with_plant(db, client):
    demo_plant_load()
    user = get_user_model().objects.get(username="admin")
    return login_verified(client, user)


def test_every_admin_page_loads(admin_client_with_plant):
    checked = 0
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        changelist = admin_client_with_plant.get(reverse("admin:{}_{}_changelist".format(*info)))
        assert changelist.status_code == 200, info
        if model_admin.has_add_permission(_request(admin_client_with_plant)):
            add = admin_client_with_plant.get(reverse("admin:{}_{}_add".format(*info)))
            assert add.status_code == 200, info
        first = model._default_manager.first()
        if first is not None:
            change = admin_client_with_plant.get(
                reverse("admin:{}_{}_change".format(*info), args=[first.pk])
            )
            assert change.status_code == 200, info
        checked += 1
    assert checked >= 30


def _request(client):
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = get_user_model().objects.get(username="admin")
    return request


def test_admin_search_and_filters(admin_client_with_plant):
    response = admin_client_with_plant.get("/admin/production/equipment/?q=Spindle")
    assert response.status_code == 200
    assert b"CNC_Spindle_7" in response.content
    assert b"MPS1_machining" not in response.content
    response = admin_client_with_plant.get("/admin/production/workorder/?state__exact=released")
    assert b"WO-DEMO-1001" in response.content


def test_audit_log_is_read_only_in_admin(admin_client_with_plant):
    from traceability.models import AuditEvent

    event = AuditEvent.objects.first()
    assert event is not None
    page = admin_client_with_plant.get(f"/admin/traceability/auditevent/{event.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert admin_client_with_plant.get("/admin/traceability/auditevent/add/").status_code == 403


def test_kill_switch_admin_action(admin_client_with_plant):
    from production.models import Site
    from traceability.models import AuditEvent

    site = Site.objects.get(code="plant1")
    assert site.autonomy_mode == "supervised"
    response = admin_client_with_plant.post(
        "/admin/production/site/",
        {"action": "kill_switch", "_selected_action": [site.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert b"Autonomy is off" in response.content
    assert Site.objects.get(pk=site.pk).autonomy_mode == "off"
    event = AuditEvent.objects.get(action="set autonomy mode")
    assert (event.old_value, event.new_value, event.actor_name) == ("supervised", "off", "admin")
