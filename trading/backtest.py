"""Backtests on the paper engine, and the performance statistics shared with the bots' API. Pure.

`run_backtest` walks recorded candles through `trading.engine.runner.evaluate` exactly the way a
paper bot on the replay feed does (see the parity contract in runner.py), so the same data and
seed give the same fills. With `limits` every order also passes `risk.checks.check_order`, and a
circuit breaker (daily loss / drawdown) halts the run like it halts a bot.

Trades are FIFO round trips: each buy fill opens a lot, each sell closes the oldest lots first;
a closed trade is one (lot, sell) pair with its entry and exit, amount, fees (the entry fee's and
exit fee's shares) and net P&L.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from risk.checks import (
    Limits,
    OrderProposal,
    RiskState,
    check_breakers,
    check_order,
    memory_advance,
    memory_count_order,
    state_build,
)
from trading.engine.runner import GateRequest, evaluate
from trading.engine.strategies import validate_params
from trading.engine.types import (
    ZERO,
    Bar,
    Fill,
    FillConfig,
    Market,
    MarketRules,
    Reject,
    RestingOrder,
    Wallet,
)
from trading.engine.wallet import equity, with_reservations

HUNDRED = Decimal("100")


def iso(ts_ms: int | None) -> str | None:
    return None if ts_ms is None else datetime.fromtimestamp(ts_ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


def _s(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


@dataclass(frozen=True)
class Trade:
    entry_ms: int | None
    entry_price: Decimal
    exit_ms: int | None
    exit_price: Decimal | None
    amount: Decimal
    fee: Decimal  # quote, entry share + exit share
    pnl: Decimal  # net of fees (open trades: unrealized at the mark price)
    return_pct: Decimal

    def to_json(self) -> dict:
        return {"entry_time": iso(self.entry_ms), "entry_ts_ms": self.entry_ms, "entry_price": _s(self.entry_price),
                "exit_time": iso(self.exit_ms), "exit_ts_ms": self.exit_ms, "exit_price": _s(self.exit_price),
                "amount": _s(self.amount), "fee": _s(self.fee), "pnl": _s(self.pnl),
                "return_pct": _s(self.return_pct.quantize(Decimal("0.0001")))}


def trades_from_fills(fills: Sequence[Fill], mark_price: Decimal | None = None) -> tuple[list[Trade], list[Trade]]:
    """(closed trades, open lots) by FIFO. Open lots are valued at `mark_price` when given."""
    lots: deque[list] = deque()  # [ts, price, amount_left, fee_left]
    closed: list[Trade] = []
    for f in fills:
        if f.side == "buy":
            lots.append([f.ts_ms, f.price, f.amount, f.fee])
            continue
        left = f.amount
        while left > 0 and lots:
            lot = lots[0]
            take = min(left, lot[2])
            entry_fee = lot[3] * take / lot[2]
            exit_fee = f.fee * take / f.amount
            fee = entry_fee + exit_fee
            pnl = (f.price - lot[1]) * take - fee
            basis = lot[1] * take + entry_fee
            closed.append(Trade(lot[0], lot[1], f.ts_ms, f.price, take, fee, pnl,
                                pnl / basis * HUNDRED if basis > 0 else ZERO))
            lot[2] -= take
            lot[3] -= entry_fee
            left -= take
            if lot[2] <= 0:
                lots.popleft()
    open_lots = []
    for ts, price, amount, fee in lots:
        pnl = (mark_price - price) * amount - fee if mark_price is not None else -fee
        basis = price * amount + fee
        open_lots.append(Trade(ts, price, None, None, amount, fee, pnl,
                               pnl / basis * HUNDRED if basis > 0 else ZERO))
    return closed, open_lots


def max_drawdown_pct(equity_curve: Sequence[tuple[int, Decimal]]) -> Decimal:
    peak, worst = None, ZERO
    for _, value in equity_curve:
        if peak is None or value > peak:
            peak = value
        if peak and peak > 0:
            worst = max(worst, (peak - value) / peak * HUNDRED)
    return worst


@dataclass(frozen=True)
class PerformanceStats:
    starting_balance: Decimal
    final_equity: Decimal
    return_pct: Decimal
    closed_trades: int
    win_rate: Decimal | None  # % of closed trades with a positive net P&L; None before the first
    max_drawdown_pct: Decimal
    fees_paid: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    trades: list[Trade]
    open_trades: list[Trade]

    def to_json(self, *, with_trades: bool = True) -> dict:
        q = Decimal("0.0001")
        out = {"starting_balance": _s(self.starting_balance), "final_equity": _s(self.final_equity),
               "return_pct": _s(self.return_pct.quantize(q)), "closed_trades": self.closed_trades,
               "win_rate": None if self.win_rate is None else _s(self.win_rate.quantize(q)),
               "max_drawdown_pct": _s(self.max_drawdown_pct.quantize(q)), "fees_paid": _s(self.fees_paid),
               "realized_pnl": _s(self.realized_pnl), "unrealized_pnl": _s(self.unrealized_pnl)}
        if with_trades:
            out["trades"] = [t.to_json() for t in self.trades]
            out["open_trades"] = [t.to_json() for t in self.open_trades]
        return out


def performance_stats(*, fills: Sequence[Fill], equity_curve: Sequence[tuple[int, Decimal]],
                      starting_balance: Decimal, final_equity: Decimal | None = None,
                      mark_price: Decimal | None = None) -> PerformanceStats:
    """Return %, win rate, closed trades, max drawdown, fees: the numbers a bot page shows.

    `equity_curve` = [(ts_ms, equity)] oldest first; `final_equity` defaults to its last point.
    """
    closed, open_lots = trades_from_fills(fills, mark_price)
    final = final_equity if final_equity is not None else (equity_curve[-1][1] if equity_curve else starting_balance)
    wins = sum(1 for t in closed if t.pnl > 0)
    return PerformanceStats(
        starting_balance=starting_balance, final_equity=final,
        return_pct=(final - starting_balance) / starting_balance * HUNDRED if starting_balance > 0 else ZERO,
        closed_trades=len(closed),
        win_rate=Decimal(wins) / Decimal(len(closed)) * HUNDRED if closed else None,
        max_drawdown_pct=max_drawdown_pct(equity_curve), fees_paid=sum((f.fee for f in fills), ZERO),
        realized_pnl=sum((t.pnl for t in closed), ZERO),
        unrealized_pnl=sum((t.pnl for t in open_lots), ZERO) if mark_price is not None else ZERO,
        trades=closed, open_trades=open_lots)


class Prefix(Sequence):
    """bars[:n] without copying (a backtest would otherwise copy O(N^2) bars)."""

    __slots__ = ("_bars", "_n")

    def __init__(self, bars: Sequence[Bar], n: int):
        self._bars, self._n = bars, n

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._bars[i] for i in range(*index.indices(self._n))]
        if index < 0:
            index += self._n
        if not 0 <= index < self._n:
            raise IndexError("bar index out of range")
        return self._bars[index]


@dataclass
class BacktestResult:
    strategy_id: str
    params: dict
    seed: int
    bars: int
    first_ts_ms: int | None
    last_ts_ms: int | None
    stats: PerformanceStats
    fills: list[Fill]
    rejects: list[Reject]
    equity_curve: list[tuple[int, Decimal]]
    wallet: Wallet
    open_orders: list[RestingOrder]
    halted: dict | None = None  # {"ts_ms", "code", "message"} when a circuit breaker stopped the run
    risk_refusals: dict[str, int] = field(default_factory=dict)

    # the headline numbers, flat
    @property
    def final_equity(self) -> Decimal:
        return self.stats.final_equity

    @property
    def return_pct(self) -> Decimal:
        return self.stats.return_pct

    @property
    def win_rate(self) -> Decimal | None:
        return self.stats.win_rate

    @property
    def closed_trades(self) -> int:
        return self.stats.closed_trades

    @property
    def max_drawdown_pct(self) -> Decimal:
        return self.stats.max_drawdown_pct

    @property
    def fees_paid(self) -> Decimal:
        return self.stats.fees_paid

    @property
    def trades(self) -> list[Trade]:
        return self.stats.trades

    def to_json(self) -> dict[str, Any]:
        reject_counts: dict[str, int] = {}
        for r in self.rejects:
            reject_counts[r.code] = reject_counts.get(r.code, 0) + 1
        return {
            "strategy": self.strategy_id, "params": self.params, "seed": self.seed, "bars": self.bars,
            "from": iso(self.first_ts_ms), "to": iso(self.last_ts_ms),
            **self.stats.to_json(),
            "fills": [f.to_json() for f in self.fills],
            "rejects": reject_counts,
            "equity_curve": [{"ts_ms": ts, "equity": _s(v)} for ts, v in self.equity_curve],
            "wallet": {"base": _s(self.wallet.base), "quote": _s(self.wallet.quote)},
            "open_orders": [o.to_json() for o in self.open_orders],
            "halted": self.halted,
        }


@dataclass
class _RiskTracker:
    """The RiskState a paper bot would have, kept with the paper tick's own risk memory and builder
    (risk.checks.memory_advance / state_build / memory_count_order), on the replay's clock."""

    limits: Limits
    mem_holder: dict = field(default_factory=dict)
    halted: bool = False
    cooldown_until_ms: int | None = None

    def roll(self, now_ms: int, eq: Decimal) -> None:
        memory_advance(self.mem_holder, now_ms=now_ms, equity=eq)

    def count_order(self) -> None:
        memory_count_order(self.mem_holder["risk"])

    def state(self, now_ms: int, eq: Decimal, wallet: Wallet, price: Decimal, open_orders: int) -> RiskState:
        built = state_build(self.mem_holder.get("risk") or {}, equity=eq, base=wallet.base, free_base=wallet.free_base,
                            price=price, now_ms=now_ms, open_orders=open_orders,
                            cooldown_until_ms=self.cooldown_until_ms)
        return replace(built, halted=self.halted)


def run_backtest(bars: Sequence[Bar], strategy_id: str, params: dict | None, starting_balance: Decimal,
                 rules: MarketRules | None = None, cfg: FillConfig | None = None, seed: int = 0, *,
                 limits: Limits | None = None) -> BacktestResult:
    """Replay `bars` (oldest first) through the engine starting with `starting_balance` quote.

    Raises ParamError for an unknown strategy / bad params, ValueError for a non-positive balance.
    """
    params = validate_params(strategy_id, params or {})
    if starting_balance <= 0:
        raise ValueError("starting balance must be positive")
    rules = rules or MarketRules()
    cfg = cfg or FillConfig()
    wallet = Wallet(quote=starting_balance)
    open_orders: list[RestingOrder] = []
    state: dict = {}
    fills: list[Fill] = []
    rejects: list[Reject] = []
    curve: list[tuple[int, Decimal]] = [(bars[0].ts_ms, starting_balance)] if bars else []
    tracker = _RiskTracker(limits) if limits is not None else None
    halted = None
    refusals: dict[str, int] = {}

    for n in range(1, len(bars)):
        nxt = bars[n]
        mark = bars[n - 1].close
        gate = None
        if tracker is not None:
            eq = equity(wallet, mark)
            tracker.roll(nxt.ts_ms, eq)
            breach = check_breakers(tracker.state(nxt.ts_ms, eq, wallet, mark, len(open_orders)), limits)
            if not breach.allowed and not tracker.halted:
                tracker.halted = True
                halted = {"ts_ms": nxt.ts_ms, "time": iso(nxt.ts_ms), "code": breach.code,
                          "message": breach.message}
                open_orders = []  # a halted bot's open orders are cancelled
                wallet = with_reservations(wallet, open_orders)
            if tracker.halted:
                curve.append((nxt.ts_ms, equity(wallet, nxt.open)))
                continue

            resting = len(open_orders)

            def gate(req: GateRequest, _eq=eq, _mark=mark, _ts=nxt.ts_ms, _oo=resting):
                rs = tracker.state(_ts, _eq, req.wallet, _mark, _oo)
                decision = check_order(OrderProposal(side=req.side, amount=req.amount, price=req.price,
                                                     reduces_position=req.reduces_position), rs, limits)
                if decision.allowed:
                    tracker.count_order()
                else:
                    refusals[decision.code] = refusals.get(decision.code, 0) + 1
                return decision

        result = evaluate(strategy_id=strategy_id, params=params, state=state, closed_bars=Prefix(bars, n),
                          market=Market(next_open=nxt.open, ts_ms=nxt.ts_ms), wallet=wallet,
                          open_orders=open_orders, rules=rules, cfg=cfg, seed=seed, step_key=bars[n - 1].ts_ms,
                          gate=gate)
        state, wallet, open_orders = result.state, result.wallet, result.open_orders
        fills.extend(result.fills)
        rejects.extend(result.rejects)
        curve.append((nxt.ts_ms, equity(wallet, nxt.open)))

    if bars:
        last = bars[-1]
        close_ms = last.ts_ms + (last.ts_ms - bars[-2].ts_ms if len(bars) > 1 else 0)
        if len(bars) > 1:
            curve.append((close_ms, equity(wallet, last.close)))
    mark_price = bars[-1].close if bars else None
    stats = performance_stats(fills=fills, equity_curve=curve, starting_balance=starting_balance,
                              mark_price=mark_price)
    return BacktestResult(strategy_id=strategy_id, params=params, seed=seed, bars=len(bars),
                          first_ts_ms=bars[0].ts_ms if bars else None, last_ts_ms=bars[-1].ts_ms if bars else None,
                          stats=stats, fills=fills, rejects=rejects, equity_curve=curve, wallet=wallet,
                          open_orders=open_orders, halted=halted, risk_refusals=refusals)
