"""The live websocket against the real Redis channel layer: who may connect, what they get.

Each scenario drives the full ASGI application (origin validator, session auth, routing)
through channels' WebsocketCommunicator.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from live import consumers
from live.broadcast import send_now, send_now_async
from mes_site import session_timeout
from production.models import DowntimeReason, EquipmentStateInterval
from tests.api_tokens import make_api_token
from traceability.models import ApiToken
from traceability.services.api_tokens import api_token_revoke

pytestmark = pytest.mark.django_db(transaction=True)


async def _connected(communicator) -> dict:
    connected, _ = await communicator.connect()
    assert connected is True
    welcome = await communicator.receive_json_from()
    assert welcome["type"] == "welcome"
    return welcome


def test_anonymous_handshake_is_closed_with_a_reason(run, communicator_for, roles):
    communicator = communicator_for(None)

    async def scenario():
        connected, _ = await communicator.connect()
        assert connected is True  # accepted only to say why it is closed
        assert await communicator.receive_json_from() == {
            "type": "error",
            "code": "not_authenticated",
            "message": "Log in to receive live updates.",
        }
        assert await communicator.receive_output() == {
            "type": "websocket.close",
            "code": 4401,
            "reason": "Log in to receive live updates.",
        }
        await communicator.send_json_to({"type": "subscribe", "targets": ["site.1"]})
        assert await communicator.receive_nothing(timeout=0.2)

    run(scenario)


def test_foreign_origin_and_missing_origin_are_refused(run, communicator_for, make_user):
    supervisor = make_user("supervisor")

    refused = [
        communicator_for(supervisor, origin=origin)
        for origin in (b"http://evil.example", b"https://localhost.evil.example", None)
    ]
    allowed = communicator_for(supervisor, origin=b"http://127.0.0.1:8000")

    async def scenario():
        for communicator in refused:
            connected, _ = await communicator.connect()
            assert connected is False
            await communicator.disconnect()
        welcome = await _connected(allowed)
        assert welcome["user"] == "supervisor_user"
        assert welcome["heartbeat_s"] == 15.0
        await allowed.disconnect()

    run(scenario)


def test_supervisor_gets_the_site_snapshot_then_its_events(run, communicator_for, make_user, plant):
    supervisor = make_user("supervisor")
    site_group = f"site.{plant.site.pk}"

    communicator = communicator_for(supervisor)

    async def scenario():
        await _connected(communicator)
        await communicator.send_json_to({"type": "subscribe", "targets": [site_group]})
        subscribed = await communicator.receive_json_from()
        assert subscribed["type"] == "subscribed"
        assert subscribed["target"] == site_group
        assert subscribed["snapshot"]["site"] == {
            "id": plant.site.pk,
            "code": "s1",
            "name": "Site 1",
            "autonomy_mode": "supervised",
        }
        assert subscribed["snapshot"]["lines"] == [plant.line.pk]
        assert subscribed["snapshot"]["actions"] == []
        await send_now_async([site_group], "autonomy_mode", {"site": plant.site.pk, "mode": "off"})
        event = await communicator.receive_json_from()
        assert event["type"] == "event"
        assert event["event"] == "autonomy_mode"
        assert event["group"] == site_group
        assert event["payload"] == {"site": plant.site.pk, "mode": "off"}
        assert len(event["id"]) == 32
        assert isinstance(event["sent_at_ms"], float)
        assert await communicator.receive_nothing(timeout=0.2)
        await communicator.disconnect()

    run(scenario)


def test_a_raw_layer_message_without_text_is_forwarded_too(run, communicator_for, make_user, plant):
    from channels.layers import get_channel_layer

    supervisor = make_user("supervisor")
    group = f"line.{plant.line.pk}"
    communicator = communicator_for(supervisor)

    async def scenario():
        await _connected(communicator)
        await communicator.send_json_to(
            {"type": "subscribe", "targets": [group], "snapshot": False}
        )
        await communicator.receive_json_from()
        message = {"type": "mes.event", "event": "note", "group": group, "payload": {"n": 1}}
        await get_channel_layer().group_send(group, message)
        assert await communicator.receive_json_from() == {
            "type": "event",
            "event": "note",
            "group": group,
            "id": None,
            "sent_at_ms": None,
            "payload": {"n": 1},
        }
        await communicator.disconnect()

    run(scenario)


def test_operator_is_refused_another_lines_group_and_gets_nothing_from_it(
    run, communicator_for, make_user, plant
):
    operator = make_user("operator")  # scoped to plant.line only
    other_line = f"line.{plant.other_line.pk}"
    other_site = f"site.{plant.other_site.pk}"
    own_site = f"site.{plant.site.pk}"

    communicator = communicator_for(operator)

    async def scenario():
        await _connected(communicator)
        await communicator.send_json_to(
            {"type": "subscribe", "targets": [other_line, other_site, own_site]}
        )
        for target in (other_line, other_site, own_site):
            assert await communicator.receive_json_from() == {
                "type": "error",
                "code": "forbidden",
                "message": f"You may not watch {target}: it is outside your plant scope "
                "or does not exist.",
                "target": target,
            }
        await send_now_async([other_line, other_site, own_site], "alert", {"id": 1})
        assert await communicator.receive_nothing(timeout=0.3)
        await communicator.disconnect()

    run(scenario)


def test_unknown_and_missing_targets_are_refused_alike(run, communicator_for, make_user):
    supervisor = make_user("supervisor")

    communicator = communicator_for(supervisor)

    async def scenario():
        await _connected(communicator)
        await communicator.send_json_to(
            {"type": "subscribe", "targets": ["plant.1", "line.abc", "line.0", "user.1"]}
        )
        for target in ("plant.1", "line.abc", "line.0", "user.1"):
            frame = await communicator.receive_json_from()
            assert frame["type"] == "error"
            assert frame["code"] == "unknown_target"
            assert frame["target"] == target
        await communicator.send_json_to({"type": "subscribe", "targets": ["line.999999999"]})
        missing = await communicator.receive_json_from()
        assert missing["code"] == "forbidden"  # same answer as another line: no id probing
        await communicator.disconnect()

    run(scenario)


def test_line_snapshot_holds_current_states_and_unsubscribe_stops_events(
    run, communicator_for, make_user, plant
):
    operator = make_user("operator")
    reason = DowntimeReason.objects.create(code="JAM", name="Part jam", iso_element="ADET")
    started = timezone.now() - timedelta(minutes=5)
    EquipmentStateInterval.objects.create(
        equipment=plant.equipment, start_at=started, state="down", reason=reason
    )
    line_group = f"line.{plant.line.pk}"

    communicator = communicator_for(operator)

    async def scenario():
        await _connected(communicator)
        await communicator.send_json_to({"type": "subscribe", "target": line_group})
        subscribed = await communicator.receive_json_from()
        snapshot = subscribed["snapshot"]
        assert snapshot["line"]["code"] == "L1"
        [machine] = snapshot["equipment"]
        assert machine["code"] == "L1_M1"
        assert machine["state"]["state"] == "down"
        assert machine["state"]["reason_code"] == "JAM"
        assert machine["state"]["start_at"] == started.isoformat()
        assert snapshot["stops"][0]["reason_name"] == "Part jam"
        assert snapshot["work_orders"] == []
        assert snapshot["oee"] is None
        # Subscribing twice changes nothing.
        await communicator.send_json_to({"type": "subscribe", "targets": [line_group]})
        assert await communicator.receive_json_from() == {
            "type": "subscribed",
            "target": line_group,
            "repeat": True,
        }
        await communicator.send_json_to({"type": "unsubscribe", "targets": [line_group]})
        assert await communicator.receive_json_from() == {
            "type": "unsubscribed",
            "target": line_group,
        }
        await send_now_async([line_group], "equipment_state", {"equipment": plant.equipment.pk})
        assert await communicator.receive_nothing(timeout=0.3)
        await communicator.send_json_to({"type": "unsubscribe", "targets": [line_group]})
        assert (await communicator.receive_json_from())["code"] == "not_subscribed"
        await communicator.disconnect()

    run(scenario)


def test_state_comes_first_even_when_a_delta_is_sent_while_it_is_read(
    run, communicator_for, make_user, plant, monkeypatch
):
    """A delta broadcast after the consumer joined the group but before the snapshot was
    sent arrives after the snapshot, never before it."""
    operator = make_user("operator")
    group = f"equipment.{plant.equipment.pk}"
    real_snapshot = consumers.live_snapshot

    def snapshot_with_a_concurrent_delta(*, target, user):
        send_now([group], "equipment_state", {"equipment": plant.equipment.pk, "state": "down"})
        return real_snapshot(target=target, user=user)

    monkeypatch.setattr(consumers, "live_snapshot", snapshot_with_a_concurrent_delta)

    communicator = communicator_for(operator)

    async def scenario():
        await _connected(communicator)
        await communicator.send_json_to({"type": "subscribe", "targets": [group]})
        first = await communicator.receive_json_from()
        second = await communicator.receive_json_from()
        assert first["type"] == "subscribed"
        assert first["snapshot"]["equipment"]["code"] == "L1_M1"
        assert first["snapshot"]["state"] is None
        assert second["type"] == "event"
        assert second["payload"] == {"equipment": plant.equipment.pk, "state": "down"}
        await communicator.disconnect()

    run(scenario)


def test_subscribe_without_snapshot_only_acknowledges(run, communicator_for, make_user, plant):
    supervisor = make_user("supervisor")

    communicator = communicator_for(supervisor)

    async def scenario():
        await _connected(communicator)
        group = f"line.{plant.line.pk}"
        await communicator.send_json_to(
            {"type": "subscribe", "targets": [group], "snapshot": False}
        )
        assert await communicator.receive_json_from() == {"type": "subscribed", "target": group}
        await communicator.disconnect()

    run(scenario)


def test_bad_frames_get_an_error_and_the_socket_stays_usable(run, communicator_for, make_user):
    supervisor = make_user("supervisor")

    communicator = communicator_for(supervisor)

    async def scenario():
        await _connected(communicator)
        expected = [
            ({"text_data": "not json {"}, "The frame is not JSON."),
            ({"bytes_data": b"\x00\x01"}, "Binary frames are not accepted; send JSON text."),
            ({"text_data": "[1, 2]"}, 'A frame is a JSON object with a "type".'),
            (
                {"text_data": '{"type": "drop_tables"}'},
                "Unknown frame type 'drop_tables'; use one of ping, subscribe, unsubscribe.",
            ),
            (
                {"text_data": '{"type": "subscribe", "targets": "line.1"}'},
                '"targets" is a list of strings such as "line.3".',
            ),
            ({"text_data": "x" * 20_000}, "Frames are at most 16384 characters."),
        ]
        for frame, message in expected:
            await communicator.send_to(**frame)
            assert await communicator.receive_json_from() == {
                "type": "error",
                "code": "bad_frame",
                "message": message,
            }
        await communicator.send_json_to({"type": "ping"})
        pong = await communicator.receive_json_from()
        assert pong["type"] == "pong"
        await communicator.disconnect()

    run(scenario)


def test_a_flood_of_bad_frames_closes_the_socket(run, communicator_for, make_user):
    supervisor = make_user("supervisor")

    communicator = communicator_for(supervisor)

    async def scenario():
        await _connected(communicator)
        for _ in range(consumers.MAX_BAD_FRAMES):
            await communicator.send_to(text_data="nonsense")
            assert (await communicator.receive_json_from())["code"] == "bad_frame"
        await communicator.send_to(text_data="nonsense")
        assert (await communicator.receive_json_from())["code"] == "too_many_bad_frames"
        closing = await communicator.receive_output()
        assert closing["type"] == "websocket.close"
        assert closing["code"] == 4400

    run(scenario)


def test_a_user_deactivated_while_connected_is_closed(
    run, communicator_for, make_user, plant, settings
):
    settings.LIVE_AUTH_RECHECK_S = 0.2
    operator = make_user("operator")
    group = f"line.{plant.line.pk}"

    communicator = communicator_for(operator)

    async def scenario():
        await _connected(communicator)
        await communicator.send_json_to({"type": "subscribe", "targets": [group]})
        assert (await communicator.receive_json_from())["type"] == "subscribed"
        await sync_to_async(
            get_user_model().objects.filter(pk=operator.pk).update, thread_sensitive=True
        )(is_active=False)
        assert await communicator.receive_json_from(timeout=3) == {
            "type": "error",
            "code": "session_ended",
            "message": "Your account was deactivated.",
        }
        closing = await communicator.receive_output()
        assert closing == {
            "type": "websocket.close",
            "code": 4403,
            "reason": "Your account was deactivated.",
        }
        # Its groups were left: nothing more is sent to it.
        await send_now_async([group], "alert", {"id": 1})
        assert await communicator.receive_nothing(timeout=0.3)

    run(scenario)


def test_logging_out_elsewhere_closes_the_socket(run, communicator_for, make_user, settings):
    settings.LIVE_AUTH_RECHECK_S = 0.2
    supervisor = make_user("supervisor")

    communicator = communicator_for(supervisor)

    async def scenario():
        await _connected(communicator)
        await sync_to_async(Session.objects.all().delete, thread_sensitive=True)()
        frame = await communicator.receive_json_from(timeout=3)
        assert frame == {
            "type": "error",
            "code": "session_ended",
            "message": "You were logged out.",
        }
        assert (await communicator.receive_output())["code"] == 4403

    run(scenario)


def test_a_session_idle_past_its_limit_closes_the_socket(
    run, communicator_for, make_user, settings
):
    settings.LIVE_AUTH_RECHECK_S = 0.2
    supervisor = make_user("supervisor")
    communicator = communicator_for(supervisor)
    session = SessionStore(Session.objects.get().session_key)
    now_ts = time.time()
    session[session_timeout.STARTED_KEY] = now_ts - 3600
    session[session_timeout.ACTIVITY_KEY] = now_ts - settings.SESSION_IDLE_TIMEOUT_S + 2
    session.save()

    async def scenario():
        await _connected(communicator)
        # Still within the limit: the re-checks pass and heartbeats are all that comes.
        assert await communicator.receive_nothing(timeout=0.5)
        await sync_to_async(_age_activity, thread_sensitive=True)(session, 10)
        frame = await communicator.receive_json_from(timeout=3)
        assert frame == {
            "type": "error",
            "code": "session_ended",
            "message": "Your session ended after 30 minutes without activity. Please log in again.",
        }
        assert (await communicator.receive_output())["code"] == 4403

    run(scenario)


def _age_activity(session, seconds: float) -> None:
    session[session_timeout.ACTIVITY_KEY] -= seconds
    session.save()


def test_user_sessions_close_closes_every_socket_of_that_user_at_once(
    run, communicator_for, make_user
):
    from live.broadcast import user_sessions_close

    supervisor = make_user("supervisor")
    operator = make_user("operator")

    supervisor_socket = communicator_for(supervisor)
    operator_socket = communicator_for(operator)

    async def scenario():
        await _connected(supervisor_socket)
        await _connected(operator_socket)
        await sync_to_async(user_sessions_close, thread_sensitive=True)(
            supervisor.pk, "An administrator ended your session."
        )
        frame = await supervisor_socket.receive_json_from(timeout=2)
        assert frame["message"] == "An administrator ended your session."
        assert (await supervisor_socket.receive_output())["code"] == 4403
        assert await operator_socket.receive_nothing(timeout=0.3)
        await operator_socket.disconnect()

    run(scenario)


def test_heartbeats_arrive_while_idle(run, communicator_for, make_user, settings):
    settings.LIVE_HEARTBEAT_S = 0.2
    supervisor = make_user("supervisor")

    communicator = communicator_for(supervisor)

    async def scenario():
        welcome = await _connected(communicator)
        assert welcome["heartbeat_s"] == 0.2
        first = await communicator.receive_json_from(timeout=2)
        second = await communicator.receive_json_from(timeout=2)
        assert first["type"] == second["type"] == "heartbeat"
        assert second["server_time_ms"] > first["server_time_ms"]
        await communicator.disconnect()

    run(scenario)


def test_an_integration_token_authenticates_without_a_session(run, roles, make_user):
    from channels.testing import WebsocketCommunicator

    from mes_site.asgi import application

    integration = make_user("integration")
    key = make_api_token(integration)
    revoked = make_api_token(integration, name="revoked")
    api_token_revoke(actor=integration, token_id=ApiToken.objects.get(name="revoked").pk)

    async def scenario():
        cases = ((f"Token {key}", True), ("Token wrong", False), (f"Token {revoked}", False))
        for header, expect_user in cases:
            communicator = WebsocketCommunicator(
                application,
                "/ws/live/",
                headers=[
                    (b"host", b"localhost"),
                    (b"origin", b"http://localhost"),
                    (b"authorization", header.encode()),
                ],
            )
            await communicator.connect()
            frame = await communicator.receive_json_from()
            if expect_user:
                assert frame["type"] == "welcome"
                assert frame["user"] == "integration_user"
                await communicator.disconnect()
            else:
                assert frame["code"] == "not_authenticated"

    run(scenario)


def test_a_station_session_subscribes_only_to_its_stations_line(run, roles, make_user, plant):
    from channels.testing import WebsocketCommunicator
    from django.test import Client

    from mes_site.asgi import application
    from production.services.operator_badges import operator_badge_set_pin

    operator = make_user("operator", lines=[plant.line, plant.other_line])
    operator_badge_set_pin(actor=operator, user=operator, badge_id="B-17", pin="482913")
    tablet = Client()
    login = tablet.post(
        f"/hmi/station/{plant.equipment.pk}/login/", {"badge": "B-17", "pin": "482913"}
    )
    assert login.status_code == 302
    cookie = f"sessionid={tablet.cookies['sessionid'].value}".encode()
    own_line, other_line = f"line.{plant.line.pk}", f"line.{plant.other_line.pk}"

    async def scenario():
        communicator = WebsocketCommunicator(
            application,
            "/ws/live/",
            headers=[
                (b"host", b"localhost"),
                (b"origin", b"http://localhost"),
                (b"cookie", cookie),
            ],
        )
        await _connected(communicator)
        await communicator.send_json_to(
            {"type": "subscribe", "targets": [own_line, other_line], "snapshot": False}
        )
        frames = [await communicator.receive_json_from() for _ in range(2)]
        assert {(frame["type"], frame["target"]) for frame in frames} == {
            ("subscribed", own_line),
            ("error", other_line),
        }
        await communicator.disconnect()

    run(scenario)


def test_a_token_revoked_while_connected_closes_the_socket(run, roles, make_user, settings):
    from channels.testing import WebsocketCommunicator

    from mes_site.asgi import application

    settings.LIVE_AUTH_RECHECK_S = 0.2
    integration = make_user("integration")
    key = make_api_token(integration)
    token = ApiToken.objects.get(user=integration)

    async def scenario():
        communicator = WebsocketCommunicator(
            application,
            "/ws/live/",
            headers=[
                (b"host", b"localhost"),
                (b"origin", b"http://localhost"),
                (b"authorization", f"Token {key}".encode()),
            ],
        )
        await _connected(communicator)
        await sync_to_async(api_token_revoke, thread_sensitive=True)(
            actor=integration, token_id=token.pk
        )
        assert await communicator.receive_json_from(timeout=3) == {
            "type": "error",
            "code": "session_ended",
            "message": "Your API token expired or was revoked.",
        }
        assert (await communicator.receive_output())["code"] == 4403

    run(scenario)
