"""The ONE evaluation step shared by paper trading (each tick) and the backtest (each bar). Pure.

`evaluate()` does, in order:
1. if the newest closed candle was already evaluated (state["engine"]["last_bar_ms"]), nothing;
2. resting limit orders are matched against every closed candle newer than the last evaluated one
   (partial fills at the limit, maker fee; the bar's volume is shared by this bot's orders);
3. the strategy decides on the closed candles (`closed_bars`), seeing the fills since its last call;
4. its intents are processed in order: cancels, market orders (filled now via `fill_market`), limit
   orders (`place_limit`: marketable part as taker, the rest rests with funds reserved).
   Intent n of the step gets order id f"{step_key}:{n}" and its own RNG
   `random.Random(f"{seed}:{step_key}:{n}")`, so the same data + seed give the same fills whatever
   the bot id, process or machine.

Parity contract (paper replay == backtest): call with `closed_bars = bars[:n]`,
`market = Market(next_open=bars[n].open, ts_ms=bars[n].ts_ms)` and `step_key = bars[n-1].ts_ms`
for n in 1..N-1 (the last bar has no next open to fill at), carrying `state`, `wallet` and
`open_orders` from one step to the next. Live paper ticks pass `Market(quote=..., book=...,
ts_ms=now_ms)` and the same `step_key` rule (the newest closed candle's open time).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Protocol

from .fills import as_decimal, fill_limit, fill_market, place_limit, volume_through
from .strategies import get_strategy
from .strategies.base import StrategyContext
from .types import (
    ZERO,
    Bar,
    Fill,
    FillConfig,
    Intent,
    Market,
    MarketRules,
    Reject,
    RestingOrder,
    StepResult,
    Wallet,
)
from .wallet import WalletError, apply, release, reserve, with_reservations


class GateDecision(Protocol):
    allowed: bool
    code: str
    message: str


@dataclass(frozen=True)
class GateRequest:
    """What a pre-trade gate (risk checks) sees for one intent, before anything is filled."""

    intent: Intent
    order_id: str
    side: str
    amount: Decimal  # estimated base amount
    price: Decimal  # estimated price (reference or limit)
    wallet: Wallet
    position_avg_price: Decimal | None
    reduces_position: bool  # a sell on a long-only spot bot


Gate = Callable[[GateRequest], GateDecision | None]


def _reference(side: str, market: Market) -> Decimal | None:
    book = market.book
    levels = (book.asks if side == "buy" else book.bids) if book is not None else None
    if levels:
        return as_decimal(levels[0][0])
    if market.next_open is not None:
        return market.next_open
    if market.quote is not None:
        return market.quote.ask if side == "buy" else market.quote.bid
    return None


def _estimate(intent: Intent, market: Market, wallet: Wallet, rules: MarketRules,
              cfg: FillConfig) -> tuple[Decimal, Decimal | None]:
    """(amount, price) for the pre-trade gate: the limit price, or the WORST price a market order can
    fill at (the book walk is exact; without a book, the maximum slippage), so a limit on position
    size can't be overrun by the slippage that comes after the check."""
    if intent.type == "limit":
        return intent.amount or ZERO, intent.price
    worst = replace(cfg, reject_rate=ZERO, slippage_min=cfg.slippage_max)
    probe = fill_market(intent, wallet, quote=market.quote, book=market.book, next_open=market.next_open,
                        rules=rules, cfg=worst, rng=random.Random(0))
    if isinstance(probe, Fill):
        return probe.amount, probe.price
    price = _reference(intent.side, market)
    if price is None:
        return ZERO, None
    return (intent.amount if intent.amount is not None else (intent.quote_amount or ZERO) / price), price


def _new_bars(closed_bars: Sequence[Bar], last_ms: int | None, limit: int = 1000) -> list[Bar]:
    out: list[Bar] = []
    i = len(closed_bars) - 1
    while i >= 0 and len(out) < limit and (last_ms is None or closed_bars[i].ts_ms > last_ms):
        out.append(closed_bars[i])
        i -= 1
        if last_ms is None:
            break  # first evaluation: only the newest bar counts
    out.reverse()
    return out


def _avg_after(avg: Decimal | None, position: Decimal, fill: Fill) -> Decimal | None:
    if fill.side == "buy":
        total = position + fill.amount
        if total <= 0:
            return None
        return ((avg or ZERO) * position + fill.price * fill.amount) / total
    return avg if position - fill.amount > 0 else None


def evaluate(*, strategy_id: str, params: Any, state: dict | None, closed_bars: Sequence[Bar], market: Market,
             wallet: Wallet, open_orders: Sequence[RestingOrder], rules: MarketRules, cfg: FillConfig,
             seed: int, step_key: str | int, gate: Gate | None = None) -> StepResult:
    """One decision step for one bot. Inputs are not mutated; everything new is in the StepResult.

    `state` is the opaque JSON-safe dict from the previous StepResult (None/{} the first time).
    `gate`, if given, is called before each market/limit intent; a decision with allowed=False turns
    the intent into a Reject with the gate's code and message (risk checks).
    Raises ParamError for an unknown strategy or bad params.
    """
    strategy = get_strategy(strategy_id, params)
    last_ms = ((state or {}).get("engine") or {}).get("last_bar_ms")
    if not closed_bars or (last_ms is not None and closed_bars[-1].ts_ms <= last_ms):
        # no new closed candle since the last evaluation: nothing to decide, nothing can fill
        return StepResult(state=_copy(state or {}), wallet=with_reservations(wallet, open_orders),
                          open_orders=list(open_orders), evaluated=False)
    state = _copy(state or {})
    eng = state.setdefault("engine", {})
    strat_state = state.setdefault("strategy", {})
    open_orders = list(open_orders)
    wallet = with_reservations(wallet, open_orders)
    last_bar = closed_bars[-1]

    avg = Decimal(eng["avg_price"]) if eng.get("avg_price") else None
    fills: list[Fill] = []
    rejects: list[Reject] = []
    cancelled: list[str] = []
    new_orders: list[RestingOrder] = []

    def book(fill: Fill, order: RestingOrder | None = None) -> None:
        nonlocal wallet, avg
        after = apply(wallet, fill, from_order=order)
        avg = _avg_after(avg, wallet.base, fill)
        wallet = after
        fills.append(fill)

    # 2. resting orders against the new closed bars; best-priced first, then oldest
    if open_orders:
        ordered = sorted(open_orders, key=lambda o: (o.side, -o.price if o.side == "buy" else o.price, o.id))
        by_id = {o.id: o for o in open_orders}
        for bar in _new_bars(closed_bars, last_ms):
            budget = {"buy": None, "sell": None}
            for original in ordered:
                order = by_id[original.id]
                fill = fill_limit(order, bar, rules=rules, cfg=cfg, volume_available=budget[order.side])
                if fill is not None:
                    try:
                        book(fill, order)
                    except WalletError:
                        # the caller's wallet no longer backs this order (edited outside the engine):
                        # the exchange would have refused it, so drop it instead of going negative
                        rejects.append(Reject("insufficient_funds", "Insufficient balance for the resting order",
                                              order.id))
                        wallet = release(wallet, order)
                        by_id[order.id] = replace(order, filled=order.amount)
                        cancelled.append(order.id)
                        continue
                    order = replace(order, filled=order.filled + fill.amount)
                    left = budget[order.side]
                    if left is None:
                        # what this bar offered through the best order's price, minus what we just took
                        left = volume_through(order.side, order.price, bar, cfg)
                    if left is not None:
                        budget[order.side] = max(ZERO, left - fill.amount)
                by_id[order.id] = order
        open_orders = [by_id[o.id] for o in open_orders if by_id[o.id].remaining > 0]

    # 3. the strategy decides on closed candles
    seen = [Fill.from_json(f) for f in eng.pop("unseen_fills", [])]
    ctx = StrategyContext(closed_bars=closed_bars, now_ms=last_bar.ts_ms, wallet=wallet,
                          position_avg_price=avg, open_orders=tuple(open_orders), last_price=last_bar.close,
                          state=strat_state, rules=rules, fills=tuple(seen + fills))
    intents = strategy.decide(ctx)

    # 4. intents in order, each with its own seeded RNG
    after_fills_start = len(fills)
    fill_ts = market.ts_ms if market.ts_ms is not None else last_bar.ts_ms
    for n, intent in enumerate(intents):
        order_id = f"{step_key}:{n}"
        if intent.type == "cancel":
            target = next((o for o in open_orders if o.id == intent.order_id), None)
            if target is None:
                rejects.append(Reject("unknown_order", f"No open order {intent.order_id}", order_id, intent))
                continue
            wallet = release(wallet, target)
            open_orders.remove(target)
            cancelled.append(target.id)
            continue
        if gate is not None:
            amount, price = _estimate(intent, market, wallet, rules, cfg)
            if price is not None:
                decision = gate(GateRequest(intent=intent, order_id=order_id, side=intent.side, amount=amount,
                                            price=price, wallet=wallet, position_avg_price=avg,
                                            reduces_position=intent.side == "sell"))
                if decision is not None and not decision.allowed:
                    rejects.append(Reject(decision.code, decision.message, order_id, intent))
                    continue
        rng = random.Random(f"{seed}:{step_key}:{n}")
        if intent.type == "market":
            result = fill_market(intent, wallet, quote=market.quote, book=market.book, next_open=market.next_open,
                                 rules=rules, cfg=cfg, rng=rng, ts_ms=fill_ts, order_id=order_id)
            if isinstance(result, Reject):
                rejects.append(result)
            else:
                book(result)
        elif intent.type == "limit":
            placed = place_limit(intent, wallet, quote=market.quote, book=market.book, next_open=market.next_open,
                                 rules=rules, cfg=cfg, rng=rng, order_id=order_id, ts_ms=fill_ts,
                                 after_ms=fill_ts)
            if isinstance(placed, Reject):
                rejects.append(placed)
                continue
            taker, rest = placed
            if taker is not None:
                book(taker)
            if rest is not None:
                wallet = reserve(wallet, rest)
                open_orders.append(rest)
                new_orders.append(rest)
        else:
            rejects.append(Reject("invalid_order", f"Unknown order type {intent.type!r}", order_id, intent))

    eng["last_bar_ms"] = last_bar.ts_ms
    eng["avg_price"] = None if avg is None else str(avg)
    if len(fills) > after_fills_start:
        eng["unseen_fills"] = [f.to_json() for f in fills[after_fills_start:]]
    return StepResult(fills=fills, rejects=rejects, new_orders=new_orders, cancelled=cancelled, state=state,
                      wallet=wallet, open_orders=open_orders, evaluated=True)


def _copy(value):
    """Deep copy of JSON-shaped data (dicts, lists, scalars): much cheaper than copy.deepcopy."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
