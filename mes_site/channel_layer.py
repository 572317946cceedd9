"""The Redis channel layer with a bounded connection pool that waits when it is exhausted.

channels-redis builds each host's pool with redis-py's ``ConnectionPool.from_url``, which
raises ``MaxConnectionsError`` as soon as all its connections are in use: a burst of
handshakes (a shift change, every tablet reconnecting after a network blip) then closes the
sockets over the limit with 1011. This layer builds a ``BlockingConnectionPool`` instead:
at most ``max_connections`` per process and host, and a caller that finds none free waits up
to ``timeout`` seconds for one (redis-py raises ``ConnectionError`` after that).

Host entries are those of channels-redis; ``max_connections`` and ``timeout`` are read from
them (``CHANNEL_LAYER_MAX_CONNECTIONS``, ``CHANNEL_LAYER_POOL_TIMEOUT_S``), the rest goes to
redis-py's connections as before. Sentinel hosts keep channels-redis's own pool.
"""

from __future__ import annotations

from channels_redis.core import RedisChannelLayer as ChannelsRedisChannelLayer
from redis.asyncio import BlockingConnectionPool


class RedisChannelLayer(ChannelsRedisChannelLayer):
    def create_pool(self, index: int):
        host = dict(self.hosts[index])
        if "address" not in host:
            return super().create_pool(index)
        address = host.pop("address")
        return BlockingConnectionPool.from_url(address, **host)
