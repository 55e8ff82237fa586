"""Dollar-cost averaging: buy `order_amount` quote every `interval_minutes`; when the price is
`take_profit_pct` % above the average entry, sell the whole position (0 disables take profit).

Safety orders (as 3Commas' DCA bots place them): with `safety_step_pct` > 0, safety order k
(k = 1..`safety_max_count`) buys `order_amount * safety_volume_scale**k` quote once the close is
k * `safety_step_pct` % below the deal's first entry price. A deal starts with the first candle the
bot is in a position (its average entry then is the reference) and ends when the position is sold;
the memory (`deal_ref`, `safety_used`) is in the strategy's state, so backtests and ticks agree.
A safety order the wallet cannot pay for is not placed (and not counted).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from ..types import Bar, Intent
from .base import BIG, Strategy, StrategyContext, empty_indicators

HUNDRED = Decimal("100")


class Dca(Strategy):
    id = "dca"
    name = "DCA"
    description = ("Dollar-cost averaging: buys order_amount of the quote currency every interval_minutes "
                   "(market order); sells the whole position when the last close is take_profit_pct % "
                   "above the average entry price (0 = never). Safety orders: up to safety_max_count extra "
                   "buys, the k-th when the close is k x safety_step_pct % below the deal's first entry, "
                   "each safety_volume_scale times the one before.")
    params_schema = {
        "interval_minutes": {"type": "int", "min": 1, "max": 525600, "default": 60,
                             "description": "Minutes between buys"},
        "order_amount": {"type": "decimal", "min": "0", "min_exclusive": True, "max": BIG,
                         "description": "Quote currency spent on each buy (incl. fee)"},
        "take_profit_pct": {"type": "decimal", "min": "0", "max": "1000", "default": "2",
                            "description": "Sell everything this % above the average entry price; 0 = off"},
        "safety_step_pct": {"type": "decimal", "min": "0", "max": "50", "default": "0",
                            "description": "Price drop (% of the first entry) between safety orders; 0 = off"},
        "safety_volume_scale": {"type": "decimal", "min": "0", "min_exclusive": True, "max": "10",
                                "default": "1",
                                "description": "Each safety order spends this many times the one before"},
        "safety_max_count": {"type": "int", "min": 0, "max": 50, "default": 0,
                             "description": "Most safety orders per deal"},
    }

    @classmethod
    def check(cls, values):
        if values["safety_step_pct"] * values["safety_max_count"] >= 100:
            return {"safety_step_pct": "safety_step_pct x safety_max_count must stay below 100 %"}
        return {}

    def decide(self, ctx: StrategyContext) -> list[Intent]:
        tp = self.p("take_profit_pct")
        avg = ctx.position_avg_price
        in_position = ctx.in_position()
        if not in_position:
            ctx.state.pop("deal_ref", None)
            ctx.state.pop("safety_used", None)
        target = self.take_profit_price(avg) if avg is not None else None
        if target is not None and in_position and ctx.last_price >= target:
            ctx.state["next_buy_ms"] = ctx.now_ms + self.params["interval_minutes"] * 60_000
            ctx.state.pop("deal_ref", None)
            ctx.state.pop("safety_used", None)
            return [Intent("sell", "market", amount=ctx.sellable_base(),
                           reason=f"take profit: {ctx.last_price} is {tp}% above average entry {avg:.8g}")]
        safety = self._safety_order(ctx) if in_position and avg is not None else None
        if safety is not None:
            return [safety]
        due = ctx.state.get("next_buy_ms")
        if due is not None and ctx.now_ms < due:
            return []
        ctx.state["next_buy_ms"] = ctx.now_ms + self.params["interval_minutes"] * 60_000
        spend = self.p("order_amount")
        if spend > ctx.wallet.free_quote:
            return []  # out of money: wait for the take profit (no dust-sized orders)
        return [Intent("buy", "market", quote_amount=spend, reason=f"DCA buy every {self.params['interval_minutes']} min")]

    def safety_trigger(self, ref: Decimal, k: int) -> Decimal:
        """The close at or below which safety order k of a deal that started at `ref` buys."""
        return ref * (1 - self.p("safety_step_pct") * k / HUNDRED)

    def take_profit_price(self, avg: Decimal) -> Decimal | None:
        tp = self.p("take_profit_pct")
        return avg * (1 + tp / HUNDRED) if tp > 0 else None

    def _safety_order(self, ctx: StrategyContext) -> Intent | None:
        step, most = self.p("safety_step_pct"), self.params["safety_max_count"]
        if step <= 0 or most <= 0:
            return None
        ref = Decimal(ctx.state.setdefault("deal_ref", str(ctx.position_avg_price)))
        used = int(ctx.state.get("safety_used", 0))
        if used >= most:
            return None
        k = used + 1
        trigger = self.safety_trigger(ref, k)
        if ctx.last_price > trigger:
            return None
        spend = self.p("order_amount") * self.p("safety_volume_scale") ** k
        if spend > ctx.wallet.free_quote:
            return None
        ctx.state["safety_used"] = k
        return Intent("buy", "market", quote_amount=spend,
                      reason=f"safety order {k}/{most}: close {ctx.last_price} is {step * k}% or more below the "
                             f"first entry {ref:.8g}")

    def indicators(self, bars: Sequence[Bar], *, state: dict, position_avg_price: Decimal | None,
                   window: int) -> dict:
        """The open deal's levels: its base entry (the first entry price `decide` measures from), every safety
        order's trigger (`safety_trigger`; "filled" once placed) and the take-profit price on the average
        entry (`take_profit_price`). Flat: no levels (the next deal starts at the next buy)."""
        out = empty_indicators()
        if position_avg_price is None:
            return out
        ref = Decimal(state.get("deal_ref") or position_avg_price)
        used = int(state.get("safety_used", 0))
        out["levels"].append({"key": "dca_base", "label": "base entry", "price": ref, "kind": "dca_base"})
        if self.p("safety_step_pct") > 0:
            for k in range(1, self.params["safety_max_count"] + 1):
                out["levels"].append({"key": f"dca_safety_{k}", "label": f"safety order {k}" + (" (filled)" if k <= used else ""),
                                      "price": self.safety_trigger(ref, k),
                                      "kind": "dca_safety_filled" if k <= used else "dca_safety"})
        target = self.take_profit_price(position_avg_price)
        if target is not None:
            out["levels"].append({"key": "dca_take_profit", "label": "take profit", "price": target,
                                  "kind": "take_profit"})
        return out
