"""The Redis channel layer as configured: its idle connections survive (socket_timeout None).

redis-py 8 applies a 5 s default socket timeout to every read. channels-redis waits for
messages with a blocking BZPOPMIN of up to 5 s, so with the default a layer that sits idle
for longer than that fails with "Timeout reading from ...". The settings pass
``socket_timeout: None`` in the layer's host config; these tests pin both facts.
"""

from __future__ import annotations

import asyncio

import pytest
import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.conf import settings

IDLE_S = 7.0  # longer than redis-py's default socket timeout of 5 s


def test_the_layer_is_channels_redis_with_no_socket_timeout():
    layer_settings = settings.CHANNEL_LAYERS["default"]
    assert layer_settings["BACKEND"] == "channels_redis.core.RedisChannelLayer"
    assert layer_settings["CONFIG"]["hosts"] == [
        {"address": settings.REDIS_URL, "socket_timeout": None}
    ]
    layer = get_channel_layer()
    assert isinstance(layer, RedisChannelLayer)
    assert layer.hosts == [{"address": settings.REDIS_URL, "socket_timeout": None}]


async def _receive_after_idle(layer: RedisChannelLayer) -> dict:
    channel = await layer.new_channel()

    async def send_later() -> None:
        await asyncio.sleep(IDLE_S)
        await layer.send(channel, {"type": "late.message", "n": 1})

    sender = asyncio.create_task(send_later())
    try:
        return await asyncio.wait_for(layer.receive(channel), IDLE_S + 5)
    finally:
        sender.cancel()
        await layer.flush()


def test_the_configured_layer_receives_after_a_long_idle_wait():
    layer = RedisChannelLayer(**settings.CHANNEL_LAYERS["default"]["CONFIG"])
    message = async_to_sync(_receive_after_idle)(layer)
    assert message == {"type": "late.message", "n": 1}


def test_without_the_setting_an_idle_layer_times_out():
    """Why the setting exists: redis-py's default timeout breaks the layer's blocking read."""
    layer = RedisChannelLayer(hosts=[{"address": settings.REDIS_URL}])
    with pytest.raises(redis.exceptions.TimeoutError, match="Timeout reading from"):
        async_to_sync(_receive_after_idle)(layer)
