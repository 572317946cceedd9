"""The live websocket and the second factor: a session that has only the password of a user
who must give a second factor is anonymous to the socket, as its pages are held."""

from __future__ import annotations

from channels.testing import WebsocketCommunicator

from tests.live.conftest import ORIGIN


def _communicator(cookie: bytes) -> WebsocketCommunicator:
    from mes_site.asgi import application

    headers = [(b"host", b"localhost"), (b"origin", ORIGIN), (b"cookie", cookie)]
    return WebsocketCommunicator(application, "/ws/live/", headers=headers)


def _first_message(run, cookie: bytes) -> dict:
    communicator = _communicator(cookie)

    async def scenario():
        connected, _ = await communicator.connect()
        assert connected is True
        message = await communicator.receive_json_from()
        await communicator.disconnect()
        return message

    return run(scenario)


def test_a_password_only_session_of_a_supervisor_is_refused(run, session_cookie, make_user):
    supervisor = make_user("supervisor")

    message = _first_message(run, session_cookie(supervisor, verified=False))

    assert (message["type"], message["code"]) == ("error", "not_authenticated")


def test_the_same_supervisor_with_the_second_factor_is_welcome(run, session_cookie, make_user):
    supervisor = make_user("supervisor")

    message = _first_message(run, session_cookie(supervisor))

    assert message["type"] == "welcome"


def test_an_operator_without_a_second_factor_is_welcome(run, session_cookie, make_user):
    operator = make_user("operator")

    message = _first_message(run, session_cookie(operator, verified=False))

    assert message["type"] == "welcome"
