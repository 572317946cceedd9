"""The shipped broker configuration (deploy/mosquitto/) with the real bridge, Celery worker
and PostgreSQL: TLS with client certificates, the per-client ACL, and a 10-second bridge
outage at 300 messages/s that loses nothing."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from django.db.models import Sum

from scripts.check_services import mqtt_connect_packet
from tests.mosquitto import ShippedMosquitto
from workers.models import DeadLetter, IngestBatch, Reading
from workers.mqtt.address import BrokerAddress, parse_broker_url

from .conftest import SIGNALS, wait_for
from .test_ingest_pipeline import _is_settled

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(240),
]

DEVICE = "L1_M1"  # the test plant's equipment code: its user name under the shipped ACL
CONNACK_ACCEPTED = b"\x20\x02\x00\x00"
RATE_PER_S = 300
PUBLISH_S = 20
OUTAGE_S = 10


@pytest.fixture
def shipped_broker(tmp_path):
    broker = ShippedMosquitto(
        tmp_path / "shipped-broker",
        users=("mes-bridge", "mes-simulator", DEVICE),
        certificate_clients=("mes-bridge", DEVICE),
    ).start()
    yield broker
    broker.kill()


@pytest.fixture
def broker(shipped_broker):
    """The pipeline's broker (tests/integration/conftest.py): the shipped configuration."""
    return shipped_broker.port


@pytest.fixture
def uns_pipeline(pipeline, settings):
    """The shipped ACL grants the bridge the UNS as the contract defines it (6 or 7 levels
    from the top): no topic root."""
    settings.MQTT_UNS_ROOT = ""
    pipeline.environment["MQTT_UNS_ROOT"] = ""
    return pipeline


class DevicePublisher:
    """The equipment's own client: logs in as the device, publishes QoS 1 at a steady rate."""

    def __init__(self, address: BrokerAddress) -> None:
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"it-device-{uuid.uuid4().hex[:10]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.username_pw_set(address.username, address.password)
        context = address.tls_context()
        if context is not None:
            self.client.tls_set_context(context)
        self.client.max_inflight_messages_set(1000)
        connected = threading.Event()
        self.refusals: list[str] = []

        def on_connect(client, userdata, flags, reason_code, properties) -> None:
            if reason_code.is_failure:
                self.refusals.append(str(reason_code))
            connected.set()

        self.client.on_connect = on_connect
        self.client.connect(address.host, address.port)
        self.client.loop_start()
        assert connected.wait(10) and not self.refusals, self.refusals
        self.acknowledged = 0

    def publish_all(self, messages, *, per_second: float | None = None) -> None:
        infos = []
        started = time.monotonic()
        for index, (topic, payload) in enumerate(messages):
            infos.append(self.client.publish(topic, payload, qos=1))
            if per_second and index % 10 == 9:
                ahead_s = (index + 1) / per_second - (time.monotonic() - started)
                if ahead_s > 0:
                    time.sleep(ahead_s)
        for info in infos:
            info.wait_for_publish(timeout=60)
            self.acknowledged += info.rc == mqtt.MQTT_ERR_SUCCESS

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _reading_message(equipment, index: int, base: datetime) -> tuple[str, bytes]:
    """A one-reading message; the index fixes (signal, ts), so it is one row."""
    ts = base + timedelta(milliseconds=index)
    topic = f"{equipment.uns_path}/{SIGNALS[index % len(SIGNALS)]}"
    return topic, json.dumps({"ts": round(ts.timestamp() * 1000), "value": 1.0}).encode()


def _connack(address: BrokerAddress, user: str, password: str) -> bytes | Exception:
    """The broker's answer to an MQTT CONNECT over ``address``'s TLS, or the error."""
    context = address.tls_context()
    assert context is not None
    try:
        with (
            socket.create_connection((address.host, address.port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname=address.host) as sock,
        ):
            sock.sendall(mqtt_connect_packet(f"it-{uuid.uuid4().hex[:8]}", user, password))
            return sock.recv(4)
    except (OSError, ssl.SSLError) as error:
        return error


def test_the_bridge_ingests_over_tls_with_its_client_certificate(
    shipped_broker, uns_pipeline, equipment
):
    certificates = shipped_broker.certificates
    uns_pipeline.environment.update(
        {
            "MQTT_URL": f"mqtts://localhost:{shipped_broker.tls_port}",
            "MQTT_USERNAME": "mes-bridge",
            "MQTT_PASSWORD": shipped_broker.password("mes-bridge"),
            "MQTT_CA_FILE": str(certificates / "ca.crt"),
            "MQTT_CERT_FILE": str(certificates / "mes-bridge.crt"),
            "MQTT_KEY_FILE": str(certificates / "mes-bridge.key"),
        }
    )
    uns_pipeline.worker().start()
    bridge = uns_pipeline.bridge().start()
    bridge.wait_for_log("subscribed to")
    device = DevicePublisher(
        parse_broker_url(
            shipped_broker.client_url(DEVICE, tls=True),
            ca_file=str(certificates / "ca.crt"),
            cert_file=str(certificates / f"{DEVICE}.crt"),
            key_file=str(certificates / f"{DEVICE}.key"),
        )
    )
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    device.publish_all([_reading_message(equipment, 0, base)])
    device.close()

    assert wait_for(lambda: Reading.objects.count() == 1, 60)
    reading = Reading.objects.get()
    assert (reading.signal.name, reading.value) == (SIGNALS[0], 1.0)
    assert "mqtts://localhost" in bridge.log() and "Traceback" not in bridge.log()


def test_tls_clients_without_a_certificate_of_our_ca_are_refused(shipped_broker, tmp_path):
    certificates = shipped_broker.certificates
    stranger = ShippedMosquitto(tmp_path / "stranger", certificate_clients=(DEVICE,))
    stranger._prepare()  # another CA with a client certificate of the same name
    password = shipped_broker.password(DEVICE)

    def address(ca_dir, cert_dir=None) -> BrokerAddress:
        return parse_broker_url(
            f"mqtts://localhost:{shipped_broker.tls_port}",
            ca_file=str(ca_dir / "ca.crt"),
            cert_file=str(cert_dir / f"{DEVICE}.crt") if cert_dir else None,
            key_file=str(cert_dir / f"{DEVICE}.key") if cert_dir else None,
        )

    accepted = _connack(address(certificates, certificates), DEVICE, password)
    without_certificate = _connack(address(certificates), DEVICE, password)
    foreign_certificate = _connack(address(certificates, stranger.certificates), DEVICE, password)
    trusting_another_ca = _connack(address(stranger.certificates, certificates), DEVICE, password)
    wrong_password = _connack(address(certificates, certificates), DEVICE, "guess")

    assert accepted == CONNACK_ACCEPTED
    assert without_certificate in (b"",) or isinstance(without_certificate, ssl.SSLError | OSError)
    assert foreign_certificate in (b"",) or isinstance(foreign_certificate, ssl.SSLError | OSError)
    assert isinstance(trusting_another_ca, ssl.SSLCertVerificationError)
    assert wrong_password != CONNACK_ACCEPTED and wrong_password[:2] == b"\x20\x02"
    assert "peer did not return a certificate" in shipped_broker.log_path.read_text()


def test_a_device_publishes_below_its_own_equipment_only(shipped_broker, uns_pipeline, plant):
    """The shipped ACL: the device's messages for another equipment never reach the bridge."""
    from production.models import Signal

    for item in (plant.equipment, plant.other_equipment):
        Signal.objects.create(equipment=item, name=SIGNALS[0], min_value=-100, max_value=100)
    uns_pipeline.environment["MQTT_URL"] = shipped_broker.client_url("mes-bridge")
    uns_pipeline.worker().start()
    bridge = uns_pipeline.bridge().start()
    bridge.wait_for_log("subscribed to")
    device = DevicePublisher(parse_broker_url(shipped_broker.client_url(DEVICE)))
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    foreign_topic, payload = _reading_message(plant.other_equipment, 0, base)
    device.publish_all([(foreign_topic, payload), _reading_message(plant.equipment, 0, base)])
    device.close()

    assert wait_for(lambda: Reading.objects.count() == 1, 60)
    assert wait_for(lambda: _is_settled(uns_pipeline))
    assert Reading.objects.get().signal.equipment_id == plant.equipment.id
    assert IngestBatch.objects.aggregate(total=Sum("message_count"))["total"] == 1
    assert DeadLetter.objects.count() == 0


@pytest.mark.xdist_group("heavy")  # a timed outage: not beside another heavy test
def test_a_10_second_bridge_outage_at_300_messages_per_s_loses_nothing(
    shipped_broker, uns_pipeline, equipment
):
    uns_pipeline.environment["MQTT_URL"] = shipped_broker.client_url("mes-bridge")
    uns_pipeline.worker().start()
    bridge = uns_pipeline.bridge().start()
    bridge.wait_for_log("subscribed to")
    device = DevicePublisher(parse_broker_url(shipped_broker.client_url(DEVICE)))
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    count = RATE_PER_S * PUBLISH_S
    messages = [_reading_message(equipment, index, base) for index in range(count)]
    sender = threading.Thread(
        target=device.publish_all, args=(messages,), kwargs={"per_second": RATE_PER_S}
    )
    sender.start()
    # A quarter in, the bridge stops (SIGTERM: it hands on what it has and disconnects; its
    # persistent session stays on the broker) and stays away for 10 s.
    assert wait_for(lambda: Reading.objects.count() >= count // 4, 30)
    assert bridge.terminate() == 0
    stopped_at = Reading.objects.count()
    time.sleep(OUTAGE_S)  # the outage itself
    bridge.start()
    bridge.wait_for_log(r"session present: True")
    sender.join(timeout=60)
    device.close()

    assert device.acknowledged == count
    assert stopped_at < count // 2  # the outage fell in the middle of the stream
    wait_for(lambda: Reading.objects.count() >= count and _is_settled(uns_pipeline), 60)
    assert Reading.objects.count() == count
    assert IngestBatch.objects.aggregate(total=Sum("stored_count"))["total"] == count
    assert DeadLetter.objects.count() == 0
    assert "Traceback" not in bridge.log()
