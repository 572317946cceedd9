"""The websocket Origin check: scheme, host and port, as Django's CSRF check compares them.

channels' ``AllowedHostsOriginValidator`` compares the Origin's host with ALLOWED_HOSTS and
ignores scheme and port, so a page on another port of the same host (another application) or
plain http in front of an https site could open a socket with the user's cookies. Here an
Origin is accepted when it is

- the socket's own origin: the Host header is in ALLOWED_HOSTS and the Origin has the same
  host and port and the matching scheme (``http`` for ``ws``, ``https`` for ``wss`` or for a
  request that ``SECURE_PROXY_SSL_HEADER`` marks as secure), or
- listed in ``WEBSOCKET_ALLOWED_ORIGINS`` (scheme, host and port; ``https://*.example.com``
  allows the subdomains), which defaults to ``CSRF_TRUSTED_ORIGINS``.

A missing or malformed Origin is refused. Settings are read at each handshake.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_parts(origin: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an http(s) origin, the port filled in; None if malformed."""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        return None
    return parts.scheme, parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme]


def _header(scope, name: bytes) -> str | None:
    values = [value for key, value in scope.get("headers", []) if key == name]
    if len(values) != 1:
        return None
    try:
        return values[0].decode("latin1")
    except UnicodeDecodeError:
        return None


def _is_secure(scope) -> bool:
    if scope.get("scheme") in ("wss", "https"):  # daphne --proxy-headers may set https
        return True
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if not proxy_header:
        return False
    name, secure_value = proxy_header
    header = name.removeprefix("HTTP_").lower().replace("_", "-").encode("latin1")
    value = _header(scope, header)
    return value is not None and value.split(",")[0].strip() == secure_value


def _listed(origin: tuple[str, str, int]) -> bool:
    scheme, host, port = origin
    allowed = getattr(settings, "WEBSOCKET_ALLOWED_ORIGINS", settings.CSRF_TRUSTED_ORIGINS)
    for pattern in allowed:
        parts = _origin_parts(pattern.replace("://*.", "://wildcard.", 1))
        if parts is None or parts[0] != scheme or parts[2] != port:
            continue
        if "://*." in pattern:
            if is_same_domain(host, "." + parts[1].removeprefix("wildcard.")):
                return True
        elif parts[1] == host:
            return True
    return False


def _same_origin(scope, origin: tuple[str, str, int]) -> bool:
    host_header = _header(scope, b"host")
    if not host_header:
        return False
    domain, port = split_domain_port(host_header)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    scheme = "https" if _is_secure(scope) else "http"
    own = (scheme, domain.lower().strip("[]"), int(port) if port else DEFAULT_PORTS[scheme])
    return origin == own


def origin_allowed(scope) -> bool:
    origin_header = _header(scope, b"origin")
    origin = _origin_parts(origin_header) if origin_header else None
    if origin is None:
        return False
    return _same_origin(scope, (origin[0], origin[1].strip("[]"), origin[2])) or _listed(origin)


class OriginValidator:
    """ASGI middleware: refuse (HTTP 403 at the handshake) a websocket from another origin."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
