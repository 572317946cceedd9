"""The diagnostics side of a health change: the live payload and the one MQTT connection."""

from __future__ import annotations

import os

import pytest

from maintenance.api.serializers import HealthSnapshotSerializer
from maintenance.models import HealthSnapshot
from maintenance.services import diagnostics
from maintenance.services.diagnostics import diagnostics_publisher, health_payload


@pytest.fixture
def fresh_publisher():
    """No publisher left over from another test, and none left behind."""
    diagnostics._publisher_forget_after_fork()
    yield
    if diagnostics._publisher is not None:
        diagnostics._publisher.close()
    diagnostics._publisher_forget_after_fork()


def test_the_live_payload_has_exactly_the_api_fields_and_values(baseline_learned):
    snapshot = HealthSnapshot.objects.select_related("equipment").get(pk=baseline_learned.pk)

    payload = health_payload(snapshot)

    assert payload == dict(HealthSnapshotSerializer(snapshot).data)
    assert list(payload) == list(HealthSnapshotSerializer.Meta.fields)
    assert payload["ts"].endswith("Z")


def test_every_publish_of_a_process_goes_over_one_connection(uns_listener, fresh_publisher):
    publisher = diagnostics_publisher()
    publisher.publish(f"{uns_listener.root}/a/_diagnostics", b"1")
    first_client = publisher._client

    diagnostics_publisher().publish(f"{uns_listener.root}/b/_diagnostics", b"2")

    assert diagnostics_publisher() is publisher
    assert publisher._client is first_client
    assert [payload for _, payload, *_ in uns_listener.wait_for(2)] == [b"1", b"2"]


def test_a_lost_connection_is_opened_again_on_the_next_publish(uns_listener, fresh_publisher):
    publisher = diagnostics_publisher()
    publisher.publish(f"{uns_listener.root}/a/_diagnostics", b"1")
    lost_client = publisher._client
    lost_client.disconnect()  # as when the broker went away
    lost_client.loop_stop()

    publisher.publish(f"{uns_listener.root}/a/_diagnostics", b"2")

    assert publisher._client is not lost_client
    assert publisher._client.is_connected()
    assert [payload for _, payload, *_ in uns_listener.wait_for(2)] == [b"1", b"2"]


def test_an_unreachable_broker_raises_and_keeps_no_connection(settings, fresh_publisher):
    settings.MQTT_URL = "mqtt://127.0.0.1:1"  # nothing listens there
    publisher = diagnostics_publisher()

    with pytest.raises(ConnectionRefusedError):
        publisher.publish("test-maint/unreachable/_diagnostics", b"1")

    assert publisher._client is None


def test_a_changed_broker_url_gets_a_new_publisher(settings, fresh_publisher):
    first = diagnostics_publisher()
    settings.MQTT_URL = "mqtt://127.0.0.1:1"

    second = diagnostics_publisher()

    assert second is not first
    assert (second.address.host, second.address.port) == ("127.0.0.1", 1)


def test_a_forked_child_never_uses_its_parent_s_publisher(fresh_publisher):
    parent = diagnostics_publisher()

    child_pid = os.fork()
    if child_pid == 0:  # the child: exit 0 only if it would build its own publisher
        os._exit(0 if diagnostics._publisher is None else 1)
    _, status = os.waitpid(child_pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert diagnostics._publisher is parent
