"""The MQTT broker address from ``MQTT_URL`` (pure: no Django, no paho).

``mqtt://[user[:password]@]host[:port]`` for plain TCP (port 1883 by default) and
``mqtts://…`` for TLS (port 8883 by default); ``tcp://`` and ``ssl://`` are accepted as their
aliases. User name and password are percent-decoded. Every bad URL raises ``ValueError`` with
a message that names the URL and what is wrong with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote, urlsplit

__all__ = ["DEFAULT_PORTS", "TLS_SCHEMES", "BrokerAddress", "parse_broker_url"]

DEFAULT_PORTS: Final = {"mqtt": 1883, "tcp": 1883, "mqtts": 8883, "ssl": 8883}
TLS_SCHEMES: Final = frozenset({"mqtts", "ssl"})


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    use_tls: bool = False

    def __str__(self) -> str:
        return f"{'mqtts' if self.use_tls else 'mqtt'}://{self.host}:{self.port}"


def parse_broker_url(url: str) -> BrokerAddress:
    """The broker address of ``url``; ``ValueError`` for a URL that is not an MQTT broker's."""
    if not isinstance(url, str):
        raise ValueError(f"MQTT_URL must be a string, got {type(url).__name__}")
    try:
        parts = urlsplit(url)
    except ValueError as error:
        raise ValueError(f"MQTT_URL {url!r}: {error}") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise ValueError(
            f"MQTT_URL {url!r}: the scheme must be mqtt:// or mqtts:// (e.g. mqtt://localhost:1883)"
        )
    if not parts.hostname:
        raise ValueError(f"MQTT_URL {url!r} has no host")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError as error:
        raise ValueError(f"MQTT_URL {url!r}: {error}") from None
    return BrokerAddress(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_tls=parts.scheme in TLS_SCHEMES,
    )
