"""Websocket authentication: Django's session, or a DRF token for integrations.

Browsers authenticate with their session cookie (``AuthMiddlewareStack``). Integrations
that cannot hold a session send ``Authorization: Token <key>`` in the handshake, as with the
REST API; the token is never read from the query string (it would end up in access logs).
The consumer refuses whatever is still anonymous, and re-checks the account while the
socket is open.
"""

from __future__ import annotations

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware


@database_sync_to_async
def _token_user(key: str):
    from rest_framework.authtoken.models import Token

    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return None
    return token.user


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
                token_user = await _token_user(key)
                if token_user is not None:
                    scope = dict(scope, user=token_user)
        return await super().__call__(scope, receive, send)


def WebsocketAuthMiddleware(inner):
    return AuthMiddlewareStack(TokenAuthMiddleware(inner))
