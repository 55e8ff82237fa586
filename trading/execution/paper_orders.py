"""Paper orders at the platform's edges, and what the tick shares with them: the fill configuration
(platform defaults under each bot's overrides) and a market's rules (precision, minimums, fees) as the
pure engine's values; and flattening a bot's position at market (the emergency stop's "halt and
flatten"), filled by the paper fill model against the latest stored ticker.

Order status goes through the order writer; a function that changes a wallet expects the bot row locked
in the caller's transaction, or takes the lock itself (`locked=False`).
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from trading.engine.fills import fill_market
from trading.engine.types import FillConfig, Intent, MarketRules, Quote, Reject
from trading.engine.wallet import apply
from trading.events import events_on_commit, fill_json, order_json
from trading.execution.writer import open_orders_of, order_apply, orders_cancel, wallet_into, wallet_of
from trading.models import Bot, Fill, Market, Order
from trading.price_selectors import tickers_latest

# --- fill configuration and market rules -------------------------------------------------

def platform_fill_config() -> FillConfig:
    """The platform's defaults (settings.PAPER_FILL_CONFIG, JSON of FillConfig fields) over the engine's."""
    return FillConfig.from_overrides(getattr(settings, "PAPER_FILL_CONFIG", None) or None)


def fill_config_for(overrides: dict | None, base: FillConfig | None = None) -> FillConfig:
    return FillConfig.from_overrides(overrides or None, base=base or platform_fill_config())


def market_rules(*, exchange: str, symbol: str) -> MarketRules:
    base, _, quote = symbol.partition("/")
    quote = quote.split(":")[0]
    m = Market.objects.filter(exchange=exchange, symbol=symbol).first()
    if m is None:
        return MarketRules(base_currency=base, quote_currency=quote)
    return MarketRules(amount_step=m.amount_step, price_step=m.price_step, min_amount=m.min_amount,
                       min_cost=m.min_cost, maker_fee=m.maker_fee, taker_fee=m.taker_fee,
                       base_currency=m.base, quote_currency=m.quote)


# --- flattening -------------------------------------------------------------------------------

def position_flatten(*, bot: Bot, reason: str, locked: bool = False) -> Order | None:
    """Sell the bot's whole free base at market (paper fill against the latest ticker).

    Open orders are cancelled first. Returns the order (filled or rejected), or None when there is nothing
    to sell. With no fresh price the position cannot be valued: the order is recorded as rejected.
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
        now = timezone.now()
        now_ms = int(time.time() * 1000)
        tick = tickers_latest(exchange=bot.exchange, symbols=[bot.symbol]).get(bot.symbol)
        intent = Intent(side="sell", type="market", amount=wallet.free_base, reason=reason[:200])
        client_id = f"flatten:{now_ms}"
        if tick is None or tick.stale or tick.bid is None:
            result: Fill | Reject = Reject("no_price", "No fresh price to sell at", client_id, intent)
        else:
            result = fill_market(intent, wallet, quote=Quote(tick.bid, tick.ask, tick.last, tick.exchange_ts),
                                 book=None, next_open=None, rules=market_rules(exchange=bot.exchange,
                                                                               symbol=bot.symbol),
                                 cfg=fill_config_for(bot.fill_overrides),
                                 rng=random.Random(f"{bot.seed}:{client_id}"), ts_ms=now_ms, order_id=client_id)
        order = Order(bot=bot, client_id=client_id, side="sell", type="market", amount=intent.amount,
                      reason=reason[:200], status=Order.Status.NEW, created_at=now, updated_at=now)
        events = []
        if isinstance(result, Reject):
            order_apply(order, status=Order.Status.REJECTED, ts=now, reason=f"{reason}: {result.message}")
            order.save()
        else:
            order_apply(order, status=Order.Status.FILLED, ts=now, filled=result.amount, average_price=result.price)
            order.save()
            fill = Fill.objects.create(bot=bot, order=order, side="sell", price=result.price, amount=result.amount,
                                       fee=result.fee, fee_currency=result.fee_currency, slippage=result.slippage,
                                       reference_price=result.reference_price, liquidity=result.liquidity,
                                       ts=datetime.fromtimestamp(now_ms / 1000, tz=UTC))
            wallet_into(bot, apply(wallet, result))
            bot.last_price = tick.last
            bot.save(update_fields=["base", "quote", "base_reserved", "quote_reserved", "last_price", "updated_at"])
            events.append((bot.owner_id, {"type": "fill", "fill": fill_json(fill)}))
        events.insert(0, (bot.owner_id, {"type": "order", "order": order_json(order)}))
        events_on_commit(events)
    return order
