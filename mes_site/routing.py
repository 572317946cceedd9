"""Websocket URL patterns collected from the apps that have consumers."""

from django.urls import path

from production.consumers import LiveConsumer

websocket_urlpatterns: list = [
    path("ws/live/", LiveConsumer.as_asgi(), name="ws-live"),
]
