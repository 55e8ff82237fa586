"""The health note a tick writes for each bot it evaluated (read back by trading.health).

Computed from what the evaluation already has in memory (the step's rejects and fills, the wallet,
the number of closed candles, the market's minimums): no query per bot. A risk refusal is sticky: the
bot shows "blocked: <reason>" from the refused order until an order of it passes the gate again
(kept in the bot's state as `health.blocked`, so an idle tick in between does not hide it).
"""

from __future__ import annotations

import time
from decimal import Decimal

from risk.checks import CODES as RISK_CODES
from trading.engine.fills import quantize_amount
from trading.engine.strategies import get_strategy
from trading.engine.types import MarketRules, StepResult
from trading.health import BLOCKED, IDLE_BALANCE, WARMING_UP
from trading.services.tick_feeds import MIN_BARS, NO_PRICE_YET, feeds_for, lookback

_RISK = frozenset(RISK_CODES)


def min_order_value(rules: MarketRules | None, price: Decimal | None) -> Decimal | None:
    """The smallest order the market takes, in quote (min cost, or min amount at this price); None = unknown."""
    if rules is None:
        return None
    values = [v for v in (rules.min_cost, rules.min_amount * price if rules.min_amount and price else None)
              if v]
    return max(values) if values else None


def health_note(*, strategy_id: str, params, state: dict, bars: int, result: StepResult, rules: MarketRules | None,
                price: Decimal | None) -> str:
    """The bot's `last_tick_note` after this evaluation ("" = running). Updates `state["health"]`."""
    memory = dict(state.get("health") or {})
    refused = [r for r in result.rejects if r.code in _RISK]
    if refused:
        memory["blocked"] = f"{refused[-1].code}: {refused[-1].message}"
    elif result.fills or result.new_orders:
        memory.pop("blocked", None)
    if memory:
        state["health"] = memory
    else:
        state.pop("health", None)
    wallet = result.wallet
    minimum = min_order_value(rules, price)
    held = quantize_amount(wallet.free_base, rules) if rules is not None else wallet.free_base
    flat = not result.open_orders and (held <= 0 or (minimum is not None and price is not None
                                                      and held * price < minimum))
    if flat and (wallet.free_quote <= 0 or (minimum is not None and wallet.free_quote < minimum)):
        need = f" ({minimum.normalize():f} {rules.quote_currency})".replace(" )", ")") if minimum else ""
        return f"{IDLE_BALANCE}{need}"[:200]
    if memory.get("blocked"):
        return f"{BLOCKED}{memory['blocked']}"[:200]
    return warming_up_note(strategy_id=strategy_id, params=params, bars=bars)


def warming_up_note(*, strategy_id: str, params, bars: int) -> str:
    missing = get_strategy(strategy_id, params).warmup_bars() - bars
    if missing > 0:
        return f"{WARMING_UP}needs {missing} more candle{'s' if missing != 1 else ''}"
    return ""


def start_note(*, bot, now: float | None = None) -> str:
    """The note a bot starts with, so its page says at once what the first tick would: the tick's own feed
    for its market and timeframe (stale prices, no closed candle yet) and the strategy's warm-up on those
    candles. A market with no price at all yet (never polled) starts "running" ("waiting for the first
    tick"): the first tick says more. Reads Redis and the candles once; no exchange I/O."""
    key = (bot.symbol, bot.timeframe)
    feed = feeds_for(bot.exchange, {key: max(MIN_BARS, lookback(bot.params))},
                     time.time() if now is None else now)[key]
    if feed.note == NO_PRICE_YET:  # a market never polled yet (the poller adds it now): the first tick will tell
        return ""
    if feed.note:
        return feed.note[:200]
    return warming_up_note(strategy_id=bot.strategy, params=bot.params, bars=len(feed.bars))
