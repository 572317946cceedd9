"""Many websockets opened at once against daphne and the real Redis channel layer.

Each connection joins its user's group at connect and a line's group on subscribe; with
redis-py's default pool (100 connections, fail when all are taken) a burst of 200 handshakes
closed about half with 1011 (``MaxConnectionsError`` in ``group_add``). The layer's pool is
sized and waits for a free connection instead (``CHANNEL_LAYER_*`` settings).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter

import pytest
import websockets
from asgiref.sync import async_to_sync
from django.test import Client

from live.broadcast import group_name, send_now_async
from tests.asgi_server import AsgiServer, database_url_for_server, free_port
from tests.mfa import login_verified

pytestmark = pytest.mark.django_db(transaction=True)

SOCKETS = 500
WAIT_S = 120.0  # an upper bound for a slow machine, not a timing assertion


@pytest.fixture
def asgi_server(plant):
    environment = {
        **os.environ,
        "DATABASE_URL": database_url_for_server(),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_DEBUG": "false",
        "LOG_LEVEL": "WARNING",
    }
    environment.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    server = AsgiServer(port=free_port(), environment=environment)
    server.start()
    yield server
    server.stop()


async def _next_frame(socket) -> dict:
    """The next frame that is not a heartbeat (sent every 15 s while the burst is served)."""
    while True:
        frame = json.loads(await asyncio.wait_for(socket.recv(), WAIT_S))
        if frame.get("type") != "heartbeat":
            return frame


async def _open_and_subscribe(url: str, origin: str, cookie: str, target: str):
    """A socket that got its welcome and its subscription, or the reason it has none."""
    try:
        socket = await websockets.connect(
            url, origin=origin, additional_headers={"Cookie": cookie}, open_timeout=WAIT_S
        )
    except Exception as error:  # the handshake was refused or timed out
        return None, f"handshake: {error!r}"
    try:
        welcome = await _next_frame(socket)
        if welcome.get("type") != "welcome":
            return socket, f"first frame: {welcome}"
        await socket.send(json.dumps({"type": "subscribe", "targets": [target], "snapshot": False}))
        subscribed = await _next_frame(socket)
        if subscribed != {"type": "subscribed", "target": target}:
            return socket, f"subscribe answer: {subscribed}"
    except websockets.ConnectionClosed as closed:
        return socket, f"closed: {closed.rcvd}"
    return socket, None


async def _event_of(socket) -> dict | str:
    try:
        return await _next_frame(socket)
    except websockets.ConnectionClosed as closed:
        return f"closed: {closed.rcvd}"


@pytest.mark.solo  # 500 sockets at once: make test runs it alone, after the parallel run
def test_500_sockets_opened_at_once_are_all_served_and_all_get_a_broadcast(
    asgi_server, make_user, plant
):
    supervisor = make_user("supervisor")
    client = Client()
    login_verified(client, supervisor)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    url = f"ws://127.0.0.1:{asgi_server.port}/ws/live/"
    origin = asgi_server.url
    target = group_name("line", plant.line.pk)

    async def scenario():
        opened = await asyncio.gather(
            *(_open_and_subscribe(url, origin, cookie, target) for _ in range(SOCKETS))
        )
        sockets = [socket for socket, _ in opened if socket is not None]
        try:
            failures = [failure for _, failure in opened if failure is not None]
            assert Counter(failures) == Counter()
            assert len(sockets) == SOCKETS
            sent = await send_now_async([target], "many_sockets_probe", {"n": 1})
            assert sent == 1
            events = await asyncio.gather(*(_event_of(socket) for socket in sockets))
        finally:
            await asyncio.gather(*(socket.close() for socket in sockets))
        return events

    events = async_to_sync(scenario)()
    assert len(events) == SOCKETS
    received = [
        event
        for event in events
        if isinstance(event, dict)
        and event["type"] == "event"
        and event["event"] == "many_sockets_probe"
        and event["group"] == target
        and event["payload"] == {"n": 1}
    ]
    assert len(received) == SOCKETS
