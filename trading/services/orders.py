"""Writes for paper orders outside the tick: a user cancelling a resting limit order, risk cancelling a
bot's open orders or flattening its position. Plus the small translations between rows and the pure
engine's values (wallet, market rules, fill config) that the tick shares.

Every function here that changes a wallet expects the bot row locked (select_for_update) in the caller's
transaction, or takes the lock itself (`locked=False`).
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_record
from config.api import DomainError
from trading.engine.types import FillConfig, Intent, MarketRules, Quote, Reject, RestingOrder, Wallet
from trading.engine.wallet import with_reservations
from trading.models import Bot, Fill, Market, Order
from trading.services.events import events_on_commit, fill_json, order_json


class OrderNotOpen(DomainError):
    code = "order_not_open"
    status = 409


class OrderNotCancellable(DomainError):
    code = "order_not_cancellable"
    status = 409


# --- rows <-> engine values ------------------------------------------------------------

def wallet_of(bot: Bot) -> Wallet:
    return Wallet(base=bot.base, quote=bot.quote, base_reserved=bot.base_reserved, quote_reserved=bot.quote_reserved)


def wallet_into(bot: Bot, wallet: Wallet) -> None:
    bot.base, bot.quote = wallet.base, wallet.quote
    bot.base_reserved, bot.quote_reserved = wallet.base_reserved, wallet.quote_reserved


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


def open_orders_of(bot: Bot) -> list[Order]:
    return list(Order.objects.select_for_update(no_key=True).filter(bot=bot, status__in=Order.OPEN_STATUSES)
                .order_by("pk"))


def resting_of(orders: list[Order]) -> list[RestingOrder]:
    return [RestingOrder.from_json(o.resting) for o in orders if o.resting]


def _lock(bot: Bot, locked: bool) -> Bot:
    if locked:
        return bot
    return Bot.objects.select_for_update(no_key=True).get(pk=bot.pk)


# --- cancelling -------------------------------------------------------------------------------

def _cancel(bot: Bot, orders: list[Order], cancel: list[Order], reason: str) -> None:
    now = timezone.now()
    ids = {o.pk for o in cancel}
    for o in cancel:
        o.status = Order.Status.CANCELLED
        o.reason = reason[:200]
        o.resting = None
        o.updated_at = o.closed_at = now
    Order.objects.bulk_update(cancel, ["status", "reason", "resting", "updated_at", "closed_at"])
    still_open = [o for o in orders if o.pk not in ids]
    wallet_into(bot, with_reservations(wallet_of(bot), resting_of(still_open)))
    bot.save(update_fields=["base_reserved", "quote_reserved", "updated_at"])
    events_on_commit([(bot.owner_id, {"type": "order", "order": order_json(o)}) for o in cancel])


def order_cancel(*, order: Order, actor, reason: str = "cancelled by user", request=None) -> Order:
    """Cancel a resting limit order; its reserved funds go back to the free balance."""
    with transaction.atomic():
        bot = Bot.objects.select_for_update(no_key=True).get(pk=order.bot_id)
        orders = open_orders_of(bot)
        target = next((o for o in orders if o.pk == order.pk), None)
        if target is None:
            current = Order.objects.get(pk=order.pk)
            raise OrderNotOpen(f"This order is {current.get_status_display().lower()}: only open orders can be "
                               f"cancelled.")
        if target.type != Order.Type.LIMIT or not target.resting:
            raise OrderNotCancellable("Only resting limit orders can be cancelled.")
        _cancel(bot, orders, [target], reason)
        audit_record(action="order.cancel", actor=actor, target=f"order:{target.pk}", request=request,
                     details={"bot": bot.pk, "reason": reason})
    order.__dict__.update({k: v for k, v in target.__dict__.items() if not k.startswith("_")})
    return order


def orders_cancel_open(*, bot: Bot, reason: str, locked: bool = False) -> int:
    """Cancel every open order of the bot and release what they reserved. Returns how many."""
    with transaction.atomic():
        bot = _lock(bot, locked)
        orders = open_orders_of(bot)
        if orders:
            _cancel(bot, orders, orders, reason)
        elif bot.base_reserved or bot.quote_reserved:
            bot.base_reserved = bot.quote_reserved = Decimal(0)
            bot.save(update_fields=["base_reserved", "quote_reserved", "updated_at"])
    return len(orders)


# --- flattening -------------------------------------------------------------------------------

def position_flatten(*, bot: Bot, reason: str, locked: bool = False) -> Order | None:
    """Sell the bot's whole free base at market (paper fill against the latest ticker).

    Open orders are cancelled first. Returns the order (filled or rejected), or None when there is nothing
    to sell. With no fresh price the position cannot be valued: the order is recorded as rejected.
    """
    from trading.engine.fills import fill_market
    from trading.engine.wallet import apply
    from trading.services.prices import tickers_latest

    with transaction.atomic():
        bot = _lock(bot, locked)
        orders = open_orders_of(bot)
        if orders:
            _cancel(bot, orders, orders, reason)
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
                      reason=reason[:200], created_at=now, updated_at=now, closed_at=now)
        events = []
        if isinstance(result, Reject):
            order.status = Order.Status.REJECTED
            order.reason = f"{reason}: {result.message}"[:200]
            order.save()
        else:
            order.status = Order.Status.FILLED
            order.filled, order.average_price = result.amount, result.price
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
