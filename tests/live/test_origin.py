"""The websocket Origin check compares scheme, host and port, not the host alone.

A page is same-origin with the socket when its scheme (http for ws, https for wss), host and
port are those the socket was opened on (the Host header, itself in ALLOWED_HOSTS); any other
origin must be listed in WEBSOCKET_ALLOWED_ORIGINS (by default CSRF_TRUSTED_ORIGINS).
"""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator

from mes_site.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def _communicator(session_cookie, user, *, host: bytes, origin: bytes, scheme: str = "ws", **more):
    headers = [(b"host", host), (b"origin", origin), (b"cookie", session_cookie(user))]
    headers += more.get("extra_headers", [])
    communicator = WebsocketCommunicator(application, "/ws/live/", headers=headers)
    communicator.scope["scheme"] = scheme
    return communicator


def _accepted(run, communicator) -> bool:
    async def scenario():
        connected, _ = await communicator.connect()
        if connected:
            welcome = await communicator.receive_json_from()
            assert welcome["type"] == "welcome"
        await communicator.disconnect()
        return connected

    return run(scenario)


@pytest.mark.parametrize(
    ("host", "origin", "scheme"),
    [
        (b"localhost:8000", b"http://localhost:8000", "ws"),
        (b"localhost", b"http://localhost", "ws"),
        (b"localhost:8443", b"https://localhost:8443", "wss"),
        (b"localhost", b"https://localhost", "wss"),
    ],
)
def test_same_origin_with_scheme_and_port_is_accepted(
    run, session_cookie, make_user, host, origin, scheme
):
    supervisor = make_user("supervisor")
    communicator = _communicator(
        session_cookie, supervisor, host=host, origin=origin, scheme=scheme
    )
    assert _accepted(run, communicator) is True


@pytest.mark.parametrize(
    ("host", "origin", "scheme"),
    [
        # wrong port
        (b"localhost:8000", b"http://localhost:9000", "ws"),
        (b"localhost:8000", b"http://localhost", "ws"),
        (b"localhost", b"http://localhost:9000", "ws"),
        # wrong scheme
        (b"localhost:8000", b"https://localhost:8000", "ws"),
        (b"localhost:8443", b"http://localhost:8443", "wss"),
        (b"localhost", b"https://localhost", "ws"),
        # a host outside ALLOWED_HOSTS, even same-origin
        (b"evil.example", b"http://evil.example", "ws"),
        # not an origin
        (b"localhost:8000", b"null", "ws"),
        (b"localhost:8000", b"localhost:8000", "ws"),
    ],
)
def test_wrong_scheme_port_or_host_is_refused(run, session_cookie, make_user, host, origin, scheme):
    supervisor = make_user("supervisor")
    communicator = _communicator(
        session_cookie, supervisor, host=host, origin=origin, scheme=scheme
    )
    assert _accepted(run, communicator) is False


def test_a_listed_origin_is_accepted_only_with_its_scheme_and_port(
    run, session_cookie, make_user, settings
):
    settings.WEBSOCKET_ALLOWED_ORIGINS = ["https://hmi.plant.example:8443"]
    supervisor = make_user("supervisor")
    listed = _communicator(
        session_cookie, supervisor, host=b"localhost:8000", origin=b"https://hmi.plant.example:8443"
    )
    other_port = _communicator(
        session_cookie, supervisor, host=b"localhost:8000", origin=b"https://hmi.plant.example"
    )
    other_scheme = _communicator(
        session_cookie, supervisor, host=b"localhost:8000", origin=b"http://hmi.plant.example:8443"
    )
    assert _accepted(run, listed) is True
    assert _accepted(run, other_port) is False
    assert _accepted(run, other_scheme) is False


def test_behind_a_tls_proxy_the_forwarded_scheme_counts(run, session_cookie, make_user, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    supervisor = make_user("supervisor")
    forwarded = [(b"x-forwarded-proto", b"https")]
    https_page = _communicator(
        session_cookie,
        supervisor,
        host=b"mes.plant.example",
        origin=b"https://mes.plant.example",
        extra_headers=forwarded,
    )
    http_page = _communicator(
        session_cookie,
        supervisor,
        host=b"mes.plant.example",
        origin=b"http://mes.plant.example",
        extra_headers=forwarded,
    )
    settings.ALLOWED_HOSTS = ["mes.plant.example"]
    assert _accepted(run, https_page) is True
    assert _accepted(run, http_page) is False
