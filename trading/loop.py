"""One long-lived asyncio loop per process, in a daemon thread, for channel-layer sends from sync code.

`async_to_sync(group_send)` per call builds a new loop and Redis connection each time (a few ms);
this keeps one, re-created after a fork (Celery's prefork children inherit no running thread).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from concurrent.futures import Future


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
