"""Fixtures of the live (websocket) tests: committed data, sessions and a communicator.

The consumer reads the database from other threads, so these tests commit their data
(``transaction=True``). A transactional test's flush also removes the role groups that the
roles migration created; ``roles`` puts them back first.
"""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group, Permission
from django.test import Client

from mes_site.roles import roles_sync
from tests.mfa import login_verified

ORIGIN = b"http://localhost"


@pytest.fixture
def run():
    """Run an async scenario (a coroutine function) to completion from a sync test."""

    def run_scenario(scenario):
        return async_to_sync(scenario)()

    return run_scenario


@pytest.fixture
def roles(transactional_db):
    roles_sync(Group, Permission)


@pytest.fixture
def session_cookie(roles):
    """The session cookie of a logged-in user (password and, where the role needs it, the
    second factor), as a browser would send it; ``verified=False``: the password only."""

    def make(user, *, verified: bool = True) -> bytes:
        client = Client()
        if verified:
            login_verified(client, user)
        else:
            client.force_login(user)
        return f"sessionid={client.cookies['sessionid'].value}".encode()

    return make


@pytest.fixture
def communicator_for(session_cookie):
    """A WebsocketCommunicator on the full ASGI application (origin check, auth, routing)."""
    from mes_site.asgi import application

    def make(user=None, *, origin: bytes | None = ORIGIN, path: str = "/ws/live/"):
        headers = [(b"host", b"localhost")]
        if origin is not None:
            headers.append((b"origin", origin))
        if user is not None:
            headers.append((b"cookie", session_cookie(user)))
        return WebsocketCommunicator(application, path, headers=headers)

    return make
