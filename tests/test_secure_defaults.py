"""The demo loader is secure by default: it refuses a production database and never changes a
user it did not create."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from workers.demo_plant import DEMO_USERS, demo_plant_load


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
