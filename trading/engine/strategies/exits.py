"""Exit rules shared by the signal strategies (sma_cross, rsi): stop-loss, take-profit, trailing stop.

Each is a percentage of the position's average entry price (fees excluded); 0 turns it off. They are
checked on the newest closed candle's close, before the strategy's own signal, and sell the whole
position at market (filled like any market order: at the next open in a backtest, at the bid live).
The trailing stop follows the highest close seen since the position was opened (kept in the
strategy's state as `exit_peak`, so paper ticks and backtests trail the same way).
"""

from __future__ import annotations

from decimal import Decimal

from ..types import Intent
from .base import StrategyContext

HUNDRED = Decimal("100")

EXIT_PARAMS = {
    "stop_loss_pct": {"type": "decimal", "min": "0", "max": "100", "default": "0",
                      "description": "Sell everything when the close is this % below the average entry; 0 = off"},
    "take_profit_pct": {"type": "decimal", "min": "0", "max": "1000", "default": "0",
                        "description": "Sell everything when the close is this % above the average entry; 0 = off"},
    "trailing_stop_pct": {"type": "decimal", "min": "0", "max": "100", "default": "0",
                          "description": "Sell everything when the close falls this % below the highest close "
                                       "since entry; 0 = off"},
}


def exit_intent(params: dict, ctx: StrategyContext) -> Intent | None:
    """A market sell of the whole position if an exit rule fires on this candle, else None.

    Keeps `ctx.state["exit_peak"]` (the highest close since entry) up to date; flat -> forgotten.
    """
    stop, take, trail = (Decimal(params[k]) for k in ("stop_loss_pct", "take_profit_pct", "trailing_stop_pct"))
    if stop == 0 and take == 0 and trail == 0:
        return None
    amount = ctx.sellable_base()
    avg = ctx.position_avg_price
    if amount <= 0 or avg is None or avg <= 0:
        ctx.state.pop("exit_peak", None)
        return None
    close = ctx.last_price
    peak = max(Decimal(ctx.state.get("exit_peak") or close), close)
    if trail > 0:
        ctx.state["exit_peak"] = str(peak)
    reason = None
    if stop > 0 and close <= avg * (1 - stop / HUNDRED):
        reason = f"stop-loss: close {close} is {stop}% or more below the average entry {avg:.8g}"
    elif take > 0 and close >= avg * (1 + take / HUNDRED):
        reason = f"take-profit: close {close} is {take}% or more above the average entry {avg:.8g}"
    elif trail > 0 and close <= peak * (1 - trail / HUNDRED):
        reason = f"trailing stop: close {close} is {trail}% or more below the highest close {peak:.8g} since entry"
    if reason is None:
        return None
    ctx.state.pop("exit_peak", None)
    return Intent("sell", "market", amount=amount, reason=reason)
