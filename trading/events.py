"""Push a user's bot events (fills, order updates, status changes) to their open pages via /ws/events/.

Always after commit (a rolled-back fill is never announced), JSON-safe (Decimal as str), best effort:
a failed push is logged, never raised into trading. One long-lived event loop per process does the
sends (trading.loop).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from trading.groups import user_group
from trading.health import bot_health, health_from
from trading.loop import BackgroundLoop, group_send

log = logging.getLogger(__name__)


def _s(value):
    return None if value is None else str(value)


def _t(value):
    return None if value is None else value.isoformat()


def bot_json(bot) -> dict:
    return {"id": bot.pk, "name": bot.name, "exchange": bot.exchange, "symbol": bot.symbol,
            "status": bot.status, "halt_reason": bot.halt_reason, "base": _s(bot.base), "quote": _s(bot.quote),
            "last_price": _s(bot.last_price), "updated_at": _t(bot.updated_at),
            "health": bot_health(bot, now=timezone.now()).to_json()}


def tick_bot_json(row: dict, *, note: str, base, quote, price, now) -> dict:
    """bot_json for a running bot the tick just evaluated (from its claimed row: no extra query)."""
    health = health_from(status="running", note=note, last_tick_at=now, now=now)
    return {"id": row["id"], "name": row["name"], "exchange": row["exchange"], "symbol": row["symbol"],
            "status": "running", "halt_reason": "", "base": _s(base), "quote": _s(quote), "last_price": _s(price),
            "updated_at": _t(now), "health": health.to_json()}


def stale_bot_json(row: tuple, note: str) -> dict:
    """bot_json for a running bot the tick skipped with `note` (row: id, owner_id, name, exchange, symbol,
    base, quote, last_price, last_tick_at, as the tick's UPDATE ... RETURNING gives them)."""
    now = timezone.now()
    health = health_from(status="running", note=note, last_tick_at=row[8], now=now)
    return {"id": row[0], "name": row[2], "exchange": row[3], "symbol": row[4], "status": "running",
            "halt_reason": "", "base": _s(row[5]), "quote": _s(row[6]), "last_price": _s(row[7]),
            "updated_at": _t(now), "health": health.to_json()}


def order_json(order) -> dict:
    return {"id": order.pk, "bot_id": order.bot_id, "side": order.side, "type": order.type,
            "amount": _s(order.amount), "price": _s(order.price), "status": order.status, "reason": order.reason,
            "exchange_order_id": order.exchange_order_id,
            "filled": _s(order.filled), "average_price": _s(order.average_price),
            "created_at": _t(order.created_at), "updated_at": _t(order.updated_at), "closed_at": _t(order.closed_at)}


def fill_json(fill) -> dict:
    return {"id": fill.pk, "bot_id": fill.bot_id, "order_id": fill.order_id, "side": fill.side,
            "price": _s(fill.price), "amount": _s(fill.amount), "fee": _s(fill.fee),
            "fee_currency": fill.fee_currency, "slippage": _s(fill.slippage), "liquidity": fill.liquidity,
            "exchange_trade_id": fill.exchange_trade_id,
            "fee_quote": _s(fill.fee_quote), "fee_note": fill.fee_note,  # live: a BNB fee's value in quote
            # a live fill names its exchange order too (one read, live fills only: paper has no exchange ids)
            "exchange_order_id": fill.order.exchange_order_id if fill.exchange_trade_id else "",
            "ts": _t(fill.ts)}


async def _send_all(events: list[tuple[int, dict]]) -> None:
    """One group message per user, carrying that user's events in order (a tick of many bots sends few)."""
    by_user: dict[int, list[dict]] = {}
    for user_id, payload in events:
        by_user.setdefault(user_id, []).append(payload)
    for user_id, payloads in by_user.items():
        await group_send(user_group(user_id), {"type": "bot.event", "events": payloads})


class _Publisher:
    def __init__(self):
        self._loop = BackgroundLoop("events-publisher")

    def send(self, events: list[tuple[int, dict]]) -> None:
        """Hand the events to the publisher loop and return at once: trading never waits on a push."""
        self._loop.submit(_send_all(events)).add_done_callback(_log_failure)


def _log_failure(future) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("could not publish bot events: %r", future.exception())


_publisher = _Publisher()


def events_publish(events: list[tuple[int, dict]]) -> None:
    """Send now (callers use events_on_commit). Never raises."""
    if not events:
        return
    try:
        _publisher.send(events)
    except Exception:  # noqa: BLE001 - live push is best effort; the data is committed already
        log.exception("could not publish %d bot event(s)", len(events))


def events_on_commit(events: list[tuple[int, dict]]) -> None:
    """Queue (user_id, payload) pairs to be pushed once the surrounding transaction commits."""
    if events:
        batch = list(events)
        transaction.on_commit(lambda: events_publish(batch))


def bot_event_on_commit(*, bot) -> None:
    events_on_commit([(bot.owner_id, {"type": "bot", "bot": bot_json(bot)})])


def order_event_on_commit(*, order, user_id: int) -> None:
    events_on_commit([(user_id, {"type": "order", "order": order_json(order)})])
