"""One Redis connection pool per process for Django's cache, shared by every request.

Django makes a cache backend object per thread and asyncio context, and each makes its own connection
pool: under ASGI every request is a new context, so every request opened (and then dropped) a new Redis
connection for the first cache call, e.g. the logout denylist check on each authenticated request: a
TCP connect, HELLO and CLIENT SETINFO (which reads package metadata) every time. With this pool class
(CACHES OPTIONS pool_class) the objects stay per context but their pools are one per URL and options.
redis-py's pool notices a fork and starts afresh in the child, so forked workers do not share sockets.
"""

import threading

import redis


class SharedConnectionPool(redis.ConnectionPool):
    _shared: dict[tuple, redis.ConnectionPool] = {}
    _lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **kwargs) -> redis.ConnectionPool:
        key = (url, tuple(sorted((k, repr(v)) for k, v in kwargs.items())))
        with cls._lock:
            pool = cls._shared.get(key)
            if pool is None:
                pool = cls._shared[key] = super().from_url(url, **kwargs)
        return pool
