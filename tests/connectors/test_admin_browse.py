"""The admin's OPC UA node picker: the children of a node of the connection's server."""

from __future__ import annotations

import asyncio
import threading

import pytest
from asyncua import Server, ua

from connectors.choices import Protocol
from connectors.models import Connection
from tests.mosquitto import HOST, free_port

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(120)]


@pytest.fixture
def opcua_server():
    """asyncua's server in a thread of its own (the admin view runs its client in the test's
    thread): an object Press with a variable Temperature."""
    port = free_port()
    ready, stop = threading.Event(), threading.Event()

    async def serve() -> None:
        server = Server()
        await server.init()
        server.set_endpoint(f"opc.tcp://{HOST}:{port}/mes/")
        namespace = await server.register_namespace("urn:mes:test:browse")
        press = await server.nodes.objects.add_object(ua.NodeId("Press", namespace), "Press")
        await press.add_variable(ua.NodeId("Press.Temperature", namespace), "Temperature", 21.5)
        async with server:
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    assert ready.wait(60)
    yield f"opc.tcp://{HOST}:{port}/mes/"
    stop.set()
    thread.join(30)


@pytest.fixture
def admin_browser(make_user, verified_client):
    user = make_user("admin")
    user.is_staff = True
    user.save()
    return verified_client(user)


def test_the_admin_lists_the_nodes_of_the_server(opcua_server, admin_browser):
    connection = Connection.objects.create(
        name="press", protocol=Protocol.OPCUA, endpoint=opcua_server, timeout_s=3
    )
    url = f"/admin/connectors/connection/{connection.pk}/browse/"

    objects = admin_browser.get(url)
    press = admin_browser.get(url, {"node": "ns=2;s=Press"})

    assert objects.status_code == 200
    assert b"ns=2;s=Press" in objects.content
    assert press.status_code == 200
    assert b"<code>ns=2;s=Press.Temperature</code>" in press.content
    assert b"21.5" in press.content
    assert b"Double" in press.content


def test_an_unreachable_server_is_shown_with_the_reason(admin_browser):
    connection = Connection.objects.create(
        name="gone",
        protocol=Protocol.OPCUA,
        endpoint=f"opc.tcp://{HOST}:{free_port()}/",
        timeout_s=0.5,
    )

    response = admin_browser.get(f"/admin/connectors/connection/{connection.pk}/browse/")

    assert response.status_code == 200
    assert b"The server could not be browsed: connection refused" in response.content


def test_a_user_without_the_connectors_permissions_cannot_browse(make_user, verified_client):
    connection = Connection.objects.create(
        name="press", protocol=Protocol.OPCUA, endpoint="opc.tcp://127.0.0.1:1/"
    )
    user = make_user("supervisor")
    user.is_staff = True
    user.save()

    response = verified_client(user).get(f"/admin/connectors/connection/{connection.pk}/browse/")

    assert response.status_code == 403
