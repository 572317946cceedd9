"""Secure by default: the secret key, the HTTPS and cookie settings, the demo loader's guard and
the password rules.

Settings are read once per process, so the settings tests start `manage.py` or
`django.setup()` in a subprocess with exactly the environment they choose.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from workers.demo_plant import DEMO_USERS, demo_plant_load

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
OLD_DEVELOPMENT_KEY = "insecure-development-key-change-me-in-production-0123456789"
PRODUCTION_CHECKS = [
    "security.W005",
    "security.W008",
    "security.W012",
    "security.W016",
    "security.W021",
]


def _run(arguments: list[str], **environment: str) -> subprocess.CompletedProcess[str]:
    """`python <arguments>` in the repository with only the given settings in its environment."""
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@localhost:5432/mes"),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://localhost:6379/1"),
        "DJANGO_SETTINGS_MODULE": "mes_site.settings",
    }
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=REPOSITORY_ROOT,
        env={**base, **environment},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _setup(**environment: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import django; django.setup(); "
        "from django.conf import settings; print(settings.SECRET_KEY)"
    )
    return _run(["-c", code], **environment)


def _documented_production_environment() -> dict[str, str]:
    """The variables of the block under "Production settings" in docs/deploy.md."""
    text = (REPOSITORY_ROOT / "docs" / "deploy.md").read_text()
    section = text.split("## Production settings", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None
    environment = {}
    for line in block.group(1).splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, value = line.split("=", 1)
        environment[name.strip()] = value.strip().strip("'")
    return environment


@pytest.mark.parametrize(
    "key",
    [None, "", OLD_DEVELOPMENT_KEY, "x" * 49],
    ids=["unset", "empty", "old-development-key", "49-characters"],
)
def test_production_settings_refuse_to_start_without_a_real_secret_key(key):
    environment = {"DJANGO_DEBUG": "false"}
    if key is not None:
        environment["DJANGO_SECRET_KEY"] = key
    result = _setup(**environment)
    assert result.returncode == 1
    assert result.stdout == ""
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured: DJANGO_SECRET_KEY")
    assert "secrets.token_urlsafe(50)" in last_line
    assert "DJANGO_DEBUG=true" in last_line


def test_production_settings_start_with_a_long_random_key():
    key = secrets.token_urlsafe(50)
    result = _setup(DJANGO_DEBUG="false", DJANGO_SECRET_KEY=key)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{key}\n"


def test_debug_settings_start_with_a_development_key():
    result = _setup(DJANGO_DEBUG="true")
    assert result.returncode == 0, result.stderr
    development_key = result.stdout.strip()
    assert development_key.startswith("django-insecure-")
    assert len(development_key) >= 50


def test_check_deploy_is_clean_under_the_documented_production_environment():
    environment = _documented_production_environment()
    assert environment["DJANGO_DEBUG"] == "false"
    environment["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(50)
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **environment)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "System check identified no issues (0 silenced).\n"


def test_check_deploy_fails_without_the_production_environment():
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
    )
    assert result.returncode == 1
    found = sorted(set(re.findall(r"\?: \((security\.W\d+)\)", result.stderr)))
    assert found == PRODUCTION_CHECKS


def test_security_settings_are_read_from_the_environment():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, "
        "s.SECURE_HSTS_PRELOAD, s.SECURE_PROXY_SSL_HEADER, s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE)"
    )
    key = secrets.token_urlsafe(50)
    defaults = _run(["-c", code], DJANGO_DEBUG="false", DJANGO_SECRET_KEY=key)
    assert defaults.returncode == 0, defaults.stderr
    assert defaults.stdout == "False 31536000 False False None False False\n"
    chosen = _run(
        ["-c", code],
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=key,
        DJANGO_SECURE_SSL_REDIRECT="true",
        DJANGO_SECURE_HSTS_SECONDS="600",
        DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS="true",
        DJANGO_SECURE_HSTS_PRELOAD="true",
        DJANGO_SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
        DJANGO_SESSION_COOKIE_SECURE="true",
        DJANGO_CSRF_COOKIE_SECURE="true",
    )
    assert chosen.returncode == 0, chosen.stderr
    assert chosen.stdout == ("True 600 True True ('HTTP_X_FORWARDED_PROTO', 'https') True True\n")


def test_load_demo_plant_refuses_to_run_without_debug(db):
    with pytest.raises(CommandError) as raised:
        call_command("load_demo_plant")
    assert str(raised.value) == (
        "load_demo_plant creates users with public passwords and DJANGO_DEBUG is false: "
        "this looks like a production database. Pass --force-demo to load the demo anyway."
    )
    assert not get_user_model().objects.filter(username__in=DEMO_USERS).exists()


def test_load_demo_plant_runs_with_force_demo_or_debug(db, settings):
    call_command("load_demo_plant", "--force-demo")
    assert get_user_model().objects.filter(username__in=DEMO_USERS).count() == len(DEMO_USERS)
    settings.DEBUG = True
    call_command("load_demo_plant")
    assert get_user_model().objects.filter(username__in=DEMO_USERS).count() == len(DEMO_USERS)


def test_demo_loader_leaves_an_existing_admin_alone(db):
    plant_admin = get_user_model().objects.create_user(
        username="admin", email="it@plant.example", password="a-real-long-passphrase-1"
    )
    summary = demo_plant_load()
    plant_admin.refresh_from_db()
    assert (plant_admin.is_staff, plant_admin.is_superuser) == (False, False)
    assert plant_admin.email == "it@plant.example"
    assert plant_admin.check_password("a-real-long-passphrase-1")
    assert list(plant_admin.groups.all()) == []
    assert summary["users_kept"] == ["admin"]
    assert [user["username"] for user in summary["users"]] == [
        role for role in DEMO_USERS if role != "admin"
    ]


def test_demo_loader_still_refreshes_its_own_admin(db):
    demo_plant_load()
    demo_admin = get_user_model().objects.get(username="admin")
    demo_admin.is_superuser = False
    demo_admin.save()
    summary = demo_plant_load()
    demo_admin.refresh_from_db()
    assert (demo_admin.is_staff, demo_admin.is_superuser) == (True, True)
    assert summary["users_kept"] == []


def _codes(password: str, user=None) -> list[str]:
    with pytest.raises(ValidationError) as raised:
        validate_password(password, user=user)
    return sorted(error.code for error in raised.value.error_list)


def test_password_validators_are_the_full_set(db):
    user = get_user_model()(username="maria.keller", email="maria.keller@plant.example")
    assert _codes("short-pass1") == ["password_too_short"]
    assert _codes("839201746593") == ["password_entirely_numeric"]
    assert _codes("qwerty123456") == ["password_too_common"]
    assert _codes("maria.keller1", user=user) == ["password_too_similar"]
    assert validate_password("cobalt-lathe-harbour-71", user=user) is None
