"""WebSockets: `/ws/prices/` streams tickers for the symbols a client subscribes to.

Thin: authenticate, validate, group_add/group_discard, forward. A slow client never
delays anyone: each connection keeps only the newest tick per symbol (a bounded
buffer), a sender task drains it, and a client that stalls a send is dropped.
"""

from __future__ import annotations

import asyncio
import logging

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from trading.groups import price_group, user_group

log = logging.getLogger(__name__)

MAX_SYMBOLS = 50
SEND_STALL_SECONDS = 10.0
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
        self.sender = asyncio.create_task(self._send_loop())
        await self.accept()

    async def disconnect(self, code):
        sender = getattr(self, "sender", None)
        if sender:
            sender.cancel()
        for exchange, symbol in getattr(self, "subscribed", set()):
            await self.channel_layer.group_discard(price_group(exchange, symbol), self.channel_name)

    async def dispatch(self, message):
        # Pure forwarding touches no database: skip Channels' per-message connection cleanup
        # (a thread hop per message), which dominates CPU with many clients.
        if message.get("type") == "price.tick":
            await self.price_tick(message)
            return
        await super().dispatch(message)

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
                await self.channel_layer.group_add(price_group(exchange_, symbol), self.channel_name)
            self.subscribed |= pairs
            await self._touch(exchange, symbols)
            await self.send_json({"type": "subscribed", "exchange": exchange, "symbols": sorted(symbols)})
            await self._send_snapshot(exchange, symbols)
        else:
            for exchange_, symbol in pairs & self.subscribed:
                await self.channel_layer.group_discard(price_group(exchange_, symbol), self.channel_name)
                self.pending.pop(price_group(exchange_, symbol), None)
            self.subscribed -= pairs
            await self.send_json({"type": "unsubscribed", "exchange": exchange, "symbols": sorted(symbols)})

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        try:
            await super().receive(text_data=text_data, bytes_data=bytes_data, **kwargs)
        except ValueError:  # not JSON: an error frame, not a disconnect
            await self._error("Frames must be JSON.")

    async def price_tick(self, event):
        tick = event["tick"]
        self.pending[price_group(tick["exchange"], tick["symbol"])] = event["text"]
        self.wakeup.set()

    async def _send_loop(self):
        try:
            while True:
                await self.wakeup.wait()
                self.wakeup.clear()
                while self.pending:
                    _, text = self.pending.popitem()
                    try:
                        async with asyncio.timeout(SEND_STALL_SECONDS):
                            await self.send(text_data=text)
                    except TimeoutError:
                        log.info("dropping a stalled price client")
                        await self.close(code=1013)
                        return
        except asyncio.CancelledError:
            pass

    async def _error(self, message: str):
        await self.send_json({"type": "error", "message": message})

    async def _touch(self, exchange, symbols):
        from channels.db import database_sync_to_async

        from trading.services.prices import subscriptions_touch

        await database_sync_to_async(subscriptions_touch)(exchange=exchange, symbols=symbols)

    async def _send_snapshot(self, exchange, symbols):
        from channels.db import database_sync_to_async

        from trading.services.prices import tickers_latest

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
