"""Flattening a bot's position at market (the emergency stop's "halt and flatten") through the bot's venue:
a paper bot is filled by the paper fill model against the latest stored ticker; a live bot whose venue the
gate refuses raises LiveNotAllowed (nothing is sold on paper for a live bot).

Order status goes through the order writer; the function expects the bot row locked in the caller's
transaction, or takes the lock itself (`locked=False`).
"""

from __future__ import annotations

import time

from django.db import transaction

from trading.engine.ids import client_order_id
from trading.engine.types import Market, Quote
from trading.execution.paper_orders import fill_config_for, market_rules
from trading.execution.routing import venue_for
from trading.execution.states import REJECTED
from trading.execution.types import OrderRequest, VenueOrder
from trading.execution.writer import open_orders_of, order_record, orders_cancel, wallet_into, wallet_of
from trading.models import Bot, Order
from trading.price_selectors import tickers_latest


def position_flatten(*, bot: Bot, reason: str, locked: bool = False) -> Order | None:
    """Sell the bot's whole free base at market through its venue (paper: filled against the latest ticker).

    Open orders are cancelled first. Returns the order (filled or rejected), or None when there is nothing
    to sell. With no fresh price the position cannot be valued: the order is recorded as rejected. A bot
    whose venue the live gate refuses raises LiveNotAllowed (nothing is sold on paper for a live bot).
    """
    with transaction.atomic():
        if not locked:
            bot = Bot.objects.select_for_update(no_key=True).get(pk=bot.pk)
        orders = open_orders_of(bot)
        if orders:
            orders_cancel(bot=bot, orders=orders, cancel=orders, reason=reason)
        wallet = wallet_of(bot)
        if wallet.free_base <= 0:
            return None
        now_ms = int(time.time() * 1000)
        tick = tickers_latest(exchange=bot.exchange, symbols=[bot.symbol]).get(bot.symbol)
        fresh = tick is not None and not tick.stale and tick.bid is not None and tick.ask is not None
        market = Market(quote=Quote(tick.bid, tick.ask, tick.last, tick.exchange_ts), ts_ms=now_ms) if fresh else None
        venue = venue_for(bot, wallet=wallet, rules=market_rules(exchange=bot.exchange, symbol=bot.symbol),
                          cfg=fill_config_for(bot.fill_overrides), market=market)
        client_id = client_order_id(bot_id=None, step_key=f"f{now_ms}", n=0)
        if not fresh:
            report = VenueOrder(client_order_id=client_id, exchange_order_id=None, symbol=bot.symbol, side="sell",
                                type="market", status=REJECTED, amount=wallet.free_base, price=None,
                                created_ms=now_ms, code="no_price", message="No fresh price to sell at")
        else:
            report = venue.submit(OrderRequest(client_order_id=client_id, symbol=bot.symbol, side="sell",
                                               type="market", amount=wallet.free_base, reason=reason[:200]))
        order, fills = order_record(bot=bot, report=report, reason=reason)
        if fills:
            wallet_into(bot, venue.wallet)
            bot.last_price = tick.last
            bot.save(update_fields=["base", "quote", "base_reserved", "quote_reserved", "last_price", "updated_at"])
    return order
