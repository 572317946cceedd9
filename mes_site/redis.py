"""The one Redis client factory of the project.

Every process part that talks to Redis directly (ingest debounce and current values, the
live broadcast's rate limit, the live OEE counters, Celery's redelivery records) takes its
client here: one client (and connection pool) per URL and process, with the same timeouts,
so a slow or lost Redis fails every caller the same way instead of stalling one for longer.
redis-py reconnects by itself after a fork.
"""

from __future__ import annotations

import threading

import redis
from django.conf import settings

_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def redis_client(url: str | None = None) -> redis.Redis:
    """The process-wide client for ``url`` (default: ``REDIS_URL``)."""
    url = url or settings.REDIS_URL
    client = _clients.get(url)
    if client is None:
        with _clients_lock:
            client = _clients.get(url)
            if client is None:
                client = redis.Redis.from_url(
                    url,
                    socket_timeout=settings.REDIS_SOCKET_TIMEOUT_S,
                    socket_connect_timeout=settings.REDIS_CONNECT_TIMEOUT_S,
                )
                _clients[url] = client
    return client
