"""The ONE evaluation step shared by paper trading (each tick) and the backtest (each bar). Pure.

Decision and fill are separate: `plan()` is the decision alone (the strategy's intents, each named by
`trading.engine.ids.client_order_id`); `trading.engine.paper` fills orders on the paper exchange.
`evaluate()` = both, in order:
1. if the newest closed candle was already evaluated (state["engine"]["last_bar_ms"]), nothing;
2. resting limit orders are matched against every closed candle newer than the last evaluated one
   (partial fills at the limit, maker fee; the bar's volume is shared by this bot's orders);
3. the strategy decides on the closed candles (`closed_bars`), seeing the fills since its last call;
4. its orders are processed in order: cancels, market orders (filled now via `fill_market`), limit
   orders (`place_limit`: marketable part as taker, the rest rests with funds reserved), each after
   the risk gate if one is given. Intent n of the step is order `client_order_id(bot_id=bot_id,
   step_key=step_key, n=n)` (`"<step_key>:<n>"` without a bot id) with its own RNG
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

from . import paper
from .fills import as_decimal, fill_market
from .ids import client_order_id
from .paper import PaperAccount
from .strategies import get_strategy
from .strategies.base import Strategy, StrategyContext
from .types import (
    ZERO,
    Bar,
    Fill,
    FillConfig,
    Intent,
    Market,
    MarketRules,
    Plan,
    PlannedOrder,
    Reject,
    RestingOrder,
    StepResult,
    Wallet,
)
from .wallet import with_reservations


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


def plan(*, strategy_id: str, params: Any, state: dict | None, closed_bars: Sequence[Bar], wallet: Wallet,
         open_orders: Sequence[RestingOrder], rules: MarketRules, step_key: str | int,
         bot_id: int | str | None = None, fills: Sequence[Fill] = ()) -> Plan:
    """The decision step alone: what the strategy wants to do now, each order with its client order id.

    Nothing is filled and the inputs are not mutated. `wallet` is the balance now (after `fills`);
    `fills` are the bot's fills since the last decision that `state` does not carry yet (what a venue
    reported, oldest first): the strategy sees them and the position's average entry price in the new
    state includes them. `bot_id` goes into the client order ids (None: the bot-local `<step>:<n>` ids
    of paper orders, see `trading.engine.ids`). `Plan.state` is the state to persist once the orders
    are handled (`evaluated=False`: no new closed candle, nothing to do). Raises ParamError for an
    unknown strategy or bad params.
    """
    strategy = get_strategy(strategy_id, params)
    last_ms = ((state or {}).get("engine") or {}).get("last_bar_ms")
    if not closed_bars or (last_ms is not None and closed_bars[-1].ts_ms <= last_ms):
        return Plan(orders=(), state=_copy(state or {}), evaluated=False)
    state = _copy(state or {})
    eng = state.setdefault("engine", {})
    avg = Decimal(eng["avg_price"]) if eng.get("avg_price") else None
    if fills:
        # the position before these fills, then the average entry price fill by fill, as evaluate() keeps it
        position = wallet.base - sum((f.amount if f.side == "buy" else -f.amount for f in fills), ZERO)
        for f in fills:
            avg = paper.avg_after(avg, position, f)
            position += f.amount if f.side == "buy" else -f.amount
        eng["avg_price"] = None if avg is None else str(avg)
    open_orders = list(open_orders)
    orders = _decide(strategy, state, closed_bars, with_reservations(wallet, open_orders), avg, open_orders,
                     rules, list(fills), step_key, bot_id)
    eng["last_bar_ms"] = closed_bars[-1].ts_ms
    return Plan(orders=tuple(orders), state=state, evaluated=True)


def _decide(strategy: Strategy, state: dict, closed_bars: Sequence[Bar], wallet: Wallet, avg: Decimal | None,
            open_orders: list[RestingOrder], rules: MarketRules, fills: list[Fill], step_key: str | int,
            bot_id: int | str | None) -> list[PlannedOrder]:
    """Ask the strategy (it sees the fills since its last call) and name its intents. Updates `state`."""
    eng = state["engine"]
    last_bar = closed_bars[-1]
    seen = [Fill.from_json(f) for f in eng.pop("unseen_fills", [])]
    ctx = StrategyContext(closed_bars=closed_bars, now_ms=last_bar.ts_ms, wallet=wallet,
                          position_avg_price=avg, open_orders=tuple(open_orders), last_price=last_bar.close,
                          state=state.setdefault("strategy", {}), rules=rules, fills=tuple(seen + fills))
    intents = strategy.decide(ctx)
    if not intents:
        return []
    return [PlannedOrder(n, client_order_id(bot_id=bot_id, step_key=step_key, n=n), intent)
            for n, intent in enumerate(intents)]


def evaluate(*, strategy_id: str, params: Any, state: dict | None, closed_bars: Sequence[Bar], market: Market,
             wallet: Wallet, open_orders: Sequence[RestingOrder], rules: MarketRules, cfg: FillConfig,
             seed: int, step_key: str | int, gate: Gate | None = None,
             bot_id: int | str | None = None) -> StepResult:
    """One decision step for one paper bot: resting orders matched, `plan`, then paper execution.

    Inputs are not mutated; everything new is in the StepResult. `state` is the opaque JSON-safe dict
    from the previous StepResult (None/{} the first time). `gate`, if given, is called before each
    market/limit intent; a decision with allowed=False turns the intent into a Reject with the gate's
    code and message (risk checks). Raises ParamError for an unknown strategy or bad params.
    """
    strategy = get_strategy(strategy_id, params)
    last_ms = ((state or {}).get("engine") or {}).get("last_bar_ms")
    if not closed_bars or (last_ms is not None and closed_bars[-1].ts_ms <= last_ms):
        # no new closed candle since the last evaluation: nothing to decide, nothing can fill
        return StepResult(state=_copy(state or {}), wallet=with_reservations(wallet, open_orders),
                          open_orders=list(open_orders), evaluated=False)
    state = _copy(state or {})
    eng = state.setdefault("engine", {})
    last_bar = closed_bars[-1]
    acct = PaperAccount(wallet=with_reservations(wallet, open_orders),
                        avg_price=Decimal(eng["avg_price"]) if eng.get("avg_price") else None,
                        open_orders=list(open_orders))

    # 2. resting orders against the new closed bars (the paper exchange's side)
    if acct.open_orders:
        paper.match_resting(acct, paper.new_bars(closed_bars, last_ms), rules=rules, cfg=cfg)

    # 3. the decision: the strategy sees the fills of this step so far
    planned = _decide(strategy, state, closed_bars, acct.wallet, acct.avg_price, acct.open_orders, rules,
                      acct.fills, step_key, bot_id)

    # 4. the planned orders in order: risk gate, then paper execution (each with its own seeded RNG)
    after_fills_start = len(acct.fills)
    fill_ts = market.ts_ms if market.ts_ms is not None else last_bar.ts_ms
    for order in planned:
        intent, order_id = order.intent, order.client_order_id
        if intent.type == "cancel":
            paper.cancel(acct, intent.order_id, client_order_id=order_id, intent=intent)
            continue
        if gate is not None:
            amount, price = _estimate(intent, market, acct.wallet, rules, cfg)
            if price is not None:
                decision = gate(GateRequest(intent=intent, order_id=order_id, side=intent.side, amount=amount,
                                            price=price, wallet=acct.wallet, position_avg_price=acct.avg_price,
                                            reduces_position=intent.side == "sell"))
                if decision is not None and not decision.allowed:
                    acct.rejects.append(Reject(decision.code, decision.message, order_id, intent))
                    continue
        paper.execute(acct, intent, order_id, market=market, rules=rules, cfg=cfg, seed=seed, ts_ms=fill_ts)

    eng["last_bar_ms"] = last_bar.ts_ms
    eng["avg_price"] = None if acct.avg_price is None else str(acct.avg_price)
    if len(acct.fills) > after_fills_start:
        eng["unseen_fills"] = [f.to_json() for f in acct.fills[after_fills_start:]]
    return StepResult(fills=acct.fills, rejects=acct.rejects, new_orders=acct.new_orders, cancelled=acct.cancelled,
                      state=state, wallet=acct.wallet, open_orders=acct.open_orders, evaluated=True)


def _copy(value):
    """Deep copy of JSON-shaped data (dicts, lists, scalars): much cheaper than copy.deepcopy."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def indicators(*, strategy_id: str, params: Any, state: dict | None, closed_bars: Sequence[Bar], in_position: bool,
               window: int) -> dict:
    """What the bot's strategy decides with, for its chart (Strategy.indicators), read from the bot's state as
    `plan()` reads it: the strategy's memory and the average entry price of an open position."""
    state = state or {}
    eng = state.get("engine") or {}
    avg = Decimal(eng["avg_price"]) if in_position and eng.get("avg_price") else None
    return get_strategy(strategy_id, params).indicators(closed_bars, state=dict(state.get("strategy") or {}),
                                                        position_avg_price=avg, window=window)
