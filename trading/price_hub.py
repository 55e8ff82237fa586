"""Process-local fan-out of price ticks to the `/ws/prices/` connections of this process.

With a channel-layer group per symbol, every connection subscribes on its own: each tick is
decoded once per connection and wakes a receive task per connection before it is sent. The hub
subscribes once per symbol per process (one channel of its own), decodes each tick once, and
hands the ready JSON text to every local connection's bounded buffer in memory. Publishers are
unchanged: they `group_send` to `price_group(exchange, symbol)` as before.

One hub per event loop (uvicorn runs one loop per process; tests run one loop per test).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Protocol

from channels.layers import get_channel_layer
from django.conf import settings

from trading.groups import price_group

log = logging.getLogger(__name__)


class TickSink(Protocol):
    def push_tick(self, group: str, text: str) -> None: ...

    def send_stalled(self, now: float, limit: float) -> bool: ...

    async def drop(self) -> None: ...


class PriceHub:
    def __init__(self, layer):
        self.layer = layer
        self.members: dict[str, set[TickSink]] = {}
        self.channel: str | None = None
        self.task: asyncio.Task | None = None
        self.watchdog: asyncio.Task | None = None
        self.lock = asyncio.Lock()

    async def add(self, group: str, sink: TickSink) -> None:
        async with self.lock:
            if self.channel is None:
                self.channel = await self.layer.new_channel(prefix="pricehub.")
            loop = asyncio.get_running_loop()
            if self.task is None or self.task.done():
                self.task = loop.create_task(self._run(), name="price-hub")
            if self.watchdog is None or self.watchdog.done():
                self.watchdog = loop.create_task(self._watch(), name="price-hub-watchdog")
            members = self.members.setdefault(group, set())
            if not members:
                await self.layer.group_add(group, self.channel)
            members.add(sink)

    async def discard(self, group: str, sink: TickSink) -> None:
        async with self.lock:
            members = self.members.get(group)
            if not members or sink not in members:
                return
            members.discard(sink)
            if not members:
                del self.members[group]
                await self.layer.group_discard(group, self.channel)

    def deliver(self, message: dict) -> int:
        """Hand one layer message to the local connections; returns how many got it."""
        if message.get("type") != "price.tick":
            return 0
        tick = message["tick"]
        group = price_group(tick["exchange"], tick["symbol"])
        sinks = tuple(self.members.get(group, ()))
        for sink in sinks:
            try:
                sink.push_tick(group, message["text"])
            except Exception:  # one broken connection must not starve the others
                log.exception("price hub: a connection refused a tick")
        return len(sinks)

    async def _run(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("price hub: receiving from the channel layer failed; retrying in 1 s")
                await asyncio.sleep(1)
                continue
            self.deliver(message)

    async def _watch(self) -> None:
        """Once a second: drop every connection that has not taken a frame for PRICE_WS_STALL_SECONDS."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(1.0)
            try:
                limit = float(settings.PRICE_WS_STALL_SECONDS)
                now = loop.time()
                for sink in {sink for sinks in self.members.values() for sink in sinks}:
                    if sink.send_stalled(now, limit):
                        loop.create_task(self._drop(sink))
            except Exception:
                log.exception("price hub: the stall watchdog failed")

    async def _drop(self, sink: TickSink) -> None:
        for group in [g for g, sinks in self.members.items() if sink in sinks]:
            await self.discard(group, sink)
        await sink.drop()


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PriceHub] = weakref.WeakKeyDictionary()


def price_hub() -> PriceHub:
    """This event loop's hub (created on first use)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = PriceHub(get_channel_layer())
    return hub
