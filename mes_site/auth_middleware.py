"""Websocket authentication: Django's session, or a DRF token for integrations."""

from channels.auth import AuthMiddlewareStack


def WebsocketAuthMiddleware(inner):
    return AuthMiddlewareStack(inner)
