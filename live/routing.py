"""Websocket URL patterns of the live screens."""

from django.urls import path

from live.consumers import LiveConsumer

websocket_urlpatterns: list = [
    path("ws/live/", LiveConsumer.as_asgi(), name="ws-live"),
]
