"""One long-lived asyncio loop per process, in a daemon thread, for channel-layer sends from sync code.

`async_to_sync(group_send)` per call builds a new loop and Redis connection each time (a few ms);
this keeps one, re-created after a fork (Celery's prefork children inherit no running thread).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Coroutine
from concurrent.futures import Future

from channels.layers import get_channel_layer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

# what a connection the server dropped (Redis restarted, a failover, an idle timeout) raises on first use
_DROPPED = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)


class BackgroundLoop:
    def __init__(self, name: str):
        self.name = name
        self._pid: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._pid != os.getpid() or self._loop is None or self._loop.is_closed():
                self._loop = asyncio.new_event_loop()
                threading.Thread(target=self._loop.run_forever, name=self.name, daemon=True).start()
                self._pid = os.getpid()
        return self._loop

    def submit(self, coro: Coroutine) -> Future:
        """Run `coro` on the loop; the caller may wait on the returned future or not."""
        return asyncio.run_coroutine_threadsafe(coro, self._ensure())


async def group_send(group: str, message: dict) -> None:
    """`group_send` on the channel layer, retried once on a fresh connection.

    After Redis comes back from a restart, the connection this loop keeps in its pool is dead: the first
    send on it fails (and its event would be lost: an emergency stop's, once) while the connection is
    dropped from the pool. The retry opens a new one. A second failure means Redis is really down: raised.
    """
    layer = get_channel_layer()
    try:
        await layer.group_send(group, message)
    except _DROPPED as exc:
        log.info("channel layer send failed (%r); retrying once on a fresh connection", exc)
        await layer.group_send(group, message)

