"""Open live websockets are counted for Prometheus (``mes_websocket_clients``): an accepted,
authenticated socket while it is open; a refused one never."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

pytestmark = pytest.mark.django_db(transaction=True)


def _clients() -> float:
    return REGISTRY.get_sample_value("mes_websocket_clients") or 0.0


def test_open_sockets_are_counted_until_they_close(run, communicator_for, make_user, roles):
    supervisor = make_user("supervisor")
    first, second = communicator_for(supervisor), communicator_for(supervisor)
    anonymous = communicator_for(None)
    before = _clients()

    async def scenario():
        for communicator in (first, second):
            connected, _ = await communicator.connect()
            assert connected is True
            assert (await communicator.receive_json_from())["type"] == "welcome"
        assert _clients() == before + 2
        connected, _ = await anonymous.connect()  # accepted only to be told why it is closed
        assert (await anonymous.receive_json_from())["code"] == "not_authenticated"
        assert _clients() == before + 2
        await first.disconnect()
        assert _clients() == before + 1
        await second.disconnect()
        await anonymous.disconnect()

    run(scenario)
    assert _clients() == before
