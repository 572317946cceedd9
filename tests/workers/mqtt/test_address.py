"""The one MQTT_URL parser: schemes, default ports, credentials and the errors it names."""

from __future__ import annotations

import pytest

from workers.mqtt.address import BrokerAddress, parse_broker_url


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
