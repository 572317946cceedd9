"""The MQTT broker address from ``MQTT_URL`` (pure: no Django, no paho).

``mqtt://[user[:password]@]host[:port]`` for plain TCP (port 1883 by default) and
``mqtts://…`` for TLS (port 8883 by default); ``tcp://`` and ``ssl://`` are accepted as their
aliases. User name and password are percent-decoded; without them in the URL,
``MQTT_USERNAME`` / ``MQTT_PASSWORD`` supply them. For TLS, ``MQTT_CA_FILE`` names the CA
bundle that signs the broker's certificate (default: the system's CAs) and
``MQTT_CERT_FILE`` / ``MQTT_KEY_FILE`` a client certificate and its key. Every bad URL or file
raises ``ValueError`` with a message that names the setting and what is wrong with it.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import unquote, urlsplit

__all__ = [
    "DEFAULT_PORTS",
    "TLS_SCHEMES",
    "BrokerAddress",
    "broker_address_from_settings",
    "parse_broker_url",
]

DEFAULT_PORTS: Final = {"mqtt": 1883, "tcp": 1883, "mqtts": 8883, "ssl": 8883}
TLS_SCHEMES: Final = frozenset({"mqtts", "ssl"})


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    use_tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    def __str__(self) -> str:
        return f"{'mqtts' if self.use_tls else 'mqtt'}://{self.host}:{self.port}"

    def tls_context(self) -> ssl.SSLContext | None:
        """The TLS context of a ``mqtts://`` address (None for plain MQTT): the broker's
        certificate verified against ``ca_file`` (or the system's CAs) and its host name, the
        client certificate presented when one is configured."""
        if not self.use_tls:
            return None
        try:
            context = ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as error:
            raise ValueError(f"MQTT_CA_FILE {self.ca_file!r} is not a CA bundle: {error}") from None
        if self.cert_file is not None:
            try:
                context.load_cert_chain(self.cert_file, self.key_file)
            except (OSError, ssl.SSLError) as error:
                raise ValueError(
                    f"MQTT_CERT_FILE {self.cert_file!r} / MQTT_KEY_FILE {self.key_file!r}: "
                    f"not a certificate and its key ({error})"
                ) from None
        return context


def _readable_file(setting: str, path: str | None) -> str | None:
    if not path:
        return None
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise ValueError(f"{setting} {path!r} is not a readable file")
    return path


def parse_broker_url(
    url: str,
    *,
    username: str | None = None,
    password: str | None = None,
    ca_file: str | None = None,
    cert_file: str | None = None,
    key_file: str | None = None,
) -> BrokerAddress:
    """The broker address of ``url``; ``ValueError`` for a URL that is not an MQTT broker's.

    ``username``/``password`` apply when the URL has no user; the TLS files need a TLS URL
    and must be readable files (checked here, so that a typo fails at start, by name)."""
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
    use_tls = parts.scheme in TLS_SCHEMES
    tls_files = {"MQTT_CA_FILE": ca_file, "MQTT_CERT_FILE": cert_file, "MQTT_KEY_FILE": key_file}
    given = [name for name, path in tls_files.items() if path]
    if given and not use_tls:
        raise ValueError(
            f"{', '.join(given)} set, but MQTT_URL {url!r} is not a TLS URL: use mqtts://"
        )
    if key_file and not cert_file:
        raise ValueError("MQTT_KEY_FILE is set without MQTT_CERT_FILE (the client certificate)")
    if parts.username:
        username = unquote(parts.username)
        password = unquote(parts.password) if parts.password else None
    return BrokerAddress(
        host=parts.hostname,
        port=port,
        username=username or None,
        password=password or None,
        use_tls=use_tls,
        ca_file=_readable_file("MQTT_CA_FILE", ca_file),
        cert_file=_readable_file("MQTT_CERT_FILE", cert_file),
        key_file=_readable_file("MQTT_KEY_FILE", key_file),
    )


def broker_address_from_settings(settings: Any) -> BrokerAddress:
    """The broker address of the project's settings (``MQTT_URL``, ``MQTT_USERNAME``,
    ``MQTT_PASSWORD``, ``MQTT_CA_FILE``, ``MQTT_CERT_FILE``, ``MQTT_KEY_FILE``); every MQTT
    client of the MES connects through it."""
    return parse_broker_url(
        settings.MQTT_URL,
        username=getattr(settings, "MQTT_USERNAME", None),
        password=getattr(settings, "MQTT_PASSWORD", None),
        ca_file=getattr(settings, "MQTT_CA_FILE", None),
        cert_file=getattr(settings, "MQTT_CERT_FILE", None),
        key_file=getattr(settings, "MQTT_KEY_FILE", None),
    )
