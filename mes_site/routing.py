"""Websocket URL patterns of the project, collected from the apps that have consumers."""

from live.routing import websocket_urlpatterns

__all__ = ["websocket_urlpatterns"]
