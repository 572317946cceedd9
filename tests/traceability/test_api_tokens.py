"""API tokens: hashed at rest, with an expiry, revocation and rotation with a grace period,
managed by their owner or an admin (page, Django admin), every change audited."""

from __future__ import annotations

import hashlib
import importlib
from datetime import timedelta

import pytest
from django.apps import apps as global_apps
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from mes_site.errors import Forbidden, ValidationFailed
from tests.mfa import login_verified
from traceability.models import ApiToken, AuditEvent
from traceability.services.api_tokens import (
    api_token_create,
    api_token_revoke,
    api_token_rotate,
)

pytestmark = pytest.mark.django_db

WORK_ORDERS = "/api/production/work-orders/"
TOKENS_PAGE = "/account/tokens/"


def _client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_the_database_holds_only_a_hash_and_a_short_prefix(make_user, plant):
    user = make_user("integration")
    token, key = api_token_create(actor=user, owner=user, name="ERP")
    row = ApiToken.objects.values().get(pk=token.pk)
    stored = " ".join(str(value) for value in row.values())
    assert key not in stored
    assert key[8:] not in stored
    assert row["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert row["prefix"] == key[:8]
    assert len(key) >= 40
    assert _client(key).get(WORK_ORDERS).status_code == 200
    used = ApiToken.objects.get(pk=token.pk)
    assert used.last_used_at is not None


def test_a_new_token_expires_after_the_default_lifetime(make_user, plant, settings):
    settings.API_TOKEN_DEFAULT_TTL_DAYS = 30
    user = make_user("integration")
    before = timezone.now()
    token, _ = api_token_create(actor=user, owner=user, name="ERP")
    assert before + timedelta(days=30) <= token.expires_at <= timezone.now() + timedelta(days=30)


def test_a_lifetime_beyond_the_maximum_is_refused(make_user, settings):
    settings.API_TOKEN_MAX_TTL_DAYS = 365
    user = make_user("integration")
    with pytest.raises(ValidationFailed, match="365"):
        api_token_create(actor=user, owner=user, name="ERP", ttl_days=366)
    with pytest.raises(ValidationFailed):
        api_token_create(actor=user, owner=user, name="", ttl_days=10)
    assert not ApiToken.objects.exists()


def test_an_expired_token_answers_401_in_the_error_format(make_user, plant):
    user = make_user("integration")
    token, key = api_token_create(actor=user, owner=user, name="ERP")
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = _client(key).get(WORK_ORDERS)
    assert response.status_code == 401
    assert response.json() == {
        "code": "token_expired",
        "message": "This API token has expired; create a new one.",
        "detail": {},
    }
    assert response.headers["WWW-Authenticate"] == "Token"


def test_a_revoked_token_answers_401_and_is_audited(make_user, plant):
    user = make_user("integration")
    token, key = api_token_create(actor=user, owner=user, name="ERP")
    api_token_revoke(actor=user, token_id=token.pk)
    response = _client(key).get(WORK_ORDERS)
    assert response.status_code == 401
    assert response.json()["code"] == "token_revoked"
    actions = list(
        AuditEvent.objects.filter(object_id=str(token.pk))
        .order_by("at", "id")
        .values_list("action", flat=True)
    )
    assert actions == ["api_token_create", "api_token_revoke"]


def test_an_unknown_token_answers_401(make_user, plant):
    user = make_user("integration")
    _, key = api_token_create(actor=user, owner=user, name="ERP")
    forged = key[:8] + "x" * (len(key) - 8)
    response = _client(forged).get(WORK_ORDERS)
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_rotation_issues_a_new_token_and_the_old_one_lives_only_for_the_grace(
    make_user, plant, settings
):
    settings.API_TOKEN_ROTATION_GRACE_S = 3600
    user = make_user("integration")
    old, old_key = api_token_create(actor=user, owner=user, name="ERP", ttl_days=90)
    new, new_key = api_token_rotate(actor=user, token_id=old.pk)
    old.refresh_from_db()
    assert new_key != old_key
    assert new.name == "ERP" and new.user == user
    assert old.replaced_by == new
    assert old.expires_at <= timezone.now() + timedelta(seconds=3600)
    assert new.expires_at > timezone.now() + timedelta(days=89)
    assert _client(old_key).get(WORK_ORDERS).status_code == 200  # inside the grace
    assert _client(new_key).get(WORK_ORDERS).status_code == 200
    ApiToken.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _client(old_key).get(WORK_ORDERS).status_code == 401
    assert _client(new_key).get(WORK_ORDERS).status_code == 200
    assert AuditEvent.objects.filter(action="api_token_rotate", object_id=str(old.pk)).exists()
    with pytest.raises(Exception, match="replaced"):
        api_token_rotate(actor=user, token_id=old.pk)


def test_an_owner_manages_their_own_tokens_but_not_another_users(make_user):
    owner = make_user("integration")
    other = make_user("planner")
    token, _ = api_token_create(actor=owner, owner=owner, name="ERP")
    with pytest.raises(Forbidden):
        api_token_create(actor=other, owner=owner, name="mine now")
    with pytest.raises(Forbidden):
        api_token_revoke(actor=other, token_id=token.pk)
    with pytest.raises(Forbidden):
        api_token_rotate(actor=other, token_id=token.pk)
    token.refresh_from_db()
    assert token.revoked_at is None
    assert ApiToken.objects.count() == 1


def test_an_admin_creates_and_revokes_a_token_for_another_user(make_user):
    admin = make_user("admin", username="plant_admin")
    owner = make_user("integration")
    token, _ = api_token_create(actor=admin, owner=owner, name="ERP")
    assert token.user == owner and token.created_by == admin
    api_token_revoke(actor=admin, token_id=token.pk)
    token.refresh_from_db()
    assert token.revoked_at is not None and token.revoked_by == admin
    event = AuditEvent.objects.get(action="api_token_create")
    assert event.actor == admin and event.data["owner"] == owner.username


# --- the "My API tokens" page ---------------------------------------------------------------


def test_the_page_creates_a_token_shows_it_once_and_lists_it(client, make_user, plant):
    user = make_user("planner")
    client.force_login(user)
    response = client.post(
        TOKENS_PAGE, {"action": "create", "name": "Report script", "ttl_days": 7}
    )
    assert response.status_code == 200
    key = response.context["new_key"]
    assert key in response.content.decode()
    token = ApiToken.objects.get(user=user)
    assert token.name == "Report script"
    assert timezone.now() + timedelta(days=6) < token.expires_at
    again = client.get(TOKENS_PAGE).content.decode()
    assert key not in again
    assert token.prefix in again and "Report script" in again
    assert _client(key).get(WORK_ORDERS).status_code == 200


def test_the_page_revokes_and_rotates_own_tokens_only(client, make_user, plant):
    user = make_user("planner")
    other = make_user("integration")
    foreign, _ = api_token_create(actor=other, owner=other, name="ERP")
    own, _ = api_token_create(actor=user, owner=user, name="script")
    client.force_login(user)
    assert foreign.prefix not in client.get(TOKENS_PAGE).content.decode()
    refused = client.post(TOKENS_PAGE, {"action": "revoke", "token": foreign.pk})
    assert refused.status_code == 404
    foreign.refresh_from_db()
    assert foreign.revoked_at is None
    rotated = client.post(TOKENS_PAGE, {"action": "rotate", "token": own.pk})
    assert rotated.status_code == 200
    assert rotated.context["new_key"]
    assert ApiToken.objects.filter(user=user).count() == 2
    revoked = client.post(TOKENS_PAGE, {"action": "revoke", "token": own.pk})
    assert revoked.status_code == 302
    own.refresh_from_db()
    assert own.revoked_at is not None


def test_the_page_asks_for_a_login(client):
    response = client.get(TOKENS_PAGE)
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_the_page_explains_a_bad_lifetime(client, make_user):
    user = make_user("planner")
    client.force_login(user)
    response = client.post(TOKENS_PAGE, {"action": "create", "name": "x", "ttl_days": "many"})
    assert response.status_code == 400
    assert "whole number of days" in response.content.decode()
    assert not ApiToken.objects.exists()


# --- the Django admin -----------------------------------------------------------------------


def test_an_admin_creates_a_token_for_a_user_in_the_django_admin(client, make_user):
    admin = make_user("admin", username="plant_admin")
    admin.is_staff = True
    admin.save()
    owner = make_user("integration")
    login_verified(client, admin)
    response = client.post(
        "/admin/traceability/apitoken/add/",
        {"user": owner.pk, "name": "ERP", "ttl_days": 30},
        follow=True,
    )
    assert response.status_code == 200
    token = ApiToken.objects.get(user=owner)
    assert token.created_by == admin
    messages = [str(message) for message in response.context["messages"]]
    assert any(token.prefix in message for message in messages)
    changelist = client.post(
        "/admin/traceability/apitoken/",
        {"action": "revoke_selected", "_selected_action": [token.pk]},
        follow=True,
    )
    assert changelist.status_code == 200
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_a_staff_user_without_the_admin_role_cannot_see_tokens_in_the_admin(client, make_user):
    quality = make_user("quality")
    quality.is_staff = True
    quality.save()
    login_verified(client, quality)
    assert client.get("/admin/traceability/apitoken/").status_code == 403


# --- existing plain tokens ------------------------------------------------------------------


def test_the_migration_turns_plain_drf_tokens_into_hashed_ones(make_user, plant, settings):
    settings.API_TOKEN_DEFAULT_TTL_DAYS = 60
    user = make_user("integration")
    plain_key = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, "
            "created timestamptz NOT NULL, user_id integer NOT NULL UNIQUE)"
        )
        cursor.execute("INSERT INTO authtoken_token VALUES (%s, now(), %s)", [plain_key, user.pk])
    migration = importlib.import_module("traceability.migrations.0006_api_tokens_from_drf")
    with connection.schema_editor() as schema_editor:
        migration.plain_tokens_to_hashed(global_apps, schema_editor)
    assert "authtoken_token" not in connection.introspection.table_names()
    token = ApiToken.objects.get(user=user)
    assert token.key_hash == hashlib.sha256(plain_key.encode()).hexdigest()
    assert timezone.now() + timedelta(days=59) < token.expires_at
    assert _client(plain_key).get(WORK_ORDERS).status_code == 200


def test_the_migration_does_nothing_without_the_drf_table(make_user):
    migration = importlib.import_module("traceability.migrations.0006_api_tokens_from_drf")
    with connection.schema_editor() as schema_editor:
        migration.plain_tokens_to_hashed(global_apps, schema_editor)
    assert not ApiToken.objects.exists()
    assert get_user_model().objects.count() == 0
