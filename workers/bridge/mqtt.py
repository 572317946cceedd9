"""Shared MQTT plumbing of the bridge: broker address from ``MQTT_URL`` and client creation.

No Django imports: the bridge classes get plain settings objects, so tests and benchmarks can
run them without a configured project."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    use_tls: bool = False

    @classmethod
    def from_url(cls, url: str) -> BrokerAddress:
        """``mqtt://[user:password@]host[:port]`` or ``mqtts://...`` (TLS, default port 8883)."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ValueError(f"MQTT_URL {url!r}: the scheme must be mqtt:// or mqtts://")
        use_tls = parts.scheme in ("mqtts", "ssl")
        if not parts.hostname:
            raise ValueError(f"MQTT_URL {url!r} has no host")
        return cls(
            parts.hostname,
            parts.port or (8883 if use_tls else 1883),
            unquote(parts.username) if parts.username else None,
            unquote(parts.password) if parts.password else None,
            use_tls,
        )

    def __str__(self) -> str:
        return f"{'mqtts' if self.use_tls else 'mqtt'}://{self.host}:{self.port}"


def client_create(
    address: BrokerAddress, *, client_id: str, manual_ack: bool = False
) -> mqtt.Client:
    """A paho 2 client (VERSION2 callbacks, MQTT 5) with credentials, TLS and a reconnect
    backoff of 1 s doubling to 30 s."""
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=manual_ack,
    )
    if address.username is not None:
        client.username_pw_set(address.username, address.password)
    if address.use_tls:
        client.tls_set_context(ssl.create_default_context())
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client
