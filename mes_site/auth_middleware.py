"""Websocket authentication: Django's session, or an API token for integrations.

Browsers authenticate with their session cookie (``AuthMiddlewareStack``). Integrations
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
from django.utils.module_loading import import_string
from rest_framework import exceptions


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


def WebsocketAuthMiddleware(inner):
    return AuthMiddlewareStack(TokenAuthMiddleware(inner))
