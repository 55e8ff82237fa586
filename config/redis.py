"""One Redis client per process for the platform's own keys (tickers, locks, counters)."""

from functools import lru_cache

import redis
from django.conf import settings


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30,
                                decode_responses=True)


def get_redis() -> redis.Redis:
    return _client(settings.REDIS_URL)
