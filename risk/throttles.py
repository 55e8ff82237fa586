"""The per-user API request quota as a DRF throttle (REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"]).

DRF imports throttle classes while it is itself being imported (APIView's class body), before Django's
apps are ready: this module imports no models at the top; the quota is read per request.

The window is DRF's (SimpleRateThrottle): a sliding minute, every allowed request remembered, refused
ones not counted. DRF keeps that history as one pickled list in the cache, read and written back whole
on every request (two round trips, and up to a minute's worth of timestamps unpickled and pickled each
time); here it is a Redis sorted set per user, trimmed, added to and counted in one MULTI/EXEC round trip.
"""

import os
import time
from functools import lru_cache

from rest_framework import exceptions
from rest_framework.throttling import SimpleRateThrottle

KEY_PREFIX = "throttle:user-requests:"

# One round trip per request: forget what left the window, remember this request, count, the oldest one's
# time, and (for risk.quotas) the user's cached quota values. KEYS: the user's sorted set, the quota
# generation, the user's cached quotas; ARGV: now, this request's member, the window in seconds.
ADMIT_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[3]))
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]) + 1)
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {redis.call('ZCARD', KEYS[1]), oldest[2] or false, redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3])}
"""


@lru_cache(maxsize=4)
def _admit(client):
    """The admission script bound to `client` (EVALSHA, loaded again by redis-py after a Redis restart)."""
    return client.register_script(ADMIT_SCRIPT)


class UserRequestThrottle(SimpleRateThrottle):
    """The per-user API request quota, per user id (a sliding minute). Signed-out requests are left to the
    sign-in throttles. Over it: 429 `throttled` naming the limit, with Retry-After."""

    scope = "user_requests"

    def __init__(self):
        pass  # the rate is per user: read in allow_request

    def get_cache_key(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return None
        return f"{KEY_PREFIX}{request.user.pk}"

    def allow_request(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return True
        from config.redis import get_redis  # at request time: DRF loads this module before apps are ready
        from risk.quotas import quotas_cache_keys, quotas_from  # same

        self.duration = 60
        key, now = self.get_cache_key(request, view), time.time()
        member = f"{now:.6f}:{os.urandom(4).hex()}"  # unique even for two requests in the same microsecond
        count, oldest, gen, cached = _admit(get_redis())(
            keys=[key, *quotas_cache_keys(request.user.pk)], args=[now, member, self.duration])
        self.num_requests = quotas_from(user_id=request.user.pk, gen=gen, cached=cached).api_requests_per_minute
        self.rate = f"{self.num_requests}/min"
        if count <= self.num_requests:
            return True
        get_redis().zrem(key, member)  # a refused request is not remembered (as DRF's throttle)
        self._wait = self._wait_for(now, history=count - 1, oldest=float(oldest) if oldest else now)
        raise exceptions.Throttled(wait=self._wait, detail=(
            f"Quota reached: at most {self.num_requests} API requests per minute per user. "
            f"Try again in {max(1, round(self._wait or 1))} seconds."))

    def _wait_for(self, now: float, *, history: int, oldest: float) -> float | None:
        """DRF's SimpleRateThrottle.wait(): the rest of the oldest request's minute, spread over the requests
        that will then be free again (None when the quota was lowered below what is already remembered)."""
        available = self.num_requests - history + 1
        if available <= 0:
            return None
        return (self.duration - (now - oldest)) / available

    def wait(self):
        return getattr(self, "_wait", None)
