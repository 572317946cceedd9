"""Shared fixtures: the session's own MQTT broker, a small two-site plant, and users per role
with their plant scope."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from tests.mosquitto import Mosquitto

# Django is imported inside the fixtures so that the pure-algorithm tests also run
# without it (`pytest -p no:django tests/.../algorithms`).
if TYPE_CHECKING:
    from production import models as m


@pytest.fixture(scope="session", autouse=True)
def redis_database_starts_empty(request) -> None:
    """Empty the session's Redis database (each xdist worker has its own, tests/settings.py)
    before the first test: every run creates its test database anew, so ids start at 1 again,
    and a key a previous run left for line 1 (an OEE cache version, a rate-limit stamp) would
    be taken for this run's line 1. Database 0, ``make run``'s, is never emptied."""
    if not request.config.pluginmanager.hasplugin("django"):
        return  # the pure-algorithm tests, run without Django
    from urllib.parse import urlsplit

    import redis
    from django.conf import settings

    if (urlsplit(settings.REDIS_URL).path.strip("/") or "0") == "0":
        return
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.ConnectionError:
        pass  # the tests that need Redis say so themselves
    finally:
        client.close()


@pytest.fixture(autouse=True)
def live_oee_starts_empty(request) -> None:
    """The open shift's OEE accumulators live in the process (production.selectors.oee_live)
    and are keyed by equipment id: a test must not find another test's machine there."""
    if not request.config.pluginmanager.hasplugin("django"):
        return
    from production.selectors.oee_live import live_oee

    live_oee.clear()


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory) -> Iterator[Mosquitto]:
    """The session's own Mosquitto on a free 127.0.0.1 port, with the machine broker's queue
    limits: the tests see no other process's MQTT traffic. Stopped at the end of the session."""
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto")).start()
    yield broker
    broker.stop()


@pytest.fixture
def mqtt_url(mosquitto, settings) -> str:
    """``settings.MQTT_URL`` pointed at the session's broker (subprocesses get it as MQTT_URL)."""
    settings.MQTT_URL = mosquitto.url
    return mosquitto.url


@dataclass
class Plant:
    enterprise: Any
    site: Any
    other_site: Any
    line: Any
    other_line: Any
    equipment: Any
    other_equipment: Any
    capability: Any
    product: Any
    routing: Any


def _line(site: m.Site, code: str, capability: m.Capability) -> tuple[m.Line, m.Equipment]:
    from production import models as m

    area = m.Area.objects.create(site=site, code=f"area_{code}", name=f"Area {code}")
    line = m.Line.objects.create(area=area, code=code, name=f"Line {code}")
    cell = m.Cell.objects.create(line=line, code="cell1", name="Cell 1")
    equipment = m.Equipment.objects.create(cell=cell, code=f"{code}_M1", name=f"{code} machine")
    equipment.capabilities.add(capability)
    return line, equipment


@pytest.fixture
def plant(db) -> Plant:
    from production import models as m

    enterprise = m.Enterprise.objects.create(code="ent", name="Enterprise")
    site = m.Site.objects.create(enterprise=enterprise, code="s1", name="Site 1")
    other_site = m.Site.objects.create(enterprise=enterprise, code="s2", name="Site 2")
    capability = m.Capability.objects.create(code="milling", name="Milling")
    line, equipment = _line(site, "L1", capability)
    other_line, other_equipment = _line(other_site, "L2", capability)
    product = m.Product.objects.create(code="P1", name="Product 1")
    routing = m.Routing.objects.create(product=product, version="1")
    for sequence in (10, 20):
        m.OperationTemplate.objects.create(
            routing=routing,
            sequence=sequence,
            name=f"Step {sequence}",
            capability=capability,
            planned_run_time_per_unit_s=60.0,
            force_kn=5.0,
        )
    return Plant(
        enterprise,
        site,
        other_site,
        line,
        other_line,
        equipment,
        other_equipment,
        capability,
        product,
        routing,
    )


@pytest.fixture
def make_work_order(plant):
    from django.utils import timezone

    from production import models as m
    from production import services

    counter = {"n": 0}

    def make(*, line=None, state: str = "planned", quantity: int = 10) -> m.WorkOrder:
        counter["n"] += 1
        line = line or plant.line
        work_order = services.work_order_create(
            number=f"WO-{counter['n']:04d}",
            product=plant.product,
            quantity=quantity,
            due_at=timezone.now() + timedelta(hours=8),
            site=line.area.site,
            line=line,
        )
        if state != "planned":
            m.WorkOrder.objects.filter(pk=work_order.pk).update(state=state)
            work_order.refresh_from_db()
        return work_order

    return make


@pytest.fixture
def make_user(plant):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from production import models as m

    def make(role: str, *, lines=None, sites=None, username: str | None = None):
        user = get_user_model().objects.create_user(
            username=username or f"{role}_user", password="secret-pass-1"
        )
        if not Group.objects.filter(name=role).exists():
            # A transactional test flushes the groups the roles migration made; re-create them.
            from django.contrib.auth.models import Permission

            from mes_site.roles import roles_sync

            roles_sync(Group, Permission)
        user.groups.add(Group.objects.get(name=role))
        if role in {"operator", "supervisor"}:
            scope = m.PlantScope.objects.create(user=user)
            if role == "operator":
                scope.lines.set(lines if lines is not None else [plant.line])
            else:
                scope.sites.set(sites if sites is not None else [plant.site])
        return user

    return make


@pytest.fixture
def api_for(make_user):
    from rest_framework.test import APIClient

    def make(role: str, **kwargs) -> APIClient:
        client = APIClient()
        client.force_authenticate(make_user(role, **kwargs))
        return client

    return make


@pytest.fixture
def verified_client(db):
    """verified_client(user): a test client logged in with password and second factor."""
    from django.test import Client

    from tests.mfa import login_verified

    def make(user):
        return login_verified(Client(), user)

    return make
