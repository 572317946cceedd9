"""Project-level checks: migrations in step with models, the OpenAPI schema, lint."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from tests.mfa import totp_code, totp_device_for
from tests.settings import _redis_url_of_worker

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_migrations_match_the_models():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.django_db
def test_openapi_schema_is_valid_and_fully_typed(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    text = target.read_text()
    assert "/api/production/work-orders/{id}/start/" in text
    assert "Error" in text


def test_ruff_is_clean():
    ruff = Path(sys.executable).parent / "ruff"
    result = subprocess.run(
        [str(ruff), "check", "--quiet", str(ROOT)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.django_db
def test_pages_need_login_and_serve_the_demo_plant(client):
    from workers.demo_plant import demo_plant_load

    demo_plant_load()
    assert client.get("/").status_code == 302
    assert client.get("/api/docs/").status_code == 302
    login = client.post(
        "/accounts/login/", {"username": "supervisor", "password": "supervisor-demo"}
    )
    assert login.status_code == 302
    # The supervisor's second factor: the login asks for the code of the authenticator app.
    device = totp_device_for(get_user_model().objects.get(username="supervisor"))
    assert client.get("/")["Location"] == "/accounts/mfa/verify/?next=%2F"
    assert client.post("/accounts/mfa/verify/", {"code": totp_code(device)}).status_code == 302
    home = client.get("/")
    assert home.status_code == 200
    assert b"CNC_Spindle_7" in home.content and b"WO-DEMO-1001" in home.content
    assert client.get("/api/docs/").status_code == 200
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/healthz").json() == {"status": "ok"}
    missing = client.get("/api/production/nothing-here/")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"


def test_each_xdist_worker_gets_a_redis_database_of_its_own():
    assert _redis_url_of_worker("redis://localhost:6379/1", "gw0") == "redis://localhost:6379/1"
    assert _redis_url_of_worker("redis://localhost:6379/1", "gw1") == "redis://localhost:6379/2"
    assert _redis_url_of_worker("redis://:pw@[::1]:6380/15", "gw2") == "redis://:pw@[::1]:6380/1"
    assert _redis_url_of_worker("redis://localhost:6379", "gw1") == "redis://localhost:6379/1"
