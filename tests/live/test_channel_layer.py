"""The Redis channel layer as configured: its idle connections survive (socket_timeout None).

redis-py 8 applies a 5 s default socket timeout to every read. channels-redis waits for
messages with a blocking BZPOPMIN of up to 5 s, so with the default a layer that sits idle
for longer than that fails with "Timeout reading from ...". The settings pass
``socket_timeout: None`` in the layer's host config; these tests pin both facts.

The layer's pool is bounded and waits for a free connection (``mes_site.channel_layer``):
a burst of group joins larger than the pool is served, where channels-redis's own pool raises
``MaxConnectionsError``.
"""

from __future__ import annotations

import asyncio

import pytest
import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer as ChannelsRedisChannelLayer
from django.conf import settings
from redis.asyncio import BlockingConnectionPool

from mes_site.channel_layer import RedisChannelLayer

IDLE_S = 7.0  # longer than redis-py's default socket timeout of 5 s


def test_the_layer_is_channels_redis_with_no_socket_timeout_and_a_waiting_pool():
    layer_settings = settings.CHANNEL_LAYERS["default"]
    assert layer_settings["BACKEND"] == "mes_site.channel_layer.RedisChannelLayer"
    host = {
        "address": settings.REDIS_URL,
        "socket_timeout": None,
        "max_connections": settings.CHANNEL_LAYER_MAX_CONNECTIONS,
        "timeout": settings.CHANNEL_LAYER_POOL_TIMEOUT_S,
    }
    assert layer_settings["CONFIG"]["hosts"] == [host]
    layer = get_channel_layer()
    assert isinstance(layer, ChannelsRedisChannelLayer)
    assert layer.hosts == [host]
    pool = layer.create_pool(0)
    assert isinstance(pool, BlockingConnectionPool)
    assert pool.max_connections == settings.CHANNEL_LAYER_MAX_CONNECTIONS
    assert pool.timeout == settings.CHANNEL_LAYER_POOL_TIMEOUT_S
    assert pool.connection_kwargs["socket_timeout"] is None


async def _group_adds(layer: ChannelsRedisChannelLayer, count: int) -> list[str]:
    channels = [await layer.new_channel() for _ in range(count)]
    try:
        await asyncio.gather(*(layer.group_add("burst", channel) for channel in channels))
        return sorted(
            member.decode()
            for member in await layer.connection(0).zrange(layer._group_key("burst"), 0, -1)
        )
    finally:
        await layer.flush()


def test_a_burst_larger_than_the_pool_waits_for_connections_instead_of_failing():
    host = {"address": settings.REDIS_URL, "socket_timeout": None, "max_connections": 2}
    layer = RedisChannelLayer(hosts=[{**host, "timeout": 20}])
    members = async_to_sync(_group_adds)(layer, 50)
    assert len(members) == 50


def test_channels_redis_own_pool_fails_on_such_a_burst():
    """Why the layer exists: the plain pool raises instead of waiting."""
    host = {"address": settings.REDIS_URL, "socket_timeout": None, "max_connections": 2}
    layer = ChannelsRedisChannelLayer(hosts=[host])
    with pytest.raises(redis.exceptions.MaxConnectionsError):
        async_to_sync(_group_adds)(layer, 50)


async def _receive_after_idle(layer: ChannelsRedisChannelLayer) -> dict:
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
    layer = ChannelsRedisChannelLayer(hosts=[{"address": settings.REDIS_URL}])
    with pytest.raises(redis.exceptions.TimeoutError, match="Timeout reading from"):
        async_to_sync(_receive_after_idle)(layer)
