"""The periodic risk monitor: daily loss / drawdown per bot, and daily loss per user across bots.

It reads prices from the price store (never the exchange), then halts breaching bots one short
transaction each. Safe to run next to the tick (both lock the bot row; a halted bot is skipped).
"""

from __future__ import annotations

import logging
import time
from decimal import Decimal

from django.db import transaction

from risk.checks import Decision, RiskState, check_breakers, state_build
from risk.limits import LimitsBook
from trading.execution.live_orders import live_fees_outside
from trading.execution.safety import ACTIVE_BOT_STATUSES, breach_halt, breakers_check
from trading.models import Bot
from trading.price_selectors import tickers_latest

log = logging.getLogger(__name__)


def _bot_risk_state(bot: Bot, price: Decimal | None, now_ms: int) -> RiskState | None:
    """What the tick would see, from the bot's wallet, its risk memory and the latest price."""
    price = price if price is not None else bot.last_price
    if price is None:
        return None
    equity = bot.quote + bot.base * price - live_fees_outside(bot)  # a live bot's BNB fees count as a loss
    return state_build((bot.state or {}).get("risk") or {}, equity=equity, base=bot.base, price=price, now_ms=now_ms)


def _prices(bots: list[Bot]) -> dict[tuple[str, str], Decimal]:
    wanted: dict[str, set[str]] = {}
    for bot in bots:
        wanted.setdefault(bot.exchange, set()).add(bot.symbol)
    prices: dict[tuple[str, str], Decimal] = {}
    for exchange, symbols in wanted.items():
        try:
            ticks = tickers_latest(exchange=exchange, symbols=sorted(symbols))
        except Exception:  # price store down: fall back to each bot's last known price
            log.warning("risk monitor: no prices for %s", exchange)
            continue
        for symbol, tick in ticks.items():
            if tick is not None and tick.last is not None:
                prices[(exchange, symbol)] = tick.last
    return prices


def risk_monitor_run() -> dict:
    """Halt every bot past its breakers, and every bot of a user past the user's daily loss limit."""
    now_ms = int(time.time() * 1000)
    bots = list(Bot.objects.filter(status__in=ACTIVE_BOT_STATUSES, archived_at__isnull=True)
                .only("id", "owner_id", "name", "exchange", "symbol", "status", "mode", "base", "quote", "state",
                      "last_price", "reduce_only"))
    prices = _prices(bots)
    summary = {"bots": len(bots), "halted": [], "users_halted": []}
    book = LimitsBook.load(owner_ids={b.owner_id for b in bots}, bot_ids=[b.pk for b in bots])
    per_user: dict[int, list[tuple[Bot, RiskState]]] = {}
    for bot in bots:
        state = _bot_risk_state(bot, prices.get((bot.exchange, bot.symbol)), now_ms)
        if state is None:
            continue
        per_user.setdefault(bot.owner_id, []).append((bot, state))
        limits = book.for_bot(bot.pk, bot.owner_id)
        if check_breakers(state, limits).allowed:
            continue
        with transaction.atomic():
            locked = Bot.objects.select_for_update().filter(pk=bot.pk, status__in=ACTIVE_BOT_STATUSES).first()
            if locked is None:
                continue
            state = _bot_risk_state(locked, prices.get((bot.exchange, bot.symbol)), now_ms) or state
            if breakers_check(bot=locked, state=state, limits=limits):
                summary["halted"].append(bot.pk)
    for user_id, rows in per_user.items():
        user_limit = book.for_user(user_id).user_daily_loss_pct
        start = sum((s.day_start_equity for _, s in rows), Decimal(0))
        now_equity = sum((s.equity for _, s in rows), Decimal(0))
        if user_limit is None or start <= 0:
            continue
        loss_pct = (start - now_equity) / start * 100
        if loss_pct < user_limit:
            continue
        decision = Decision(False, "user_daily_loss",
                            f"Your bots together lost {loss_pct.quantize(Decimal('0.01'))}% today, reaching the "
                            f"limit of {user_limit}% of the day's starting equity")
        with transaction.atomic():
            for bot in Bot.objects.select_for_update().filter(owner_id=user_id, status__in=ACTIVE_BOT_STATUSES) \
                    .order_by("pk"):
                breach_halt(bot=bot, decision=decision)
                summary["halted"].append(bot.pk)
        summary["users_halted"].append(user_id)
    return summary
