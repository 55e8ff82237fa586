"""SMA crossover, long-only: fast SMA of closes crosses above the slow one -> buy `size_pct` % of the
free quote; crosses below -> sell the whole position."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from ..types import Bar, Intent
from .base import Strategy, StrategyContext, empty_indicators, sma
from .exits import EXIT_PARAMS, exit_intent

HUNDRED = Decimal("100")


class SmaCross(Strategy):
    id = "sma_cross"
    name = "SMA crossover"
    description = ("Long-only. Buys size_pct % of the free quote balance when the fast simple moving "
                   "average of closes crosses above the slow one; sells the whole position when it "
                   "crosses below. Decides on closed candles only. Optional stop-loss, take-profit and trailing stop "
                   "(percent, 0 = off) sell the whole position first.")
    params_schema = {
        "fast": {"type": "int", "min": 1, "max": 1000, "default": 10,
                 "description": "Fast SMA length in candles (must be less than slow)"},
        "slow": {"type": "int", "min": 2, "max": 2000, "default": 30,
                 "description": "Slow SMA length in candles"},
        "size_pct": {"type": "decimal", "min": "0", "min_exclusive": True, "max": "100", "default": "100",
                     "description": "Percent of the free quote balance to spend on each buy"},
        **EXIT_PARAMS,
    }

    @classmethod
    def check(cls, values):
        if values["fast"] >= values["slow"]:
            return {"fast": "must be less than slow"}
        return {}

    def warmup_bars(self) -> int:
        return self.params["slow"] + 1  # both SMAs now and one candle ago

    def decide(self, ctx: StrategyContext) -> list[Intent]:
        fast, slow = self.params["fast"], self.params["slow"]
        bars = ctx.closed_bars
        n = len(bars)
        exit_now = exit_intent(self.params, ctx)
        if exit_now is not None:
            return [exit_now]
        if n < slow + 1:
            return []
        f_now, s_now = sma(bars, fast), sma(bars, slow)
        f_prev, s_prev = sma(bars, fast, n - 1), sma(bars, slow, n - 1)
        if f_prev <= s_prev and f_now > s_now:
            if ctx.in_position():
                return []
            spend = ctx.wallet.free_quote * self.p("size_pct") / HUNDRED
            if spend <= 0:
                return []
            return [Intent("buy", "market", quote_amount=spend,
                           reason=f"SMA{fast} crossed above SMA{slow} ({f_now:.8g} > {s_now:.8g})")]
        if f_prev >= s_prev and f_now < s_now:
            amount = ctx.sellable_base()
            if amount <= 0:
                return []
            return [Intent("sell", "market", amount=amount,
                           reason=f"SMA{fast} crossed below SMA{slow} ({f_now:.8g} < {s_now:.8g})")]
        return []

    def indicators(self, bars: Sequence[Bar], *, state: dict, position_avg_price: Decimal | None,
                   window: int) -> dict:
        """The fast and slow SMA at every one of the last `window` bars that has enough history (`sma`, the
        function `decide` compares)."""
        out = empty_indicators()
        n = len(bars)
        for key, period in (("sma_fast", self.params["fast"]), ("sma_slow", self.params["slow"])):
            points = [(bars[i - 1].ts_ms, sma(bars, period, i)) for i in range(max(period, n - window + 1), n + 1)]
            out["lines"].append({"key": key, "label": f"SMA {period}", "points": points})
        return out
