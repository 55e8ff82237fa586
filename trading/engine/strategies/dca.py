"""Dollar-cost averaging: buy `order_amount` quote every `interval_minutes`; when the price is
`take_profit_pct` % above the average entry, sell the whole position (0 disables take profit)."""

from __future__ import annotations

from decimal import Decimal

from ..types import Intent
from .base import BIG, Strategy, StrategyContext

HUNDRED = Decimal("100")


class Dca(Strategy):
    id = "dca"
    name = "DCA"
    description = ("Dollar-cost averaging: buys order_amount of the quote currency every interval_minutes "
                   "(market order); sells the whole position when the last close is take_profit_pct % "
                   "above the average entry price (0 = never).")
    params_schema = {
        "interval_minutes": {"type": "int", "min": 1, "max": 525600, "default": 60,
                             "description": "Minutes between buys"},
        "order_amount": {"type": "decimal", "min": "0", "min_exclusive": True, "max": BIG,
                         "description": "Quote currency spent on each buy (incl. fee)"},
        "take_profit_pct": {"type": "decimal", "min": "0", "max": "1000", "default": "2",
                            "description": "Sell everything this % above the average entry price; 0 = off"},
    }

    def decide(self, ctx: StrategyContext) -> list[Intent]:
        tp = self.p("take_profit_pct")
        avg = ctx.position_avg_price
        if tp > 0 and avg is not None and ctx.in_position() and ctx.last_price >= avg * (1 + tp / HUNDRED):
            ctx.state["next_buy_ms"] = ctx.now_ms + self.params["interval_minutes"] * 60_000
            return [Intent("sell", "market", amount=ctx.sellable_base(),
                           reason=f"take profit: {ctx.last_price} is {tp}% above average entry {avg:.8g}")]
        due = ctx.state.get("next_buy_ms")
        if due is not None and ctx.now_ms < due:
            return []
        ctx.state["next_buy_ms"] = ctx.now_ms + self.params["interval_minutes"] * 60_000
        spend = self.p("order_amount")
        if spend > ctx.wallet.free_quote:
            return []  # out of money: wait for the take profit (no dust-sized orders)
        return [Intent("buy", "market", quote_amount=spend, reason=f"DCA buy every {self.params['interval_minutes']} min")]
