"""RSI mean reversion, long-only: RSI below `oversold` while flat -> buy `size_pct` % of the free quote;
RSI above `overbought` while in a position -> sell it all.

RSI here is Cutler's (simple averages of gains and losses over the last `period` closes), so it
depends only on the last `period + 1` closed candles: a replay from any starting point agrees.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from ..types import ZERO, Bar, Intent
from .base import Strategy, StrategyContext, empty_indicators
from .exits import EXIT_PARAMS, exit_intent

HUNDRED = Decimal("100")


def rsi(bars: Sequence[Bar], period: int) -> Decimal | None:
    n = len(bars)
    if n < period + 1:
        return None
    gains = losses = ZERO
    for i in range(n - period, n):
        change = bars[i].close - bars[i - 1].close
        if change > 0:
            gains += change
        else:
            losses -= change
    if losses == 0:
        return HUNDRED if gains > 0 else Decimal("50")
    return HUNDRED - HUNDRED / (1 + gains / losses)


class Rsi(Strategy):
    id = "rsi"
    name = "RSI"
    description = ("Long-only mean reversion on the Relative Strength Index of closes: buys size_pct % of "
                   "the free quote balance when RSI falls below oversold and no position is open; sells "
                   "the whole position when RSI rises above overbought. Optional stop-loss, take-profit and "
                   "trailing stop (percent, 0 = off) sell the whole position first.")
    params_schema = {
        "period": {"type": "int", "min": 2, "max": 500, "default": 14, "description": "RSI length in candles"},
        "oversold": {"type": "decimal", "min": "0", "max": "100", "default": "30",
                     "description": "Buy below this RSI (must be less than overbought)"},
        "overbought": {"type": "decimal", "min": "0", "max": "100", "default": "70",
                       "description": "Sell above this RSI"},
        "size_pct": {"type": "decimal", "min": "0", "min_exclusive": True, "max": "100", "default": "100",
                     "description": "Percent of the free quote balance to spend on each buy"},
        **EXIT_PARAMS,
    }

    @classmethod
    def check(cls, values):
        if values["oversold"] >= values["overbought"]:
            return {"oversold": "must be less than overbought"}
        return {}

    def warmup_bars(self) -> int:
        return self.params["period"] + 1

    def decide(self, ctx: StrategyContext) -> list[Intent]:
        exit_now = exit_intent(self.params, ctx)
        if exit_now is not None:
            return [exit_now]
        value = rsi(ctx.closed_bars, self.params["period"])
        if value is None:
            return []
        if value < self.p("oversold") and not ctx.in_position():
            spend = ctx.wallet.free_quote * self.p("size_pct") / HUNDRED
            if spend > 0:
                return [Intent("buy", "market", quote_amount=spend, reason=f"RSI {value:.2f} below {self.p('oversold')}")]
        elif value > self.p("overbought"):
            amount = ctx.sellable_base()
            if amount > 0:
                return [Intent("sell", "market", amount=amount,
                               reason=f"RSI {value:.2f} above {self.p('overbought')}")]
        return []

    def indicators(self, bars: Sequence[Bar], *, state: dict, position_avg_price: Decimal | None,
                   window: int) -> dict:
        """RSI (`rsi`, the function `decide` reads) at each of the last `window` bars with enough history, in
        a 0-100 pane with the oversold and overbought levels."""
        out = empty_indicators()
        period, n = self.params["period"], len(bars)
        points = [(bars[i - 1].ts_ms, rsi(bars[:i], period)) for i in range(max(period + 1, n - window + 1), n + 1)]
        out["pane"] = {"key": "rsi", "label": f"RSI {period}", "min": Decimal(0), "max": HUNDRED, "points": points,
                       "levels": [{"key": "oversold", "label": "oversold", "value": self.p("oversold")},
                                  {"key": "overbought", "label": "overbought", "value": self.p("overbought")}]}
        return out
