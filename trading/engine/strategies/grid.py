"""Grid trading, long-only: `levels` price lines evenly spaced from `lower` to `upper`. Below the
market a resting limit buy of `order_amount` quote sits on each line; when the buy on line i fills,
a limit sell of what it bought rests on line i+1; when that sells, the buy on line i comes back.

Memory (`state["held"]`): base bought on each line and not yet sold, from this bot's fills.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from ..fills import check_minimums, maker_fee, quantize_amount
from ..types import ZERO, Bar, FillConfig, Intent
from .base import BIG, Strategy, StrategyContext, empty_indicators


class Grid(Strategy):
    id = "grid"
    name = "Grid"
    description = ("Places limit buys of order_amount (quote) on evenly spaced levels between lower and "
                   "upper below the market; each filled buy is sold one level higher with a limit sell, "
                   "then the buy is placed again.")
    params_schema = {
        "lower": {"type": "decimal", "min": "0", "min_exclusive": True, "max": BIG,
                  "description": "Lowest grid price (must be below upper)"},
        "upper": {"type": "decimal", "min": "0", "min_exclusive": True, "max": BIG,
                  "description": "Highest grid price"},
        "levels": {"type": "int", "min": 2, "max": 200, "default": 10,
                   "description": "Number of grid lines, lower and upper included"},
        "order_amount": {"type": "decimal", "min": "0", "min_exclusive": True, "max": BIG,
                         "description": "Quote currency per buy order"},
    }

    @classmethod
    def check(cls, values):
        if values["lower"] >= values["upper"]:
            return {"lower": "must be less than upper"}
        return {}

    def prices(self) -> list[Decimal]:
        lower, upper, n = self.p("lower"), self.p("upper"), self.params["levels"]
        step = (upper - lower) / (n - 1)
        return [lower + step * i for i in range(n)]

    def decide(self, ctx: StrategyContext) -> list[Intent]:
        held: dict[str, str] = ctx.state.setdefault("held", {})
        for fill in ctx.fills:
            tag = fill.client_tag or ""
            if not tag.startswith("grid:"):
                continue
            _, line, side = tag.split(":")
            if side == "buy":
                held[line] = str(Decimal(held.get(line, "0")) + fill.amount)
            else:
                left = Decimal(held.get(line, "0")) - fill.amount
                held[line] = str(max(ZERO, left))
        open_tags = {o.client_tag for o in ctx.open_orders}
        prices = self.prices()
        free_base, free_quote = ctx.wallet.free_base, ctx.wallet.free_quote
        fee = maker_fee(ctx.rules, FillConfig())
        intents: list[Intent] = []
        for i in range(len(prices) - 1):
            key = str(i)
            lot = Decimal(held.get(key, "0"))
            if lot > 0:
                if f"grid:{i}:sell" in open_tags:
                    continue
                amount = quantize_amount(min(lot, free_base), ctx.rules)
                if amount <= 0 or check_minimums(amount, prices[i + 1], ctx.rules) is not None:
                    held[key] = "0"  # dust we cannot sell: forget the lot, buy the line again
                else:
                    free_base -= amount
                    intents.append(Intent("sell", "limit", amount=amount, price=prices[i + 1],
                                          reason=f"grid: sell line {i + 1} at {prices[i + 1]:.8g}",
                                          client_tag=f"grid:{i}:sell"))
                    continue
            if f"grid:{i}:buy" in open_tags or prices[i] >= ctx.last_price:
                continue
            amount = quantize_amount(self.p("order_amount") / prices[i], ctx.rules)
            need = amount * prices[i] * (1 + fee)
            if amount <= 0 or need > free_quote or check_minimums(amount, prices[i], ctx.rules) is not None:
                continue
            free_quote -= need
            intents.append(Intent("buy", "limit", amount=amount, price=prices[i],
                                  reason=f"grid: buy line {i} at {prices[i]:.8g}", client_tag=f"grid:{i}:buy"))
        # drop lines whose lots are fully sold, to keep the state small
        for key in [k for k, v in held.items() if Decimal(v) <= 0]:
            del held[key]
        return intents

    def indicators(self, bars: Sequence[Bar], *, state: dict, position_avg_price: Decimal | None,
                   window: int) -> dict:
        """The grid's lines (`prices`, what `decide` places orders on); a line whose lot is held (its sell
        rests one line up) is marked "held"."""
        out = empty_indicators()
        held = {k for k, v in (state.get("held") or {}).items() if Decimal(v) > 0}
        for i, price in enumerate(self.prices()):
            out["levels"].append({"key": f"grid_{i}", "label": f"grid line {i}", "price": price,
                                  "kind": "grid_held" if str(i) in held else "grid"})
        return out
