"""Paper execution: what happens to a bot's planned orders on the paper "exchange". Pure.

The decision (`runner.plan`) names the orders; this module fills them with the fill model in
fills.py, against one `PaperAccount` (wallet, average entry price, resting orders and what this step
did). `runner.evaluate` (paper tick and backtest) and `trading.execution.paper.PaperVenue` both go
through these functions, so there is ONE paper fill path.

Randomness: each order gets `random.Random(f"{seed}:{step_part(client_order_id)}")`, i.e.
`"<seed>:<step>:<n>"`, the same whatever the bot id, process or machine.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from .fills import fill_limit, fill_market, place_limit, volume_through
from .ids import step_part
from .types import ZERO, Bar, Fill, FillConfig, Intent, Market, MarketRules, Reject, RestingOrder, Wallet
from .wallet import WalletError, apply, release, reserve


@dataclass(slots=True)
class PaperAccount:
    """One bot's paper account while orders are executed (mutable; `runner.evaluate` makes one per step).

    `fills`, `rejects`, `cancelled` and `new_orders` collect what happened since it was made.
    """

    wallet: Wallet
    avg_price: Decimal | None = None  # average entry price of the position (fees excluded)
    open_orders: list[RestingOrder] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    new_orders: list[RestingOrder] = field(default_factory=list)

    def book(self, fill: Fill, order: RestingOrder | None = None) -> None:
        """Apply a fill to the wallet (paid from `order`'s reservation if it filled a resting order)."""
        after = apply(self.wallet, fill, from_order=order)
        self.avg_price = avg_after(self.avg_price, self.wallet.base, fill)
        self.wallet = after
        self.fills.append(fill)


def avg_after(avg: Decimal | None, position: Decimal, fill: Fill) -> Decimal | None:
    """The average entry price after `fill` on a position of `position` base (long only)."""
    if fill.side == "buy":
        total = position + fill.amount
        if total <= 0:
            return None
        return ((avg or ZERO) * position + fill.price * fill.amount) / total
    return avg if position - fill.amount > 0 else None


def paper_rng(seed: int | str, client_order_id: str) -> random.Random:
    """The seeded RNG of one paper order."""
    return random.Random(f"{seed}:{step_part(client_order_id)}")


def new_bars(closed_bars: Sequence[Bar], last_ms: int | None, limit: int = 1000) -> list[Bar]:
    """The closed bars after `last_ms` (the newest only, the first time), oldest first."""
    out: list[Bar] = []
    i = len(closed_bars) - 1
    while i >= 0 and len(out) < limit and (last_ms is None or closed_bars[i].ts_ms > last_ms):
        out.append(closed_bars[i])
        i -= 1
        if last_ms is None:
            break  # first evaluation: only the newest bar counts
    out.reverse()
    return out


def match_resting(acct: PaperAccount, bars: Sequence[Bar], *, rules: MarketRules, cfg: FillConfig) -> None:
    """Match the resting limit orders against `bars` (closed, oldest first): best-priced first, then
    oldest; partial fills at the limit with the maker fee; a bar's volume is shared by the orders."""
    if not acct.open_orders or not bars:
        return
    open_orders = acct.open_orders
    ordered = sorted(open_orders, key=lambda o: (o.side, -o.price if o.side == "buy" else o.price, o.id))
    by_id = {o.id: o for o in open_orders}
    for bar in bars:
        budget = {"buy": None, "sell": None}
        for original in ordered:
            order = by_id[original.id]
            fill = fill_limit(order, bar, rules=rules, cfg=cfg, volume_available=budget[order.side])
            if fill is not None:
                try:
                    acct.book(fill, order)
                except WalletError:
                    # the caller's wallet no longer backs this order (edited outside the engine):
                    # the exchange would have refused it, so drop it instead of going negative
                    acct.rejects.append(Reject("insufficient_funds", "Insufficient balance for the resting order",
                                               order.id))
                    acct.wallet = release(acct.wallet, order)
                    by_id[order.id] = replace(order, filled=order.amount)
                    acct.cancelled.append(order.id)
                    continue
                order = replace(order, filled=order.filled + fill.amount)
                left = budget[order.side]
                if left is None:
                    # what this bar offered through the best order's price, minus what we just took
                    left = volume_through(order.side, order.price, bar, cfg)
                if left is not None:
                    budget[order.side] = max(ZERO, left - fill.amount)
            by_id[order.id] = order
    acct.open_orders = [by_id[o.id] for o in open_orders if by_id[o.id].remaining > 0]


def cancel(acct: PaperAccount, order_id: str | None, *, client_order_id: str | None = None,
           intent: Intent | None = None) -> RestingOrder | None:
    """Cancel resting order `order_id`: its reservation is released. Unknown -> a Reject, None returned."""
    target = next((o for o in acct.open_orders if o.id == order_id), None)
    if target is None:
        acct.rejects.append(Reject("unknown_order", f"No open order {order_id}", client_order_id, intent))
        return None
    acct.wallet = release(acct.wallet, target)
    acct.open_orders.remove(target)
    acct.cancelled.append(target.id)
    return target


def execute(acct: PaperAccount, intent: Intent, client_order_id: str, *, market: Market, rules: MarketRules,
            cfg: FillConfig, seed: int | str, ts_ms: int) -> Fill | RestingOrder | Reject | None:
    """Execute one market or limit order now: a market order fills (or is rejected); a limit fills its
    marketable part as taker and rests the rest with its funds reserved (fillable from `ts_ms` on).

    The outcome is recorded in `acct`; returned is the fill, the resting order (a limit that rests,
    possibly after a taker fill), the Reject, or None (a limit whose taker part filled and whose rest
    could not be funded: see the fill in `acct.fills`).
    """
    rng = paper_rng(seed, client_order_id)
    if intent.type == "market":
        result = fill_market(intent, acct.wallet, quote=market.quote, book=market.book, next_open=market.next_open,
                             rules=rules, cfg=cfg, rng=rng, ts_ms=ts_ms, order_id=client_order_id)
        if isinstance(result, Reject):
            acct.rejects.append(result)
        else:
            acct.book(result)
        return result
    if intent.type == "limit":
        placed = place_limit(intent, acct.wallet, quote=market.quote, book=market.book, next_open=market.next_open,
                             rules=rules, cfg=cfg, rng=rng, order_id=client_order_id, ts_ms=ts_ms, after_ms=ts_ms)
        if isinstance(placed, Reject):
            acct.rejects.append(placed)
            return placed
        taker, rest = placed
        if taker is not None:
            acct.book(taker)
        if rest is not None:
            acct.wallet = reserve(acct.wallet, rest)
            acct.open_orders.append(rest)
            acct.new_orders.append(rest)
            return rest
        return taker
    reject = Reject("invalid_order", f"Unknown order type {intent.type!r}", client_order_id, intent)
    acct.rejects.append(reject)
    return reject
