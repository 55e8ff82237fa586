"""WebSockets: `/ws/prices/` streams tickers for the symbols a client subscribes to.

Thin: authenticate, validate, join/leave the process's price hub, forward. A slow client
never delays anyone: each connection keeps only the newest tick per symbol (a bounded
buffer), a sender task drains it, and a client that stalls a send is dropped.
"""

from __future__ import annotations

import asyncio
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from trading.groups import price_group, user_group
from trading.price_hub import price_hub
from trading.price_selectors import tickers_latest
from trading.services.prices import subscriptions_touch

log = logging.getLogger(__name__)

MAX_SYMBOLS = 50
SEND_STALL_SECONDS = 10.0  # events socket; the price socket reads settings.PRICE_WS_STALL_SECONDS
CLOSE_UNAUTHENTICATED = 4401


class PriceConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.subscribed: set[tuple[str, str]] = set()
        self.pending: dict[str, str] = {}  # group -> newest tick (JSON text) not yet sent: <= MAX_SYMBOLS entries
        self.wakeup = asyncio.Event()
        self.send_since: float | None = None  # loop time a frame write began; None when not writing
        # frames go straight to the server (see config.asgi.with_server_send), past the session wrapper
        self.frame_send = self.scope.get("server_send") or self.base_send
        self.sender = asyncio.create_task(self._send_loop())
        await self.accept()

    async def disconnect(self, code):
        sender = getattr(self, "sender", None)
        if sender:
            sender.cancel()
        for exchange, symbol in getattr(self, "subscribed", set()):
            await price_hub().discard(price_group(exchange, symbol), self)

    async def receive_json(self, content, **kwargs):
        if not isinstance(content, dict):
            await self._error("Send a JSON object like {\"action\": \"subscribe\", ...}.")
            return
        action = content.get("action")
        if action not in {"subscribe", "unsubscribe"}:
            await self._error("Unknown action: use \"subscribe\" or \"unsubscribe\".")
            return
        exchange, symbols = content.get("exchange"), content.get("symbols")
        if exchange not in settings.SUPPORTED_EXCHANGES:
            await self._error(f"Unknown exchange. Supported: {', '.join(settings.SUPPORTED_EXCHANGES)}.")
            return
        if (not isinstance(symbols, list) or not symbols
                or not all(isinstance(s, str) and 0 < len(s) <= 40 and "/" in s for s in symbols)):
            await self._error("\"symbols\" must be a non-empty list like [\"BTC/USDT\"].")
            return
        pairs = {(exchange, s) for s in symbols}
        if action == "subscribe":
            if len(self.subscribed | pairs) > MAX_SYMBOLS:
                await self._error(f"At most {MAX_SYMBOLS} symbols per connection.")
                return
            for exchange_, symbol in pairs - self.subscribed:
                await price_hub().add(price_group(exchange_, symbol), self)
            self.subscribed |= pairs
            await self._touch(exchange, symbols)
            await self.send_json({"type": "subscribed", "exchange": exchange, "symbols": sorted(symbols)})
            await self._send_snapshot(exchange, symbols)
        else:
            for exchange_, symbol in pairs & self.subscribed:
                await price_hub().discard(price_group(exchange_, symbol), self)
                self.pending.pop(price_group(exchange_, symbol), None)
            self.subscribed -= pairs
            await self.send_json({"type": "unsubscribed", "exchange": exchange, "symbols": sorted(symbols)})

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        try:
            await super().receive(text_data=text_data, bytes_data=bytes_data, **kwargs)
        except ValueError:  # not JSON: an error frame, not a disconnect
            await self._error("Frames must be JSON.")

    def push_tick(self, group: str, text: str) -> None:
        """Called by the price hub for each tick of a subscribed symbol: keep the newest, wake the sender."""
        self.pending[group] = text
        self.wakeup.set()

    def send_stalled(self, now: float, limit: float) -> bool:
        """The hub's watchdog asks once a second: has one frame been stuck for over `limit` seconds?

        (A watchdog instead of a timeout around every frame: with 1,000 clients the per-frame timer
        cost more CPU than the frames.) A stalled client is dropped; the others never wait for it.
        """
        if self.send_since is None or now - self.send_since <= limit or self.sender.done():
            return False
        log.info("dropping a price client that has not taken a frame for %.0f s", now - self.send_since)
        self.sender.cancel()
        self.pending.clear()
        return True

    async def drop(self) -> None:
        """After a stall: say goodbye (1013, try again later) if the socket still takes it; never wait on it."""
        close = asyncio.ensure_future(self.frame_send({"type": "websocket.close", "code": 1013}))
        close.add_done_callback(lambda task: task.cancelled() or task.exception())  # never "not retrieved"
        # still stalled after a second: leave it; uvicorn's keepalive ping ends the connection
        await asyncio.wait([close], timeout=1.0)

    async def _send_loop(self):
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self.wakeup.wait()
                self.wakeup.clear()
                while self.pending:
                    _, text = self.pending.popitem()
                    self.send_since = loop.time()
                    await self.frame_send({"type": "websocket.send", "text": text})
                    self.send_since = None
        except asyncio.CancelledError:
            pass
        except Exception:  # the client went away mid-frame; disconnect() cleans up
            log.debug("a price frame was not sent: the connection is gone", exc_info=True)

    async def _error(self, message: str):
        await self.send_json({"type": "error", "message": message})

    async def _touch(self, exchange, symbols):
        await database_sync_to_async(subscriptions_touch)(exchange=exchange, symbols=symbols)

    async def _send_snapshot(self, exchange, symbols):
        latest = await database_sync_to_async(tickers_latest)(exchange=exchange, symbols=symbols)
        for tick in latest.values():
            if tick is not None:
                await self.send_json({"type": "tick", **tick.to_json()})


class EventConsumer(AsyncJsonWebsocketConsumer):
    """`/ws/events/`: the signed-in user's fills, order updates and bot status changes (server -> client only).

    Services send them after commit to `user_group(user.id)`; this only forwards. Messages:
    {"type": "fill", "fill": {...}}, {"type": "order", "order": {...}}, {"type": "bot", "bot": {...}}.
    """

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.group = user_group(user.id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "user": user.username})

    async def disconnect(self, code):
        group = getattr(self, "group", None)
        if group:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def dispatch(self, message):
        # forwarding only: skip Channels' per-message database-connection cleanup (a thread hop)
        if message.get("type") == "bot.event":
            await self.bot_event(message)
            return
        await super().dispatch(message)

    async def bot_event(self, event):
        try:
            async with asyncio.timeout(SEND_STALL_SECONDS):
                for payload in event["events"]:
                    await self.send_json(payload)
        except TimeoutError:
            log.info("dropping a stalled events client")
            await self.close(code=1013)

    async def receive_json(self, content, **kwargs):
        await self.send_json({"type": "error", "message": "This socket only sends; nothing to subscribe to."})

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        try:
            await super().receive(text_data=text_data, bytes_data=bytes_data, **kwargs)
        except ValueError:
            await self.send_json({"type": "error", "message": "Frames must be JSON."})
