"""Websocket authentication: Django's session, or an API token for integrations.

Browsers authenticate with their session cookie (``AuthMiddlewareStack``); a session of a
user who must give a second factor counts only once it has (``mes_site.mfa``). Integrations
that cannot hold a session send ``Authorization: Token <key>`` in the handshake, as with the
REST API, checked by the same authentication class (``API_TOKEN_AUTHENTICATION``: hashed,
expiring, revocable tokens); the token is never read from the query string (it would end up
in access logs). The consumer refuses whatever is still anonymous, and re-checks the account
while the socket is open.
"""

from __future__ import annotations

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.utils.module_loading import import_string
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.models import Device
from rest_framework import exceptions

from mes_site.mfa import mfa_needed, mfa_station_session


@database_sync_to_async
def _token_user(key: str):
    # The class is named in the settings: mes_site imports no app (docs/architecture.md).
    authentication = import_string(settings.API_TOKEN_AUTHENTICATION)()
    try:
        return authentication.authenticate_credentials(key)
    except exceptions.APIException:  # unknown, expired or revoked: stays anonymous
        return None


def _token_of(scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, key = value.decode("latin1").partition(" ")
            if scheme.lower() == "token" and key.strip():
                return key.strip()
    return None


class TokenAuthMiddleware(BaseMiddleware):
    """Authenticate an anonymous handshake by its ``Authorization: Token`` header."""

    async def __call__(self, scope, receive, send):
        user = scope.get("user")
        if user is None or not user.is_authenticated:
            key = _token_of(scope)
            if key is not None:
                authenticated = await _token_user(key)
                if authenticated is not None:
                    token_user, token = authenticated
                    # The consumer re-checks the token (expiry, revocation) while it is open.
                    scope = dict(scope, user=token_user, api_token_id=token.pk)
        return await super().__call__(scope, receive, send)


@database_sync_to_async
def _second_factor_missing(user, session) -> bool:
    """The session user must give a second factor (mes_site.mfa) and this session has not."""
    if mfa_station_session(session) or not mfa_needed(user):
        return False
    persistent_id = session.get(DEVICE_ID_SESSION_KEY) if session is not None else None
    device = Device.from_persistent_id(persistent_id) if persistent_id else None
    return device is None or device.user_id != user.pk or not device.confirmed


class SecondFactorMiddleware(BaseMiddleware):
    """A session that has only the password is anonymous here, as its pages are held."""

    async def __call__(self, scope, receive, send):
        user = scope.get("user")
        if (
            user is not None
            and user.is_authenticated
            and await _second_factor_missing(user, scope.get("session"))
        ):
            scope = dict(scope, user=AnonymousUser())
        return await super().__call__(scope, receive, send)


def WebsocketAuthMiddleware(inner):
    return AuthMiddlewareStack(SecondFactorMiddleware(TokenAuthMiddleware(inner)))
