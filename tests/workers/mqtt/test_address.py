"""The one MQTT_URL parser: schemes, default ports, credentials and the errors it names."""

from __future__ import annotations

import ssl
import subprocess
from types import SimpleNamespace

import pytest

from tests.mosquitto import DEPLOY_DIR
from workers.mqtt.address import BrokerAddress, broker_address_from_settings, parse_broker_url


def test_a_plain_url_defaults_to_port_1883_without_tls_or_credentials() -> None:
    assert parse_broker_url("mqtt://broker.plant") == BrokerAddress("broker.plant", 1883)


def test_mqtts_defaults_to_port_8883_with_tls() -> None:
    address = parse_broker_url("mqtts://broker.plant")

    assert address == BrokerAddress("broker.plant", 8883, use_tls=True)
    assert str(address) == "mqtts://broker.plant:8883"


@pytest.mark.parametrize(
    ("url", "port", "use_tls"),
    [("tcp://h", 1883, False), ("ssl://h", 8883, True), ("mqtt://h:1884", 1884, False)],
)
def test_aliases_and_explicit_ports(url: str, port: int, use_tls: bool) -> None:
    address = parse_broker_url(url)

    assert (address.host, address.port, address.use_tls) == ("h", port, use_tls)


def test_user_and_password_are_percent_decoded() -> None:
    address = parse_broker_url("mqtts://line%40a:p%3Ass%2Fw@10.0.0.5:8884")

    assert address == BrokerAddress("10.0.0.5", 8884, "line@a", "p:ss/w", use_tls=True)
    assert "p:ss/w" not in str(address)


def test_a_user_without_password_has_no_password() -> None:
    address = parse_broker_url("mqtt://reader@localhost")

    assert (address.username, address.password) == ("reader", None)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://localhost:1883", "the scheme must be mqtt:// or mqtts://"),
        ("localhost:1883", "the scheme must be mqtt:// or mqtts://"),
        ("", "the scheme must be mqtt:// or mqtts://"),
        ("mqtt://", "has no host"),
        ("mqtt://:1883", "has no host"),
        ("mqtt://localhost:99999", "out of range"),
        ("mqtt://localhost:port", "MQTT_URL 'mqtt://localhost:port'"),
        ("mqtt://[::1", "MQTT_URL 'mqtt://[::1'"),
    ],
)
def test_a_bad_url_raises_a_value_error_that_names_it(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[")) as raised:
        parse_broker_url(url)

    assert repr(url) in str(raised.value)


def test_a_non_string_is_refused() -> None:
    with pytest.raises(ValueError, match="must be a string"):
        parse_broker_url(None)  # type: ignore[arg-type]


# --- credentials and TLS files from the environment (MQTT_USERNAME, MQTT_CA_FILE, …) ---------


def test_credentials_from_the_settings_apply_when_the_url_has_none() -> None:
    address = parse_broker_url("mqtt://localhost", username="bridge", password="s3cret")

    assert (address.username, address.password) == ("bridge", "s3cret")
    assert "s3cret" not in repr(address)


def test_credentials_in_the_url_win_over_the_settings() -> None:
    address = parse_broker_url("mqtt://url-user:url-pw@localhost", username="x", password="y")

    assert (address.username, address.password) == ("url-user", "url-pw")


def test_tls_files_need_a_tls_url(tmp_path) -> None:
    ca_file = tmp_path / "ca.crt"
    ca_file.write_text("x")

    with pytest.raises(ValueError, match=r"MQTT_CA_FILE set, but MQTT_URL .* use mqtts://"):
        parse_broker_url("mqtt://localhost", ca_file=str(ca_file))


def test_a_missing_tls_file_is_named(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"MQTT_CERT_FILE '.*nope.crt' is not a readable file"):
        parse_broker_url("mqtts://localhost", cert_file=str(tmp_path / "nope.crt"), key_file=None)


def test_a_key_without_its_certificate_is_refused(tmp_path) -> None:
    key_file = tmp_path / "client.key"
    key_file.write_text("x")

    with pytest.raises(ValueError, match="MQTT_KEY_FILE is set without MQTT_CERT_FILE"):
        parse_broker_url("mqtts://localhost", key_file=str(key_file))


def test_the_tls_context_trusts_the_ca_file_and_presents_the_client_certificate(
    tmp_path,
) -> None:
    subprocess.run(
        [DEPLOY_DIR / "make-certs.sh", tmp_path, "mes-bridge"], check=True, capture_output=True
    )
    address = parse_broker_url(
        "mqtts://localhost",
        ca_file=str(tmp_path / "ca.crt"),
        cert_file=str(tmp_path / "mes-bridge.crt"),
        key_file=str(tmp_path / "mes-bridge.key"),
    )

    context = address.tls_context()

    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [ca["subject"] for ca in context.get_ca_certs()] == [
        ((("organizationName", "Open MES"),), (("commonName", "Open MES broker CA"),))
    ]
    assert parse_broker_url("mqtt://localhost").tls_context() is None


def test_a_file_that_is_no_certificate_is_refused_when_the_context_is_made(tmp_path) -> None:
    not_a_certificate = tmp_path / "ca.crt"
    not_a_certificate.write_text("hello")
    address = parse_broker_url("mqtts://localhost", ca_file=str(not_a_certificate))

    with pytest.raises(ValueError, match=r"MQTT_CA_FILE .* is not a CA bundle"):
        address.tls_context()


def test_the_settings_name_every_part(tmp_path) -> None:
    subprocess.run(
        [DEPLOY_DIR / "make-certs.sh", tmp_path, "mes-bridge"], check=True, capture_output=True
    )
    settings = SimpleNamespace(
        MQTT_URL="mqtts://broker.plant",
        MQTT_USERNAME="mes-bridge",
        MQTT_PASSWORD="pw",
        MQTT_CA_FILE=str(tmp_path / "ca.crt"),
        MQTT_CERT_FILE=str(tmp_path / "mes-bridge.crt"),
        MQTT_KEY_FILE=str(tmp_path / "mes-bridge.key"),
    )

    address = broker_address_from_settings(settings)

    assert address == BrokerAddress(
        "broker.plant",
        8883,
        "mes-bridge",
        "pw",
        use_tls=True,
        ca_file=settings.MQTT_CA_FILE,
        cert_file=settings.MQTT_CERT_FILE,
        key_file=settings.MQTT_KEY_FILE,
    )
