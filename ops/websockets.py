"""How many WebSockets this deployment holds, across every web process and host.

Each web process counts its open sockets in memory and publishes the number to Redis under its own
key (`ops:ws:<host>:<pid>`) with a short expiry, refreshed while it has sockets open; a process that
dies stops refreshing and drops out within WS_KEY_TTL seconds. /metrics adds the keys up.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

from config.redis import get_redis

log = logging.getLogger(__name__)

WS_KEY_PREFIX = "ops:ws:"
WS_KEY_TTL = 60
REFRESH_SECONDS = 20


class _Counter:
    def __init__(self):
        self.key = f"{WS_KEY_PREFIX}{socket.gethostname()}:{os.getpid()}"
        self.open = 0
        self.lock = threading.Lock()
        self.refresher: threading.Thread | None = None

    def publish(self) -> None:
        try:
            get_redis().set(self.key, self.open, ex=WS_KEY_TTL)
        except Exception:  # noqa: BLE001 - a metric must never break a socket
            log.warning("could not publish the WebSocket count", exc_info=True)

    def change(self, delta: int) -> None:
        with self.lock:
            self.open += delta
            if self.refresher is None:
                self.refresher = threading.Thread(target=self._refresh, name="ws-count", daemon=True)
                self.refresher.start()
        self.publish()

    def _refresh(self) -> None:
        stop = threading.Event()
        while not stop.wait(REFRESH_SECONDS):
            self.publish()


_counter: _Counter | None = None


def _get_counter() -> _Counter:
    global _counter
    if _counter is None or _counter.key != f"{WS_KEY_PREFIX}{socket.gethostname()}:{os.getpid()}":
        _counter = _Counter()  # a forked worker gets its own key
    return _counter


def count_websockets(app):
    """ASGI middleware: counts a socket from its accept to the end of its connection."""

    async def counted(scope, receive, send):
        accepted = False

        async def send_counted(message):
            nonlocal accepted
            if message["type"] == "websocket.accept" and not accepted:
                accepted = True
                await _publish(1)
            await send(message)

        try:
            return await app(scope, receive, send_counted)
        finally:
            if accepted:
                await _publish(-1)

    return counted


async def _publish(delta: int) -> None:
    from asgiref.sync import sync_to_async

    await sync_to_async(_get_counter().change, thread_sensitive=False)(delta)


def websockets_open() -> int:
    """Open WebSockets over every live web process."""
    r = get_redis()
    keys = list(r.scan_iter(match=f"{WS_KEY_PREFIX}*", count=500))
    return sum(int(v) for v in r.mget(keys) if v) if keys else 0
