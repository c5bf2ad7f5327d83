"""The process's Redis clients (progress bus, previews, cancel flags, worker registry, queue sizes).

One bounded connection pool per process and kind (sync for threads, async for the web backend's
event loop): a burst of callers waits for a free connection instead of opening new ones until the
server's client limit is reached."""

from __future__ import annotations

import asyncio
import weakref
from functools import lru_cache

import redis
import redis.asyncio as aredis

from imagechat.settings import get_settings


def key(*parts: str) -> str:
    """A Redis key in this deployment's namespace."""
    return ":".join((get_settings().redis_namespace, *parts))


@lru_cache
def _sync(url: str, max_connections: int) -> redis.Redis:
    pool = redis.BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=5)
    return redis.Redis(connection_pool=pool)


def client() -> redis.Redis:
    settings = get_settings()
    return _sync(settings.redis_url, settings.redis_max_connections)


def async_client(url: str | None = None) -> aredis.Redis:
    """A new async client on a bounded pool; the caller closes it (it belongs to the caller's loop)."""
    settings = get_settings()
    pool = aredis.BlockingConnectionPool.from_url(url or settings.redis_url,
                                                  max_connections=settings.redis_max_connections, timeout=5)
    return aredis.Redis(connection_pool=pool)


_loop_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def loop_client() -> aredis.Redis:
    """The running event loop's shared async client (for quick lookups on the web backend's loop)."""
    loop = asyncio.get_running_loop()
    found = _loop_clients.get(loop)
    if found is None:
        found = _loop_clients[loop] = async_client()
    return found
