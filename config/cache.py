"""Django's Redis cache with one connection pool and one client object per process, shared by every request.

Django makes a cache backend object per thread and asyncio context, and each makes its own connection
pool: under ASGI every request is a new context, so every request opened (and then dropped) a new Redis
connection for the first cache call, e.g. the logout denylist check on each authenticated request: a
TCP connect, HELLO and CLIENT SETINFO (which reads package metadata) every time. With this pool class
(CACHES OPTIONS pool_class) the objects stay per context but their pools are one per URL and options.
redis-py's pool notices a fork and starts afresh in the child, so forked workers do not share sockets.

Django's cache client also builds a new `redis.Redis` for every single cache call, and a `redis.Redis`
fills its table of about 170 response callbacks when it is made: with four cache calls per authenticated
request that was a sixth of a small API request's CPU (bench/api_cpu.py). `RedisCache` (the BACKEND)
makes one per pool and keeps it; a `redis.Redis` over a pool is safe to share between threads.
"""

import threading

import redis
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


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


class SharedClientCacheClient(RedisCacheClient):
    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = getattr(pool, "_django_cache_client", None)
        if client is None:  # two threads may both make one here: either is fine, one stays
            client = pool._django_cache_client = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = SharedClientCacheClient
